"""The compiled rack power chain against the vectorized models, and single-precision storage.

The compiled chain (converters, busbar load flow, shelves in one pass) sweeps a block of
busbars until all of them converged, the vectorized load flow each busbar until it had: both
stop on a voltage step below ``tolerance · V_s`` with ``tolerance = 1e-9``, so with the
contraction ``ρ = R·P/V²`` below 1/2 their voltages differ by less than ``2e-9 · V_s``
(see tests/physics/test_busbar_kernel.py); powers and losses follow to a relative 1e-9.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import physics
from physics.electrical import Topology, electrical_chain
from physics.electrical.chain import RackLosses, _compiled_busbars, _losses
from physics.facility import Facility
from physics.kernels.chain import rack_losses
from physics.schedule import as_operated_schedule
from physics.simulate import simulate
from physics.warnings import CurveRangeWarning
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict
from twin.scenario.synthetic import synthetic_hall

pytestmark = pytest.mark.xdist_group("chain-kernel")  # module fixtures built once


@pytest.fixture(scope="module")
def hall_day() -> tuple[Facility, xr.Dataset]:
    """A synthetic ORv3 hall of 150 racks (not a multiple of the kernel's block of 64), a day."""
    scenario = scenario_from_dict(synthetic_hall(150, days=1, step="15 min"))
    return compile_facility(scenario), scenario_series(scenario)


@pytest.fixture(scope="module")
def hall(hall_day: tuple[Facility, xr.Dataset]) -> Facility:
    return hall_day[0]


def _both(facility: Facility, power: np.ndarray) -> tuple[object, object, list[str], list[str]]:
    topology = Topology(facility)
    messages = []
    for compiled in (True, False):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = electrical_chain(facility, topology, power, compiled=compiled)
        messages.append(sorted(str(w.category.__name__) for w in caught))
        if compiled:
            fast = result
        else:
            slow = result
    return fast, slow, messages[0], messages[1]


def test_compiled_chain_matches_vectorized_models(hall: Facility) -> None:
    assert Topology(hall).rack_per_busbar
    rng = np.random.default_rng(3)
    # 0 to 130 % of design power: idle racks, light shelves and overloaded converters
    power = hall.racks.design_power * rng.uniform(0.0, 1.3, (40, hall.racks.count))
    power[0, :5] = 0.0
    fast, slow, fast_warnings, slow_warnings = _both(hall, power)
    assert fast_warnings == slow_warnings  # the same clamped-curve warnings, one per curve
    assert "CurveRangeWarning" in fast_warnings
    for name in fast.__dataclass_fields__:
        got = np.asarray(getattr(fast, name), dtype=float)
        want = np.asarray(getattr(slow, name), dtype=float)
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=name)
    assert np.abs(fast.busbar_min_voltage - slow.busbar_min_voltage).max() < 2e-9 * 48.0
    assert np.array_equal(fast.rectifiers_active, slow.rectifiers_active)
    assert np.array_equal(fast.shelf_overloaded, slow.shelf_overloaded)


def test_compiled_chain_flags_collapse_like_the_load_flow(hall: Facility) -> None:
    power = np.tile(hall.racks.design_power * 0.5, (3, 1))
    power[1, 7] = 1e9  # far past V²/(4R): no positive solution on busbar 7 at step 1
    fast, slow, _, _ = _both(hall, power)
    assert fast.collapsed[1, 7] and slow.collapsed[1, 7]
    assert np.count_nonzero(fast.collapsed) == 1
    assert np.isnan(fast.busbar_min_voltage[1, 7]) and np.isnan(fast.busbar_loss[1, 7])
    np.testing.assert_allclose(fast.rack_loss, slow.rack_loss, rtol=1e-9)
    np.testing.assert_allclose(fast.ups_input, slow.ups_input, rtol=1e-9)
    power[2, 3] = -1.0
    with pytest.raises(ValueError, match=">= 0"):
        electrical_chain(hall, Topology(hall), power)


def test_compiled_losses_equal_the_numpy_losses_bit_for_bit(hall: Facility) -> None:
    """The one-pass losses (``rack_losses``) against the NumPy formulas on the same compiled
    chain: idle racks, a collapsed busbar (NaN loss and shelf output) and, set by hand,
    infinite losses (``nan_to_num``'s largest double) give the same bits."""
    topology = Topology(hall)
    rng = np.random.default_rng(5)
    power = hall.racks.design_power * rng.uniform(0.0, 1.3, (30, hall.racks.count))
    power[0, :5] = 0.0
    power[1, 7] = 1e9  # collapses busbar 7 at step 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveRangeWarning)
        chain = _compiled_busbars(hall, topology, power)
    assert chain.collapsed[1, 7] and chain.losses is not None
    chain.loss[2, 9], chain.loss[3, 9] = np.inf, -np.inf
    fast = RackLosses(
        *rack_losses(
            power,
            chain.bus_power,
            chain.loss,
            chain.rectifier_input,
            chain.source_current,
            hall.busbars.nominal_voltage,
        )
    )
    slow = _losses(hall, topology, power, chain)
    for name in fast.__dataclass_fields__:
        got, want = getattr(fast, name), getattr(slow, name)
        assert got.flags.c_contiguous, name
        assert np.array_equal(got, want, equal_nan=True), name
        assert np.array_equal(np.signbit(got), np.signbit(want)), name
    assert np.isnan(fast.shelf_output[1, 7]) and fast.finite_busbar_loss[1, 7] == 0.0
    assert fast.finite_busbar_loss[2, 9] == np.finfo(np.float64).max
    assert fast.finite_busbar_loss[3, 9] == -np.finfo(np.float64).max


