"""The scenario reference stays current; replay_from has one meaning; ignored fields are refused.

``docs/scenario-reference.md`` is the output of ``dctwin schema --markdown``: a test fails when
the schema changed and the file was not regenerated.  A CPU trace says where its first row sits
(``first_row_at``) and ``replay_from`` shifts it like any other source, so a trace can no longer
put January's rows into a July window silently.  Fields a section would ignore are refused.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from twin.cli import app
from twin.data.series import scenario_series
from twin.data.validation import SeriesError
from twin.scenario.loader import ScenarioError, json_schema, scenario_from_dict
from twin.scenario.reference import scenario_reference

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "docs" / "scenario-reference.md"
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))


@pytest.fixture(scope="module")
def demo() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "scenarios" / "demo-hall.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_reference_file_is_current() -> None:
    """Regenerate with: dctwin schema --markdown > docs/scenario-reference.md"""
    result = CliRunner().invoke(app, ["schema", "--markdown"])
    assert result.exit_code == 0, result.output
    assert result.output == scenario_reference(SCENARIOS)
    assert REFERENCE.read_text(encoding="utf-8") == result.output, (
        "docs/scenario-reference.md is stale: run "
        "`dctwin schema --markdown > docs/scenario-reference.md`"
    )


def test_reference_lists_every_field_with_default_and_example() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    schema = json_schema()
    models = [schema, *schema["$defs"].values()]
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split(" | ")]
        if len(cells) == 6 and cells[0].startswith("`"):
            rows.setdefault(cells[0].strip("`"), []).append(cells)
    for model in models:
        for name in model["properties"]:
            assert name in rows, f"{model['title']}.{name} is missing from the reference"
    for name, found in rows.items():
        for _, _, unit, default, example, description in found:
            assert default != "–" or example == "see its section", name
            assert example != "–", f"{name}: no example"
            assert description, name
            if re.search(r"\[(k?W|kWh|°C|K)\]", description):
                assert unit != "–", f"{name}: description gives a unit the column lacks"


def test_reference_gives_units_and_documented_defaults() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    assert "| `design_power` | quantity | kW | **required** | `120 kW` |" in text
    assert "| `step` | duration | – | `15 min` | `15 min` | Time step. |" in text
    assert "(design_power − idle power) × (1 − fan_fraction)" in text  # default max_power


def _trace(tmp_path: Path, rows: int = 72) -> Path:
    path = tmp_path / "trace.csv"
    values = np.arange(rows) / (rows - 1)
    path.write_text(
        ",cpu_load\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values)), encoding="utf-8"
    )
    return path


def _with_series(demo: dict[str, Any], *sources: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(demo)
    data["series"] = [{"generate": "demo"}, *sources]
    return data


def _replayed_trace(
    demo: dict[str, Any], tmp_path: Path, replay_from: str, days: int, **more: Any
) -> dict[str, Any]:
    """The demo over ``days`` with :func:`_trace` (row 0 at 2023-01-01 00:00 UTC) replayed
    from ``replay_from``, and ``more`` source fields."""
    trace = {
        "file": str(_trace(tmp_path)),
        "format": "cpu_trace",
        "first_row_at": "2023-01-01T00:00:00Z",
        "replay_from": replay_from,
        **more,
    }
    data = _with_series(demo, trace)
    data["simulation"]["duration"] = f"{days} d"
    return data


def _problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        scenario_from_dict(data)
    return caught.value.problems


def test_cpu_trace_without_first_row_is_refused(demo: dict[str, Any], tmp_path: Path) -> None:
    trace = {"file": str(_trace(tmp_path)), "format": "cpu_trace"}
    (problem,) = _problems(_with_series(demo, trace))
    assert "series[1].first_row_at" in problem
    assert "required with format: cpu_trace" in problem
    replayed = {**trace, "replay_from": "2023-01-02T00:00:00Z"}  # the old "row 0 here" meaning
    (problem,) = _problems(_with_series(demo, replayed))
    assert "first_row_at" in problem and "no timestamps" in problem


def test_cpu_trace_replays_like_every_source(demo: dict[str, Any], tmp_path: Path) -> None:
    """Row i sits at first_row_at + i h; replay_from moves that instant to the window start."""
    data = _replayed_trace(demo, tmp_path, "2023-01-02T00:00:00Z", days=2)
    series = scenario_series(scenario_from_dict(data), tmp_path)
    load = series["cpu_load"].values
    assert load[0] == pytest.approx(24 / 71)  # row 24, not row 0
    assert load[4] == pytest.approx(25 / 71)  # one hour later (15-min steps)


def test_a_replayed_source_repeats_by_whole_days_only_when_asked(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    """A 3-day trace replayed over 5 days: refused as outside the data, unless ``repeat``, which
    starts it again after its 3 days (the live window of a fleet needs 9 days of a 7-day demo
    file); ``repeat`` without ``replay_from`` is refused."""
    data = _replayed_trace(demo, tmp_path, "2023-01-01T00:00:00Z", days=5)
    with pytest.raises(SeriesError, match="outside"):
        scenario_series(scenario_from_dict(data), tmp_path)
    data = _replayed_trace(demo, tmp_path, "2023-01-01T00:00:00Z", days=5, repeat=True)
    load = scenario_series(scenario_from_dict(data), tmp_path)["cpu_load"].values
    day = 96  # steps of 15 min
    assert load.size == 5 * day and not np.isnan(load).any()
    assert np.array_equal(load[3 * day : 5 * day], load[: 2 * day])
    assert load[3 * day - 4] == pytest.approx(71 / 71) and load[3 * day] == pytest.approx(0.0)
    (problem,) = _problems(_with_series(demo, {"zone": "US-TEX-ERCO", "repeat": True}))
    assert "series[1].repeat" in problem and "replay_from" in problem


def test_a_replay_start_outside_the_data_names_the_datas_own_span(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    """The trace runs 72 h from 1 Jan 2023: replaying it from 2099 is refused naming that
    span (a hostile pass, 7 Dec: the message named the span shifted back by 76 years)."""
    data = _replayed_trace(demo, tmp_path, "2099-01-01T00:00:00Z", days=2)
    with pytest.raises(SeriesError) as caught:
        scenario_series(scenario_from_dict(data), tmp_path)
    message = str(caught.value)
    assert "replay_from 2099-01-01T00:00:00+00:00 is outside the source's data" in message
    assert "from 2023-01-01T00:00:00+00:00 to 2023-01-03T23:00:00+00:00" in message


@pytest.mark.parametrize(
    ("source", "field", "reason"),
    [
        ({"zone": "US-TEX-ERCO", "first_row_at": "2023-01-01T00:00:00Z"}, "first_row_at", "only"),
        ({"constant": 1.0, "variable": "x", "replay_from": "2023-01-01T00:00Z"}, "replay_from", ""),
        ({"generate": "demo", "step": "1 h"}, "step", "is for values"),
        ({"zone": "US-TEX-ERCO", "seed": 3}, "seed", "is for generate"),
        ({"file": "x.csv", "data_dir": "data"}, "data_dir", "is for zone"),
        ({"file": "x.csv", "year": 2023}, "year", "is for zone, epw file"),
    ],
)
def test_series_fields_that_would_be_ignored_are_refused(
    demo: dict[str, Any], source: dict[str, Any], field: str, reason: str
) -> None:
    (problem,) = _problems(_with_series(demo, source))
    assert f"series[1].{field}" in problem
    assert reason in problem


@pytest.mark.parametrize(
    ("index", "change", "field", "reason"),
    [
        (0, {"energy": "10 kWh"}, "energy", "only for tier 3"),
        (0, {"max_power": "50 kW"}, "max_power", "only for tier 3"),
        (1, {"sla": "soft"}, "sla", "only for tier 3"),
        (0, {"max_delay": "1 h"}, "max_delay", "only for tier 2"),
        (2, {"profile_scale": 0.5}, "profile_scale", "only for tier 1/2"),
        (2, {"max_delay": "1 h"}, "max_delay", "only for tier 1/2"),
    ],
)
def test_workload_fields_that_would_be_ignored_are_refused(
    demo: dict[str, Any], index: int, change: dict[str, Any], field: str, reason: str
) -> None:
    data = copy.deepcopy(demo)
    data["workloads"][index].update(change)
    (problem,) = _problems(data)
    assert f"workloads[{index}].{field}" in problem
    assert reason in problem and "ignore" in problem
