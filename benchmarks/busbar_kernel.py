"""Benchmark: the compiled busbar sweep against the vectorized NumPy sweep it replaced.

    .venv/bin/python benchmarks/busbar_kernel.py            # 1,000 busbars × 1,344 steps
    .venv/bin/python benchmarks/busbar_kernel.py --quick    # 200 busbars × 96 steps (smoke)

Both run in this process on the same input (ORv3: one rack per busbar, 8 taps, a broadcast
view of the rack's power over its taps, as ``physics.simulate`` calls it), best of
``--repeat`` runs each, back to back.  The reference is ``physics/power.py`` at revision
``--reference`` (the last one with the NumPy sweep), read with ``git show``; without git
the reference is skipped and only the kernel is timed.  Reported: both times, their ratio,
and the largest differences of tap voltage [V] and busbar loss [-, relative].
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REFERENCE = "f3f2ad4"
"""The last revision of ``physics/power.py`` with the vectorized NumPy sweep."""


def reference_module(revision: str, folder: Path) -> ModuleType | None:
    """``physics/power.py`` at ``revision`` imported from a copy (None without git)."""
    try:
        text = subprocess.run(
            ["git", "show", f"{revision}:physics/power.py"],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = folder / "reference_power.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("reference_power", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["reference_power"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def best_of(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Shortest wall time of ``repeat`` calls [s] and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 busbars × 96 steps")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reference", default=REFERENCE)
    args = parser.parse_args()
    from physics.power import busbar_load_flow

    busbars, steps, taps = (200, 96, 8) if args.quick else (1000, 1344, 8)
    rng = np.random.default_rng(17)
    bus_power = rng.uniform(20e3, 120e3, (steps, busbars))  # [W]
    power = np.broadcast_to((bus_power / taps)[..., None], (steps, busbars, taps))
    resistance = np.full((busbars, taps), 0.1e-3 / taps)  # [Ω]
    busbar_load_flow(48.0, resistance, power[:2])  # compile (or load the cached kernel)
    kernel_s, flow = best_of(lambda: busbar_load_flow(48.0, resistance, power), args.repeat)
    out: dict[str, Any] = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "busbars": busbars,
        "steps": steps,
        "taps": taps,
        "kernel_s": round(kernel_s, 4),
        "busbar_steps_per_s": round(busbars * steps / kernel_s),
    }
    with tempfile.TemporaryDirectory() as folder:
        reference = reference_module(args.reference, Path(folder))
        if reference is not None:
            numpy_s, old = best_of(
                lambda: reference.busbar_load_flow(48.0, resistance, power), args.repeat
            )
            out["numpy_s"] = round(numpy_s, 4)
            out["ratio"] = round(numpy_s / kernel_s, 2)
            out["max_voltage_difference_v"] = float(
                np.abs(flow.tap_voltage - old.tap_voltage).max()
            )
            out["max_loss_difference"] = float(np.abs(flow.loss / old.loss - 1.0).max())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