def test_single_precision_storage_error_is_bounded(hall_day: tuple[Facility, xr.Dataset]) -> None:
    hall, series = hall_day
    schedule = as_operated_schedule(hall, series)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CurveRangeWarning)
        single = simulate(hall, schedule, series, precision="single")
        double = simulate(hall, schedule, series)
    rounding = 2.0**-24  # float32 round-to-nearest, relative
    for name, variable in single.data_vars.items():
        reference = double[name]
        if variable.dtype == bool:  # flags: 0./1. in double precision
            np.testing.assert_array_equal(variable.values, reference.values == 1.0)
        elif variable.dtype == np.float32:
            assert set(variable.dims) & {"rack", "busbar"}, name
            error = np.abs(variable.values.astype(float) - reference.values)
            assert np.all(error <= rounding * np.abs(reference.values)), name
        else:  # per-step series, reductions over racks and the other equipment: identical
            assert variable.dtype == reference.dtype, name
            np.testing.assert_array_equal(variable.values, reference.values, err_msg=name)
    assert single["busbar_collapsed"].dtype == bool
    assert single["inlet_temperature"].dtype == np.float32
    assert double["inlet_temperature"].dtype == np.float64
    with pytest.raises(ValueError, match="precision"):
        simulate(hall, schedule, series, precision="half")


@pytest.mark.slow
@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes read-only folders"
)
def test_kernels_compile_without_a_writable_cache(tmp_path: Path) -> None:
    """A read-only copy of ``physics`` and no writable home: the kernels compile uncached."""
    copy = tmp_path / "ro"
    shutil.copytree(
        Path(physics.__file__).parent,
        copy / "physics",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for folder in [copy, *(p for p in copy.rglob("*") if p.is_dir())]:
        folder.chmod(0o555)
    code = (
        "import numpy as np\n"
        "from physics.power import busbar_load_flow\n"
        "flow = busbar_load_flow(48.0, np.full(8, 1e-5), np.full(8, 1e3))\n"
        "print(float(flow.min_voltage))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(copy), "HOME": str(copy)}
    env.pop("NUMBA_CACHE_DIR", None)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
        )
    finally:
        for folder in [copy, *(p for p in copy.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert 47.0 < float(done.stdout) < 48.0


_LOAD_A_KERNEL = (
    "import sys\n"
    "import numpy as np\n"
    "from physics.power import busbar_load_flow\n"
    "from physics.kernels.busbar import _sweep_kernel\n"
    "flow = busbar_load_flow(48.0, np.full((2, 8), 1e-5), np.linspace(1e3, 2e3, 16)"
    ".reshape(2, 8))\n"
    "print(sum(_sweep_kernel.stats.cache_hits.values()), 'numba.np.linalg' in sys.modules,"
    " np.asarray(flow.min_voltage).tobytes().hex())\n"
)
"""Run in a fresh process: prints the kernel's cache hits, whether Numba's context refresh
ran (it imports ``numba.np.linalg``) and the result's bytes."""


def _fresh_processes(tmp_path: Path, prefixes: tuple[str, ...]) -> list[list[str]]:
    """:data:`_LOAD_A_KERNEL` after each prefix, one fresh process each, in turn, on a copy of
    ``physics`` with its own (initially empty) Numba cache; each process's printed fields."""
    shutil.copytree(
        Path(physics.__file__).parent,
        tmp_path / "physics",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    env.pop("NUMBA_CACHE_DIR", None)
    printed = []
    for prefix in prefixes:
        done = subprocess.run(
            [sys.executable, "-c", prefix + _LOAD_A_KERNEL],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        printed.append(done.stdout.split())
    return printed


@pytest.mark.slow
def test_cached_kernels_load_without_refreshing_numbas_context(tmp_path: Path) -> None:
    """A fresh process loads a cached kernel without Numba's target-context refresh (which
    imports ``numba.np.linalg`` among its built-in registries), and gets the same result
    bit for bit as the process that compiled it."""
    compiled, loaded = _fresh_processes(tmp_path, ("", ""))
    assert compiled[:2] == ["0", "True"]  # compiled: the compiler refreshed the context
    assert loaded[:2] == ["1", "False"]  # loaded from the cache, no refresh
    assert loaded[2] == compiled[2]


@pytest.mark.slow
def test_kernels_load_the_usual_way_when_numbas_private_cache_api_moves(tmp_path: Path) -> None:
    """A Numba whose cache no longer has the two private methods the lean loading calls (as
    a later version might): the kernel loads through Numba's own ``load_overload`` (with the
    context refresh), from the cache, with the same result bit for bit."""
    moved = (
        "from numba.core import caching\n"
        "caching.Cache._load_v2 = caching.Cache._load_overload\n"
        "del caching.Cache._load_overload\n"
        "def _load(self, sig, context):\n"
        "    context.refresh()\n"
        "    return self._load_v2(sig, context)\n"
        "caching.Cache.load_overload = _load\n"
    )
    compiled, loaded = _fresh_processes(tmp_path, ("", moved))
    assert compiled[0] == "0"
    assert loaded[:2] == ["1", "True"]  # from the cache, through Numba's own refresh
    assert loaded[2] == compiled[2]
