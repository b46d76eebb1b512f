"""Smoke test: every benchmark in ``benchmarks/`` runs in its ``--quick`` form.

No timing is asserted (CI machines differ and are shared); each run must exit 0 and print
at least one JSON figure or table line.  One test per benchmark, so pytest-xdist spreads them.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.processes import CHROMIUM, REPO, in_ci

pytestmark = pytest.mark.slow

BENCHMARKS = sorted(path.stem for path in (REPO / "benchmarks").glob("*.py"))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_quick_form_runs(name: str) -> None:
    if name == "ui_load" and not CHROMIUM.exists():
        if in_ci():
            pytest.fail(f"{CHROMIUM} is missing on CI", pytrace=False)
        pytest.skip(f"{CHROMIUM} not installed; the UI benchmark needs it")
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / f"{name}.py"), "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines, f"{name} --quick printed nothing"
    figures = [line for line in lines if line.startswith("{")]
    for line in figures:
        assert isinstance(json.loads(line), dict)


def test_every_benchmark_has_a_quick_form() -> None:
    for name in BENCHMARKS:
        text = (REPO / "benchmarks" / f"{name}.py").read_text()
        assert '"--quick"' in text, f"benchmarks/{name}.py has no --quick"
