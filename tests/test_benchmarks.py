"""Smoke test: every benchmark in ``benchmarks/`` runs in its ``--quick`` form.

No timing is asserted (CI machines differ and are shared); each run must exit 0 and print
at least one JSON figure or table line.  One test per benchmark, so pytest-xdist spreads them.

Each runs as ``python benchmarks/NAME.py --quick`` would, but in the test's own process
(:func:`runpy.run_path` as ``__main__``, with that ``sys.argv``): a fresh interpreter would
spend most of a quick run importing NumPy, xarray, Pyomo, Dash and loading the Numba kernels
again, which the pytest worker has already done.  The benchmarks that measure a fresh
process (peak memory, start-up) still start their own subprocesses, as they do from a shell.
"""

from __future__ import annotations

import json
import runpy
import sys

import pytest

from tests.processes import CHROMIUM, REPO, in_ci

pytestmark = pytest.mark.slow

BENCHMARKS = sorted(path.stem for path in (REPO / "benchmarks").glob("*.py"))


def _run_as_main(name: str) -> int:
    """Run ``benchmarks/NAME.py --quick`` as ``__main__`` in this process; its exit code.

    ``sys.argv`` and ``sys.path`` (which the scripts extend) are restored afterwards.
    """
    script = REPO / "benchmarks" / f"{name}.py"
    argv, path = sys.argv, list(sys.path)
    sys.argv = [str(script), "--quick"]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = argv
        sys.path[:] = path
    return 0


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_quick_form_runs(name: str, capfd: pytest.CaptureFixture[str]) -> None:
    if name == "ui_load" and not CHROMIUM.exists():
        if in_ci():
            pytest.fail(f"{CHROMIUM} is missing on CI", pytrace=False)
        pytest.skip(f"{CHROMIUM} not installed; the UI benchmark needs it")
    code = _run_as_main(name)
    out, err = capfd.readouterr()
    assert code == 0, err[-3000:]
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, f"{name} --quick printed nothing"
    figures = [line for line in lines if line.startswith("{")]
    for line in figures:
        assert isinstance(json.loads(line), dict)


def test_every_benchmark_has_a_quick_form() -> None:
    for name in BENCHMARKS:
        text = (REPO / "benchmarks" / f"{name}.py").read_text()
        assert '"--quick"' in text, f"benchmarks/{name}.py has no --quick"
