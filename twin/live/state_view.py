"""What ``GET /state`` answers for a live twin: the estimated state, the facility's KPIs from
the newest readings (the calibrated model's prediction where a point has none from the last
hour), the active alarms, the plan watch and the screening counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twin.live.parameters import add_offsets

if TYPE_CHECKING:
    from twin.live.live_twin import LiveTwin

__all__ = ["state_payload"]


def state_payload(twin: LiveTwin) -> dict[str, Any]:
    """The estimated state, facility KPIs (power [kW], PUE [-], battery SOC [-], price
    [currency/MWh], carbon intensity [g/kWh]) and alarms of ``twin`` now, JSON-ready."""
    now = twin.clock()
    with twin.view_lock:  # never waits for a processing cycle, only for its swap
        estimated = twin.estimator.state(now)
        params = twin._parameters_view
    data = estimated.to_dict()
    predicted = add_offsets(dict(twin._predict(now, params)[1]), twin.facility, params)
    latest = twin.store.latest(twin._kpi_points)  # not every point of the hall

    def value(point: str) -> float | None:
        reading = latest.get(point)
        if reading is not None and (now - reading.time).total_seconds() < 3600:
            return reading.value
        return predicted.get(point)

    step = twin.step_index(now)
    series: dict[str, float] = {}  # the two series read here, not the whole step
    for name in ("price", "carbon_intensity"):
        if name in twin.series:
            column = twin.series[name]
            at = column.values[step] if column.dims == ("time",) else column.isel(time=step)
            series[name] = float(at)
    it_kw = sum(value(f"rack/{r}/power") or 0.0 for r in twin.facility.racks.ids)
    grid_kw = value("grid/power")
    feeds_kw = sum(value(f"feed/{f}/power") or 0.0 for f in twin.facility.feeds.ids)
    data["kpis"] = {
        "it_power_kw": it_kw,
        "facility_power_kw": feeds_kw,
        "pue": feeds_kw / it_kw if it_kw > 0 else None,
        "grid_import_kw": grid_kw,
        "cooling_power_kw": value("plant/power"),
        "battery_soc": value("battery/soc") if twin.facility.battery else None,
        "price_per_mwh": series.get("price"),
        "carbon_g_per_kwh": series.get("carbon_intensity"),
    }
    data["time"] = now.isoformat()
    active = [
        a
        for a in twin.store.alarms(active_only=True)
        if a["shelved_until"] is None or a["shelved_until"] <= now
    ]
    data["alarms"] = len(active)
    data["alarms_critical"] = sum(a["severity"] == "critical" for a in active)
    data["alarms_unacknowledged"] = sum(a["acknowledged"] is None for a in active)
    watch = twin.supervisor.watch
    data["watch"] = None if watch is None else watch.status()
    data["screening"] = twin.screening()
    return data
