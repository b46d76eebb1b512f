"""``dctwin capacity`` and ``dctwin contingency`` from the command line.

The first test runs the real entry point in a subprocess, like a user would (``--json`` prints
exactly one JSON object); the others run the commands in this process (Typer's CliRunner,
:func:`tests.helpers.dctwin_in_process`).
"""

from __future__ import annotations

import json

import pytest

from tests.helpers import SMALL_HALL, dctwin_in_process
from tests.processes import dctwin

SMALL = SMALL_HALL


def test_capacity_json() -> None:
    done = dctwin("capacity", SMALL, "--rack-type", "gpu-120", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)["racks"]
    assert data["count"] == 3 and data["verified"]
    assert data["added"] == ["A04", "A05", "A06"]
    first = data["binding"][0]
    assert (first["kind"], first["equipment"], first["simulated"]) == (
        "coil_capacity",
        "CRAH-1",
        True,
    )
    assert first["text"].startswith("+") and "CRAH-1" in first["text"]
    assert any("CRAH-1" in v for v in data["violations_next"])


def test_capacity_table_and_positions() -> None:
    done = dctwin_in_process(
        "capacity", SMALL, "--rack-type", "inference-40", "--positions", "B:7,B:8"
    )
    assert done.returncode == 0, done.stderr
    assert "verified by simulation: yes" in done.stdout
    assert "power shelf" in done.stdout and "BB-B" in done.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rack-type", "gpu-999"], "unknown rack type 'gpu-999'"),
        (["--rack-type", "gpu-120", "--positions", "A:1"], "position A:1 is occupied"),
        (["--battery", "--battery-hours", "0"], "--battery-hours: expected positive numbers"),
    ],
)
def test_capacity_bad_input(args: list[str], needle: str) -> None:
    done = dctwin_in_process("capacity", SMALL, *args)
    assert done.returncode == 2
    assert needle in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_battery_and_growth_json() -> None:
    done = dctwin_in_process(
        "capacity",
        SMALL,
        "--battery",
        "--battery-powers",
        "70,150",
        "--battery-hours",
        "4",
        "--growth",
        "--max-growth",
        "1.1",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    battery, growth = data["battery"], data["growth"]
    assert [(o["power_kw"], o["energy_kwh"]) for o in battery["options"]] == [
        (70, 280),
        (150, 600),
    ]
    for option in battery["options"]:
        assert option["verified"]
        assert option["annual_savings"] == pytest.approx(option["window_savings"] * 365.0)
        if option["payback_years"] is not None:
            assert option["payback_years"] == pytest.approx(
                option["capital"] / option["annual_savings"]
            )
    best = battery["best"]
    assert best is not None
    assert best["net_benefit"] == max(
        o["net_benefit"] for o in battery["options"] if o["annual_savings"] > 0
    )
    assert best["net_benefit"] > 0
    assert 1.0 < growth["factor"] < 1.1
    feasible = [s for s in growth["steps"] if s["feasible"]]
    assert all(s["peak_kw"] <= growth["peak_today_kw"] * (1 + 1e-6) for s in feasible)
    assert growth["limited_by"]


def test_contingency_json_and_table() -> None:
    done = dctwin_in_process("contingency", SMALL, "--json")
    assert done.returncode == 3, done.stderr  # some element fails
    data = json.loads(done.stdout)
    assert data["elements"] == 12 and data["failed"] == ["CRAH-1", "CRAH-2"]
    by_name = {r["element"]: r for r in data["results"]}
    assert by_name["feed A"]["passed"] and by_name["feed A"]["transient"]["ride_through_s"] > 10
    # the two-node zone transient puts CRAH-1's first inlet at the limit 2.5 s after the trip
    # (zone air 8 m³ per rack, rack mass coupled through the server airflow): a 2 s takeover
    # passes, the default 60 s does not
    table = dctwin_in_process("contingency", SMALL, "--crah-response", "2")
    assert table.returncode == 3  # CRAH-2's loss still overloads CRAH-1
    lines = table.stdout.splitlines()
    assert lines[0].startswith("N-1 study of Small AI hall over 96 steps of 15 min: 12 elements")
    assert lines[2].split()[:3] == ["element", "lost", "result"]
    assert lines[3].split() == ["[°C]", "[K]"]  # units under inlet max and margin
    crah1 = next(line for line in lines if line.startswith("CRAH-1"))
    assert "pass" in crah1
    crah2 = next(line for line in lines if line.startswith("CRAH-2"))
    assert "FAIL" in crah2 and "airflow" in crah2  # why it fails, beside the steady inlet
    shelves = [line for line in lines if line.startswith("shelf A")]
    assert shelves == [next(line for line in lines if line.startswith("shelf A01, A02, A03 (3)"))]
    assert "of each: 42.8 kW" in shelves[0]
    assert lines[-1].startswith("study took ") and lines[-1].endswith(" s")


def test_help_shows_no_bool_metavar_and_keeps_bracketed_units() -> None:
    done = dctwin_in_process("serve", "--help")
    assert done.returncode == 0
    assert "<bool>" not in done.stdout
    assert "--virtual-plant / --no-virtual-plant" in done.stdout
    assert "Re-plan period [min]" in done.stdout  # rich markup used to eat "[min]"


def test_progress_bars_draw_steps_and_stages(capsys: pytest.CaptureFixture[str]) -> None:
    from twin.cli.progress import ProgressBars

    with ProgressBars(enabled=True) as bars:
        sizes = bars.reporter("battery sizes co-planned")
        sizes("no battery", 1, 3)
        sizes("500 kWh / 250 kW", 2, 3)
        with bars.stage("co-planning"):
            pass
        sizes.finish()
    drawn = capsys.readouterr().err
    assert "battery sizes co-planned" in drawn and "2/2" in drawn
    assert "co-planning" in drawn and "1/1" in drawn
    with ProgressBars(enabled=False) as quiet:
        quiet.reporter("nothing")("x", 1, 1)
    assert capsys.readouterr().err == ""


def test_violation_steps_count_time_steps_not_equipment_steps() -> None:
    """A 672-step week with three CRAHs over their airflow says 672 steps, not 2016."""
    done = dctwin_in_process("contingency", "--json")
    data = json.loads(done.stdout)
    crah1 = next(r for r in data["results"] if r["element"] == "CRAH-1")
    airflow = next(v for v in crah1["violations"] if v.startswith("cooling-unit airflow"))
    assert "(672 steps, 2016 equipment-steps)" in airflow


def test_simulate_shows_its_stages_on_a_terminal() -> None:
    """On a terminal, ``simulate`` draws a spinner with the elapsed time per stage on stderr;
    piped, stderr keeps its plain lines only (stdout is the summary either way)."""
    import os
    import subprocess
    import sys
    import threading

    from tests.processes import REPO

    primary, secondary = os.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # read while the child writes: a full terminal buffer would block it
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # the terminal's other side is closed: all is read
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "twin.cli", "simulate", str(SMALL_HALL)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=secondary,
            timeout=300,
            check=False,
        )
    finally:
        os.close(secondary)
        reader.join(timeout=10)
        os.close(primary)
    drawn = b"".join(chunks)
    assert done.returncode == 0
    text = drawn.decode(errors="replace")
    assert "simulating" in text and "checking limits" in text
    assert "IT energy" in done.stdout.decode()
    piped = dctwin_in_process("simulate", SMALL_HALL)  # not a terminal: no stages drawn
    assert "checking limits" not in piped.stderr
