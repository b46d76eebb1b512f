"""Air path: abstract heat-flow recirculation model, fans, indices, transients."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.integrate import solve_ivp

from physics.airflow import (
    AirPath,
    heat_capacity_flow,
    layout_recirculation,
    outlet_temperature,
    rack_cooling_index,
    room_heat_up,
    server_fan_power,
    supply_heat_index,
    time_to_limit,
    time_to_rise,
    two_node_heat_up,
)


def test_single_node_matches_tang_heat_flow_model() -> None:
    """Tang, Gupta, Varsamopoulos (2006/2007), abstract heat-flow model, single node.

    0.8 m³/s, recirculation fraction 0.1, 10 kW: ``D = (K − aK)⁻¹ − K⁻¹ = a/(K(1−a))`` with
    ``K = ρ·c_p·V̇ = 1.2041·1006·0.8 = 969.06 W/K`` gives D = 1.1466e-4 K/W and an inlet rise
    of 1.147 K.  Tolerance 5e-4 relative: the reference figures are given to 5 and 4
    significant digits.
    """
    path = AirPath(heat_capacity_flow([0.8]), sp.csr_matrix([[0.1]]))
    d = path.influence_matrix()[0, 0]
    assert d == pytest.approx(1.1466e-4, rel=5e-4)
    rise = path.inlet_temperature([20.0], [10_000.0])[0] - 20.0
    assert rise == pytest.approx(1.147, rel=5e-4)
    # and the exact closed form, to machine precision
    k = 1.2041 * 1006 * 0.8
    assert d == pytest.approx(0.1 / (k * 0.9), rel=1e-12)


def _brute_force_inlets(
    fractions: np.ndarray, airflow: np.ndarray, supply: np.ndarray, heat: np.ndarray
) -> np.ndarray:
    """Mix air stream by stream with explicit loops until the inlet temperatures settle."""
    k = 1.2041 * 1006 * airflow
    n = len(k)
    inlet = supply.copy()
    for _ in range(10_000):
        outlet = [inlet[i] + heat[i] / k[i] for i in range(n)]
        new = np.empty(n)
        for j in range(n):
            recirculated = sum(fractions[i, j] * k[i] for i in range(n))
            mix = sum(fractions[i, j] * k[i] * outlet[i] for i in range(n))
            new[j] = (mix + (k[j] - recirculated) * supply[j]) / k[j]
        if np.max(np.abs(new - inlet)) < 1e-13:
            return new
        inlet = new
    raise AssertionError("brute-force mixing did not converge")


def test_multi_rack_layout_agrees_with_brute_force_mixing() -> None:
    """Eq. (1) with a generated two-row layout equals stream-by-stream mixing to 1e-10 K."""
    rows = np.array(["A"] * 6 + ["B"] * 5)
    positions = np.array([1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5])
    fractions = layout_recirculation(
        rows,
        positions,
        self_fraction=0.03,
        neighbor_fraction=0.05,
        decay=0.6,
        reach=2,
        end_of_row_fraction=0.04,
    )
    rng = np.random.default_rng(1)
    airflow = rng.uniform(0.5, 3.0, rows.size)
    heat = rng.uniform(5e3, 40e3, rows.size)
    supply = np.where(rows == "A", 18.0, 20.5)  # two cooling units
    path = AirPath(heat_capacity_flow(airflow), fractions)
    fast = path.inlet_temperature(supply, heat)
    slow = _brute_force_inlets(fractions.toarray(), airflow, supply, heat)
    np.testing.assert_allclose(fast, slow, atol=1e-10)
    # the explicit linear form T_in = W·T_sup + D·P gives the same answer
    linear = path.mixing_matrix() @ supply + path.influence_matrix() @ heat
    np.testing.assert_allclose(linear, fast, atol=1e-10)
    np.testing.assert_allclose(path.mixing_matrix().sum(axis=1), 1.0, atol=1e-12)


def test_solve_with_many_equal_rows_equals_a_dense_solve() -> None:
    """Many rows of equal length (one batched inverse per size) and rows of other lengths:
    the per-row inverses, taken from the sparse entries, solve ``M·x = rhs`` as a dense solve
    of the whole hall does (to 1e-9 relative)."""
    lengths = [20] * 40 + [7, 7, 3, 1]
    rows = np.concatenate([[f"R{i}"] * n for i, n in enumerate(lengths)])
    positions = np.concatenate([np.arange(1, n + 1) for n in lengths])
    order = np.random.default_rng(3).permutation(rows.size)  # racks not listed by row
    rows, positions = rows[order], positions[order]
    fractions = layout_recirculation(
        rows,
        positions,
        self_fraction=0.03,
        neighbor_fraction=0.05,
        decay=0.6,
        reach=3,
        end_of_row_fraction=0.04,
    )
    rng = np.random.default_rng(4)
    capacity = heat_capacity_flow(rng.uniform(0.5, 3.0, rows.size))
    path = AirPath(capacity, fractions)
    rhs = rng.normal(size=(rows.size, 3))
    dense = np.diag(capacity) - fractions.toarray().T * capacity[np.newaxis, :]
    np.testing.assert_allclose(path.solve(rhs), np.linalg.solve(dense, rhs), rtol=1e-9)
    assert {inverse.shape[1] for _, inverse in path._blocks} == {1, 3, 7, 20}


def test_solve_on_racks_listed_by_row_is_the_gathered_solve_bit_for_bit() -> None:
    """Racks listed row after row: each group of rows is solved in place (views of the
    right-hand side), the same bits as gathering and scattering its racks; a right-hand
    side that is not C-contiguous, and a vector, give the same too."""
    lengths = [20] * 12 + [7, 7, 3]
    rows = np.concatenate([[f"R{i:02d}"] * n for i, n in enumerate(lengths)])
    positions = np.concatenate([np.arange(1, n + 1) for n in lengths])
    fractions = layout_recirculation(
        rows,
        positions,
        self_fraction=0.03,
        neighbor_fraction=0.05,
        decay=0.6,
        reach=3,
        end_of_row_fraction=0.04,
    )
    rng = np.random.default_rng(6)
    path = AirPath(heat_capacity_flow(rng.uniform(0.5, 3.0, rows.size)), fractions)
    assert all(span is not None for span in path._spans)
    gathered = AirPath(path.capacity_flow, fractions)
    gathered.__dict__["_spans"] = [None] * len(path._blocks)  # the gather/scatter path
    rhs = rng.normal(size=(rows.size, 50))
    for columns in (rhs, np.asfortranarray(rhs), rhs[:, 7]):
        assert np.array_equal(path.solve(columns), gathered.solve(columns))
    dense = np.linalg.solve(path._operator.toarray(), rhs)
    np.testing.assert_allclose(path.solve(rhs), dense, rtol=1e-9)


def test_layout_recirculation_structure() -> None:
    """Neighbour fractions decay with distance, stop at reach, never cross rows."""
    rows = np.array(["A", "A", "A", "A", "A", "B"])
    positions = np.array([1, 2, 3, 4, 5, 1])
    a = layout_recirculation(
        rows,
        positions,
        self_fraction=0.02,
        neighbor_fraction=0.04,
        decay=0.5,
        reach=2,
        end_of_row_fraction=0.05,
    ).toarray()
    assert a[0, 1] == pytest.approx(0.04)
    assert a[0, 2] == pytest.approx(0.02)
    assert a[0, 3] == 0.0  # beyond reach
    assert a[2, 2] == pytest.approx(0.02)  # middle rack: self only
    assert a[0, 0] == pytest.approx(0.07)  # end of row: self + wrap-around
    assert a[5, 5] == pytest.approx(0.07)  # a one-rack row is both ends once
    assert a[4, 5] == 0.0 and a[5, 4] == 0.0


def test_invalid_recirculation_is_rejected() -> None:
    """More recirculated inflow than a rack's own airflow has no physical meaning."""
    with pytest.raises(ValueError, match="more recirculated air"):
        AirPath(heat_capacity_flow([1.0, 0.1]), sp.csr_matrix([[0.0, 0.5], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="sends"):
        AirPath(heat_capacity_flow([1.0, 1.0]), sp.csr_matrix([[0.6, 0.6], [0.0, 0.0]]))


@st.composite
def _layouts(draw: st.DrawFn) -> tuple[AirPath, np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 8))
    rows = np.array(draw(st.lists(st.sampled_from("AB"), min_size=n, max_size=n)))
    positions = np.arange(n)
    fractions = layout_recirculation(
        rows,
        positions,
        self_fraction=draw(st.floats(0, 0.05)),
        neighbor_fraction=draw(st.floats(0, 0.08)),
        decay=draw(st.floats(0, 1)),
        reach=draw(st.integers(0, 3)),
        end_of_row_fraction=draw(st.floats(0, 0.05)),
    )
    airflow = np.array(draw(st.lists(st.floats(0.5, 3.0), min_size=n, max_size=n)))
    capacity = heat_capacity_flow(airflow)
    # a rack taking in more of its neighbours' outlet air than its own airflow is no layout:
    # AirPath refuses it (test_invalid_recirculation_is_rejected); the properties are of the rest
    assume(bool(np.all(capacity - fractions.T @ capacity > 0)))
    heat = np.array(draw(st.lists(st.floats(0, 50e3), min_size=n, max_size=n)))
    supply = np.array(draw(st.lists(st.floats(12, 27), min_size=n, max_size=n)))
    return AirPath(capacity, fractions), heat, supply


@settings(max_examples=60, deadline=None)
@given(_layouts(), st.integers(0, 7), st.floats(0.01, 5))
def test_inlet_properties(
    case: tuple[AirPath, np.ndarray, np.ndarray], which: int, increase: float
) -> None:
    """Inlets never fall below the coldest supply; warmer supply never cools any inlet."""
    path, heat, supply = case
    inlet = path.inlet_temperature(supply, heat)
    assert np.all(inlet >= supply.min() - 1e-9)
    warmer = supply.copy()
    warmer[which % supply.size] += increase
    assert np.all(path.inlet_temperature(warmer, heat) >= inlet - 1e-9)
    # uniform supply: inlet >= supply at every rack
    uniform = np.full_like(supply, 18.0)
    assert np.all(path.inlet_temperature(uniform, heat) >= 18.0 - 1e-9)


def test_time_axis_broadcast_equals_per_step() -> None:
    """(R, T) inputs give the same answer as one call per step."""
    rows = np.array(["A"] * 4)
    path = AirPath(heat_capacity_flow(np.full(4, 1.5)), layout_recirculation(rows, np.arange(4)))
    heat = np.random.default_rng(0).uniform(0, 30e3, (4, 7))
    supply = np.linspace(15, 21, 7)[np.newaxis, :].repeat(4, axis=0)
    both = path.inlet_temperature(supply, heat)
    for t in range(7):
        np.testing.assert_allclose(both[:, t], path.inlet_temperature(supply[:, t], heat[:, t]))


def test_outlet_temperature_energy_balance() -> None:
    """EnergyPlus ITE example: 50 kW into 5 m³/s from 15 °C leaves at 23.26 °C."""
    assert outlet_temperature(15.0, 50_000.0, heat_capacity_flow(5.0)) == pytest.approx(
        23.256, abs=5e-3
    )


def test_server_fans_follow_affinity_above_knee() -> None:
    """Flat below the knee; 10 % faster (slope 0.05/K, 2 K above) costs 1.1³ = 1.331×."""
    power = server_fan_power(1000.0, np.array([20.0, 27.0, 29.0]), 27.0, 0.05)
    np.testing.assert_allclose(power, [1000.0, 1000.0, 1331.0])


def test_server_fan_power_is_the_affinity_formula_bit_for_bit() -> None:
    """Raising only above the knee (f > 1) changes no bit of ``P·f^exponent``: per-rack
    parameters broadcast over steps, both exponents, NaN inlets, scalars."""
    rng = np.random.default_rng(0)
    inlet = rng.uniform(15.0, 40.0, (50, 300))
    inlet[0, :3] = np.nan
    nominal, knee = rng.uniform(100.0, 900.0, 300), rng.uniform(25.0, 30.0, 300)
    slope, exponent = rng.uniform(0.02, 0.1, 300), rng.choice([1.0, 3.0], 300)
    fraction = 1.0 + slope * np.maximum(inlet - knee, 0.0)
    expected = nominal * fraction**exponent
    got = server_fan_power(nominal, inlet, knee, slope, exponent)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    assert np.isnan(got[0, :3]).all() and (got[1:] > nominal).any()
    assert float(server_fan_power(500.0, 31.0, 27.0, 0.04)) == 500.0 * 1.16**3
    assert float(server_fan_power(500.0, 20.0, 27.0, 0.04)) == 500.0


def test_rack_cooling_index_and_supply_heat_index() -> None:
    """RCI (Herrlin 2005): one of four racks 2.5 K over a 5 K allowable band → 87.5 %."""
    hi, lo = rack_cooling_index(
        np.array([20.0, 22.0, 25.0, 29.5]), recommended=(18, 27), allowable=(15, 32)
    )
    assert hi == pytest.approx(100 * (1 - 2.5 / (4 * 5)))
    assert lo == pytest.approx(100.0)
    # SHI: inlets 1 K above supply, outlets 11 K above → 1/11
    shi = supply_heat_index(np.array([19.0, 19.0]), np.array([29.0, 29.0]), 18.0)
    assert shi == pytest.approx(1 / 11)


def test_room_heat_up_and_time_to_limit_are_consistent() -> None:
    """The transient reaches the limit exactly at the time time_to_limit returns."""
    tau, t0, tss, limit = 300.0, 22.0, 35.0, 27.0
    t = time_to_limit(t0, tss, tau, limit)
    assert t == pytest.approx(-tau * np.log((limit - tss) / (t0 - tss)))
    assert room_heat_up(t0, tss, tau, t) == pytest.approx(limit)
    assert time_to_limit(t0, 26.0, tau, limit) == np.inf
    assert time_to_limit(28.0, 35.0, tau, limit) == 0.0


def test_two_node_heat_up_matches_the_integrated_nodes() -> None:
    """Analytic reference: the two energy equations integrated numerically (1e-8 K).

    60 kW into 1.2 MJ/K of air coupled by 4 kW/K to 5 MJ/K of rack mass; the limits are the
    air alone (C_m → 0: slope Q/C_a) and air and mass together at long times (slope
    Q/(C_a + C_m)).  ``time_to_rise`` inverts the rise to 1e-6 s.
    """
    heat, air, mass, conductance = 60e3, 1.2e6, 5e6, 4e3

    def nodes(_t: float, y: np.ndarray) -> list[float]:
        return [(heat - conductance * (y[0] - y[1])) / air, conductance * (y[0] - y[1]) / mass]

    solution = solve_ivp(
        nodes, (0.0, 5000.0), [0.0, 0.0], dense_output=True, rtol=1e-11, atol=1e-12
    )
    times = np.array([1.0, 30.0, 300.0, 3000.0])
    rise = two_node_heat_up(times, heat, air, mass, conductance)
    np.testing.assert_allclose(rise, solution.sol(times)[0], atol=1e-8)
    late = two_node_heat_up([4000.0, 5000.0], heat, air, mass, conductance)
    assert float(np.diff(late)[0]) / 1000.0 == pytest.approx(heat / (air + mass), rel=1e-6)
    assert float(two_node_heat_up(100.0, heat, air, 0.0, conductance)) == pytest.approx(5.0)
    t = float(time_to_rise(10.0, heat, air, mass, conductance))
    assert float(two_node_heat_up(t, heat, air, mass, conductance)) == pytest.approx(10.0)
    assert float(time_to_rise(10.0, 0.0, air, mass, conductance)) == np.inf
    assert float(time_to_rise(-1.0, heat, air, mass, conductance)) == 0.0


def test_two_node_heating_rate_has_the_form_khankari_published() -> None:
    """Khankari, "Rate of Heating Analysis of Data Centers during Power Shutdown", ASHRAE
    Transactions 117(1), 2011 (LV-11-C026), abstract: the rate of heating starts at a
    maximum, decays exponentially to a minimum — the lowest rate a data centre can attain —
    with a time constant set by the heat capacity ratio and the rack surface (here the
    air-to-mass conductance G).  Only the abstract was available, so this checks the form,
    not the paper's figures.

    The two-node model gives ``dT_a/dt = Q/(C_a + C_m) + (Q/C_a − Q/(C_a + C_m))·e^(−t/τ)``,
    ``τ = 1/(G·(1/C_a + 1/C_m))``.  A 1,000 m³ room (C_a = 1.2 MJ/K), 5 MJ/K of rack mass,
    G = 4 kW/K, 60 kW: τ = 241.9 s, rates 0.050 K/s at first and 0.0097 K/s at the end.
    Rates by central differences (h = 1 ms), 1e-6 relative.
    """
    heat, air, mass, conductance = 60e3, 1.2e6, 5e6, 4e3
    tau = 1.0 / (conductance * (1.0 / air + 1.0 / mass))
    assert tau == pytest.approx(241.935, rel=1e-5)
    step = 1e-3
    times = np.array([0.5, 0.5 * tau, tau, 2.0 * tau, 5.0 * tau])

    def rate(t: np.ndarray, scale: float = 1.0) -> np.ndarray:
        args = (scale * heat, scale * air, scale * mass, scale * conductance)
        return (two_node_heat_up(t + step, *args) - two_node_heat_up(t - step, *args)) / (2 * step)

    highest, lowest = heat / air, heat / (air + mass)
    np.testing.assert_allclose(rate(np.array([step])), highest, rtol=1e-5)
    np.testing.assert_allclose(rate(np.array([40.0 * tau])), lowest, rtol=1e-6)
    decay = (rate(times) - lowest) / (highest - lowest)
    np.testing.assert_allclose(decay, np.exp(-times / tau), rtol=1e-6)
    # the rate falls monotonically: never below the minimum, never above the maximum
    assert np.all(np.diff(rate(times)) < 0)
    # the time constant depends on ratios only: scaling air, mass, conductance and heat
    # together (a larger room of the same layout) leaves the rise unchanged
    np.testing.assert_allclose(rate(times, scale=7.0), rate(times), rtol=1e-9)
