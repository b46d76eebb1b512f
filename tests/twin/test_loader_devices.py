"""Every file the CLI reads is refused unread when it is a device (issue 14, item 6).

``dctwin plan /dev/zero`` read the device to its end before the scenario loader's own check
(``is_fleet_file``), as did the sweep, fleet and plan-state readers: a MemoryError traceback,
or all the machine's memory.  The commands run in one child process whose address space is
limited (so a reader that does not stop fails fast instead of filling the machine).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

from tests.processes import REPO

ADDRESS_SPACE = 1_500_000_000
"""Address-space limit of the child [bytes]: the CLI's imports fit, /dev/zero read whole does
not."""

CHILD = """
import json, sys
from typer.testing import CliRunner
from twin.cli import app
results = []
for args in json.loads(sys.argv[1]):
    done = CliRunner().invoke(app, args)
    failure = done.exception
    if isinstance(failure, SystemExit):
        failure = None
    results.append({"args": args, "code": done.exit_code, "error": repr(failure),
                    "stderr": done.stderr[-400:]})
print(json.dumps(results))
"""


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def test_devices_are_refused_by_every_cli_reader(tmp_path: Path) -> None:
    scenario = REPO / "scenarios" / "edge-pod.yaml"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("base: /dev/zero\nhorizon: 2 h\nstep: 15 min\n")
    fleet = tmp_path / "fleet.yaml"
    fleet_text = (REPO / "scenarios" / "fleet-small.yaml").read_text()
    fleet.write_text(fleet_text.replace("scenario: edge-pod.yaml", "scenario: /dev/zero"))
    assert "/dev/zero" in fleet.read_text()
    cases = [
        ["plan", "/dev/zero"],
        ["contingency", "/dev/zero"],
        ["serve", "/dev/zero", "--port", "8799", "--state-dir", str(tmp_path / "state")],
        ["sweep", "/dev/zero", "--out", str(tmp_path / "a.zarr")],
        ["sweep", str(sweep), "--out", str(tmp_path / "b.zarr")],
        ["fleet", "plan", "/dev/zero"],
        ["fleet", "plan", str(fleet)],
        ["plan", str(scenario), "--horizon", "2h", "--state", "/dev/zero"],
    ]
    # this checkout's code, whatever the environment's editable install points at
    env = {**os.environ, "DCTWIN_TOKENS": "reader-token-000000001=read", "PYTHONPATH": str(REPO)}
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
        preexec_fn=_limited,
    )
    assert child.returncode == 0, child.stderr[-2000:]
    wrong = [
        result
        for result in json.loads(child.stdout.splitlines()[-1])
        if result["error"] != "None"
        or result["code"] != 2
        or "/dev/zero" not in result["stderr"]
        or "not a regular file" not in result["stderr"]
        or "Traceback" in result["stderr"]
    ]
    assert not wrong, json.dumps(wrong, indent=1)
