"""The synthetic hall of the benchmarks runs without violations as operated, at any size."""

from __future__ import annotations

import numpy as np

from optimizer.baselines.policy import as_operated
from physics.simulate import simulate
from physics.violations import find_violations
from twin.data.series import scenario_series
from twin.scenario.compile import compile_facility
from twin.scenario.loader import scenario_from_dict
from twin.scenario.synthetic import MECHANICAL_FEED, synthetic_hall


def test_large_hall_runs_within_its_limits_as_operated() -> None:
    """3,000 racks (150 rows, 15 UPS): the cooling grows with the hall and must not land on a
    feed sized for ten rows (it did: 70 MW on 44 MW); it has its own feed."""
    spec = scenario_from_dict(synthetic_hall(3000, days=0.5, step="1 h"), "hall")
    facility = compile_facility(spec)
    series = scenario_series(spec)
    result = simulate(facility, as_operated(facility, series), series, per_rack=False)
    assert [v.message for v in find_violations(facility, result)] == []
    mech = facility.feeds.ids.index(MECHANICAL_FEED)
    assert facility.cooling_feed == mech
    feed = result["feed_power"].values  # W, (T, F)
    cooling = result["cooling_power"].values / facility.mechanical_efficiency
    np.testing.assert_allclose(feed[:, mech], cooling, rtol=1e-9)
    # the cooling is a real load on its feed: a fifth of the design IT power or so
    assert 0.1 < float(cooling.max()) / float(facility.feeds.capacity[mech]) < 0.9
