"""The callbacks' bodies called directly on a live twin (real SQLite, physics, HiGHS)."""

from __future__ import annotations

import json
from datetime import timedelta
from itertools import pairwise

import pandas as pd
import pytest
import yaml
from dash import html
from plotly.utils import PlotlyJSONEncoder
from scipy.special import ndtr

from optimizer.curve_range import describe
from optimizer.result import describe_source
from tests.helpers import Clock, critical_alarm_on_a_moved_rack, feed
from twin.live.live_twin import LiveTwin
from ui import callbacks as cb
from ui import callbacks_alarms as ca
from ui import (
    figures,
    figures_live,
    views,
    views_alarms,
    views_live,
    views_overview,
    views_whatif,
)


def _text(component: object) -> str:
    """All the text in a Dash component tree."""
    if isinstance(component, str | int | float):
        return str(component)
    if isinstance(component, list | tuple):
        return " ".join(_text(c) for c in component)
    children = getattr(component, "children", None)
    return "" if children is None else _text(children)


def test_overview_shows_every_kpi_and_a_sankey(context: cb.UIContext) -> None:
    cards, sankey, status = cb.overview(context)
    link = next(c for c in cards if c.id == "kpi-alarms-link")
    assert link.href == "/alarms"  # the alarm count opens the Alarms page
    cards = [c.children if c is link else c for c in cards]
    titles = [card.children[0].children for card in cards]
    assert titles == [title for _, title, _, _ in cb.KPI_CARDS]
    kpis = views_overview.kpis(context.twin)
    it_card = next(c for c in cards if c.id == "kpi-it_power_kw")
    it_mw = kpis["it_power_kw"] / 1000.0  # the demo hall draws MW: shown in MW (ui.units)
    assert _text(it_card.children[1]) == f"{it_mw:,.3f} MW"
    assert sankey["data"][0]["type"] == "sankey"  # a plain dict figure
    assert "IT" in sankey["data"][0]["node"]["label"]
    assert "America/Chicago" in status  # times in the site's timezone
    # 12:20 UTC on 2026-11-18 is 06:20 in Chicago (CST, UTC-6)
    assert "2026-11-18 06:" in status


def test_warm_up_fills_the_floor_caches_in_the_background(context: cb.UIContext) -> None:
    from ui.app import warm_up

    twin = context.twin
    views._LAYOUTS.clear()
    twin._predictions = {}
    thread = warm_up(context)
    thread.join(60)
    assert not thread.is_alive() and thread.daemon
    assert id(twin.facility.racks) in views._LAYOUTS  # the rack layout
    step = twin.step_index(twin.clock())
    assert [key for key in twin._predictions if key[0] == step]  # this step's prediction
    # what the page then draws is what it would have computed itself
    assert cb.floor_map(context, "inlet_temperature", None) == figures.floor_map(
        views.floor_grid(twin, "inlet_temperature"), None, views_alarms.alarmed_racks(twin)
    )


def test_many_floor_marks_are_drawn_with_webgl() -> None:
    many = figures.WEBGL_MARKERS
    marks = figures._markers(list(range(many)), ["A"] * many, ["r"] * many, {}, "dots", "")
    few = figures._markers([1], ["A"], ["r"], {}, "dots", "")
    assert (marks["type"], few["type"]) == ("scattergl", "scatter")


def test_floor_click_opens_the_rack_detail(context: cb.UIContext) -> None:
    fig, detail, selected = cb.floor(context, "inlet_temperature", None)
    assert selected is None and fig["data"][0]["type"] == "heatmap"
    dots = fig["data"][1]  # measured sensors: a few as SVG, WebGL from WEBGL_MARKERS
    assert dots["type"] == "scatter" and 0 < len(dots["x"]) < figures.WEBGL_MARKERS
    click = {"points": [{"x": 2, "y": "A", "customdata": "A02"}]}
    fig, detail, selected = cb.floor(context, "power", click)
    assert selected == "A02"
    assert "Rack A02" in detail["layout"]["title"]["text"]
    panels = [a["text"] for a in detail["layout"]["annotations"]]
    assert panels[:2] == ["Rack inlet/outlet temperature [°C]", "Rack IT power [kW]"]
    assert detail["layout"]["yaxis"]["title"]["text"] == "[°C]"
    assert detail["layout"]["yaxis2"]["title"]["text"] == "[kW]"
    # one time axis: the upper panels follow the bottom one, which alone is titled
    bottom = f"xaxis{len(panels)}"
    assert detail["layout"][bottom]["title"]["text"] == "Time (America/Chicago)"
    assert detail["layout"]["xaxis"]["matches"] == f"x{len(panels)}"
    # A02 has a measured inlet sensor; the twin model's inlet is drawn next to it, dashed
    names = {t["name"]: t for t in detail["data"]}
    assert "Rack inlet temperature (measured)" in names
    assert names["Rack inlet temperature (twin model)"]["line"]["dash"] == "dash"
    (power,) = [t for n, t in names.items() if n.startswith("Rack IT power")]
    assert power["yaxis"] == "y2" and power["xaxis"] == "x2"
    assert fig["data"][-1]["name"] == "selected A02"


def test_plan_page_without_and_with_a_plan(context: cb.UIContext) -> None:
    page = cb.plan_page(context, None)
    assert page["value"] is None and "No plan yet" in _text(page["status"])
    record = context.twin.replan(actor="test")
    page = cb.plan_page(context, None)
    assert page["value"] == record["id"]
    created = record["created"].astimezone(context.timezone)
    (option,) = page["options"]  # the time in the site's timezone, with its abbreviation
    assert option["label"].endswith(f"proposed {created:%Y-%m-%d %H:%M} {created.tzname()}")
    assert created.tzname() in ("CST", "CDT")
    assert "verified by the physics" in _text(page["status"])
    check = record["payload"]["summary"]["twin_check"]
    assert f"max inlet {check['max_inlet_temperature_c']:,.2f} °C" in _text(page["status"])
    # the margin weighed against the estimator's inlet uncertainty of the hottest rack
    estimate = context.twin.estimator.state(context.twin.clock())
    sigma = estimate.inlet_temperature_std[estimate.racks.index(check["hottest_rack"])]
    assert check["inlet_std_k"] == pytest.approx(sigma, abs=1e-4)
    assert check["exceedance_probability"] == pytest.approx(
        float(ndtr(-check["min_inlet_margin_k"] / sigma)), abs=1e-4
    )
    assert f"{check['exceedance_probability']:.0%} chance of exceeding" in _text(page["status"])
    # the chiller curves' fitted range (finding 10a): carried by the twin check, shown as the
    # report prints it
    summary = record["payload"]["summary"]
    assert check["curve_range"]["plan"]["steps"] == summary["curve_range"]["plan"]["steps"] > 0
    sentences = describe(summary["curve_range"], "USD")
    assert sentences and all(sentence in _text(page["status"]) for sentence in sentences)
    # which schedule the proposal is: the co-plan, or the rule-based one where it is cheaper
    assert summary["plan_source"] in ("co_plan", "rule_based")
    (source,) = describe_source(summary)
    assert source.startswith("plan returned: the ") and source in _text(page["status"])
    assert summary["cost"] <= summary["baselines"]["rule_based"]["cost"]
    grid = page["figures"][1]
    assert [t.name for t in grid.data] == ["plan", "as operated", "rule based"]
    assert grid.layout.yaxis.title.text == "Grid import [kW]"
    assert grid.layout.xaxis.title.text == "Time (America/Chicago)"


READ_ONLY = ("user:reader", frozenset({"read"}))
MAY_APPROVE = ("user:alice", frozenset({"read", "approve"}))


def test_approval_needs_a_session_with_the_approve_scope(context: cb.UIContext) -> None:
    twin = context.twin
    plan_id = twin.replan(actor="test")["id"]
    assert cb.decide(context, plan_id, None, frozenset(), True) == (
        False,
        "Sign in with the 'approve' scope to approve a plan.",
    )
    done, message = cb.decide(context, plan_id, *READ_ONLY, True)
    assert not done and message == (
        "This session lacks the 'approve' scope (it has: read); nothing was done."
    )
    done, message = cb.decide(context, plan_id, "user:ingester", frozenset({"ingest"}), True)
    assert not done and "lacks the 'approve' scope" in message  # ingest never suffices
    assert twin.store.get_plan(plan_id)["status"] == "proposed"  # type: ignore[index]
    ok, _, _ = cb.approval_preview(context, plan_id, *READ_ONLY)
    assert not ok
    ok, _, _ = cb.approval_preview(context, plan_id, *MAY_APPROVE)
    assert ok
    done, message = cb.decide(context, plan_id, *MAY_APPROVE, True, "looks fine")
    assert done and message == f"Plan {plan_id} applied by user:alice."
    log = twin.store.audit_log(limit=10)
    approve = next(e for e in log if e["action"] == "approve" and e["target"] == plan_id)
    assert approve["actor"] == "user:alice" and approve["reason"] == "looks fine"
    admin = ("token:0123abcd", frozenset({"admin"}))  # admin implies approve
    done, message = cb.decide(context, plan_id, *admin, False)
    assert not done and message.startswith(f"Cannot reject plan {plan_id}")


def test_reject_and_propose_in_the_background(context: cb.UIContext) -> None:
    job, message = cb.propose(context, *READ_ONLY)
    assert job is None and "lacks" in message
    job, message = cb.propose(context, *MAY_APPROVE)
    assert job is not None
    state = context.jobs.wait(job, timeout=60)
    assert state["state"] == "done", state["error"]
    plan_id = state["result"]["plan_id"]
    record = context.twin.store.get_plan(plan_id)
    assert record is not None and record["status"] == "proposed"
    proposed = next(
        e
        for e in context.twin.store.audit_log(limit=20)
        if e["target"] == plan_id and e["actor"] == "user:alice"
    )
    assert proposed["action"] == "propose"
    done, message = cb.decide(context, plan_id, *MAY_APPROVE, False)
    assert done and "rejected" in message
    assert context.twin.store.get_plan(plan_id)["status"] == "rejected"  # type: ignore[index]


def test_whatif_runs_in_the_background_and_compares(context: cb.UIContext) -> None:
    job, message = cb.whatif_start(context, {"fail_feed": "Z"}, 24)
    assert job is None and message.startswith("Cannot apply the change: unknown feed 'Z'")
    job, message = cb.whatif_start(context, {"supply_min_c": 30, "supply_max_c": 20}, 24)
    assert job is None and message.startswith("The modified scenario is invalid")
    job, message = cb.whatif_start(context, {}, 500)
    assert job is None and "horizon" in message
    edits = cb.whatif_edits({"battery_energy_kwh": 3000, "fail_feed": "", "grid_zone": None})
    assert edits == {"battery_energy_kwh": 3000}
    job, _ = cb.whatif_start(context, edits, 6)
    assert job is not None
    state = context.jobs.wait(job, timeout=90)
    assert state["state"] == "done", state["error"]
    result = state["result"]
    assert yaml.safe_load(result["scenario_yaml"])["battery"]["energy"] == "3000 kWh"
    table, figure = cb.whatif_result(context, result)
    assert isinstance(table, html.Table)
    text = _text(table)
    assert "current" in text and "modified" in text and "difference" in text
    assert [t.name for t in figure.data] == ["current", "modified"]
    assert cb.job_progress(context, None)["state"] == "none"
    assert cb.job_progress(context, "0123456789ab")["state"] == "failed"


def test_live_page_shows_residuals_calibration_and_faults(context: cb.UIContext) -> None:
    page = cb.live(context, ["grid/power"], 2)
    fig = page["residuals"]
    assert {t["name"] for t in fig["data"]} == {"measured", "twin prediction", "residual"}
    assert fig["layout"]["yaxis"]["title"]["text"] == "[kW]"
    assert "crah_fan_factor" in _text(page["calibration"])
    assert "RMS residual" in page["rmse"] and "grid/power" in page["rmse"]
    assert _text(page["faults"])  # a list of faults, or says there are none


def test_labels_carry_registry_units() -> None:
    assert figures.label("inlet_temperature") == "Rack inlet temperature [°C]"
    assert figures.label("grid_power", "kW") == "Grid import [kW]"
    assert figures.label("price") == "Electricity price [USD/MWh]"


def test_alarms_page_lists_alarms_and_screening_and_floor_outlines_them(
    context: cb.UIContext,
) -> None:
    twin = context.twin
    point = "rack/B06/inlet_temperature"
    twin.store.raise_alarm(
        "limit_inlet_temperature_high",
        point,
        "rack inlet temperature of B06 is 28.1 °C, above its limit of 27 °C",
        time=twin.clock(),
        severity="critical",
        point=point,
    )
    summary, table, screening = ca.alarms_page(context)
    assert "critical" in summary.children and "America/Chicago" in summary.children
    text = str(table)
    assert "limit_inlet_temperature_high" in text and "/live?point=rack%2FB06" in text
    assert screening.id == "alarms-screening"
    fig, _, _ = cb.floor(context, "inlet_temperature", None)
    outlined = [t for t in fig["data"] if t.get("name", "").startswith("critical alarm")]
    assert outlined and "B06" in outlined[0]["text"]


def test_alarm_actions_are_audited_under_the_principal(context: cb.UIContext) -> None:
    twin = context.twin
    alarm = twin.store.raise_alarm(
        "limit_undervoltage", "busbar/B1", "busbar B1 at 46.1 V", time=twin.clock()
    )
    options = ca.alarm_options(context)
    assert any(o["value"] == alarm["id"] for o in options)
    reader = ca.alarm_action(
        context, "acknowledge", alarm["id"], None, "user:bob", frozenset({"read"})
    )
    assert reader[0] is False and "approve" in reader[1]
    approve = frozenset({"read", "approve"})
    assert ca.alarm_action(context, "acknowledge", None, None, "user:alice", approve)[0] is False
    assert ca.alarm_action(context, "acknowledge", 987654, None, "user:alice", approve) == (
        False,
        "Unknown alarm 987654.",
    )
    assert ca.alarm_action(context, "shelve", alarm["id"], 4.0, "user:alice", approve)[0]
    rows = {r["id"]: r for r in ca.views_alarms.alarm_rows(twin, context.timezone)}
    assert rows[alarm["id"]]["state"] == "shelved"
    assert ca.alarm_action(context, "unshelve", alarm["id"], None, "user:alice", approve)[0]
    assert ca.alarm_action(context, "acknowledge", alarm["id"], None, "user:alice", approve)[0]
    rows = {r["id"]: r for r in ca.views_alarms.alarm_rows(twin, context.timezone)}
    assert rows[alarm["id"]]["state"] == "acknowledged"
    log = [e for e in twin.store.audit_log(limit=10) if e["target"] == str(alarm["id"])]
    assert [(e["actor"], e["action"]) for e in reversed(log)] == [
        ("user:alice", "shelve_alarm"),
        ("user:alice", "unshelve_alarm"),
        ("user:alice", "acknowledge_alarm"),
    ]


def test_an_excluded_sensor_is_readmitted_from_the_alarms_page(
    context: cb.UIContext, fresh: tuple[LiveTwin, Clock]
) -> None:
    """The demo's stuck inlet (A02, +10 to +40 min) is offered once excluded; readmitting it
    needs the approve scope and a reason, and is audited under the session's principal."""
    twin, clock = fresh
    point = "rack/A02/inlet_temperature"
    feed(twin, clock, 40)  # to +30 min: excluded as stuck
    assert [o["value"] for o in ca.readmit_options(context)] == [point]
    approve = frozenset({"read", "approve"})
    reader = ca.readmit_sensor(context, point, "replaced", "user:bob", frozenset({"read"}))
    assert reader[0] is False and "approve" in reader[1]
    assert ca.readmit_sensor(context, None, "replaced", "user:alice", approve)[0] is False
    unsaid = ca.readmit_sensor(context, point, "  ", "user:alice", approve)
    assert unsaid[0] is False and "why" in unsaid[1].lower()
    assert twin.faults.is_faulty(point)
    done, message = ca.readmit_sensor(context, point, "sensor replaced", "user:alice", approve)
    assert done and "readmitted by user:alice" in message
    assert not twin.faults.is_faulty(point)
    assert ca.readmit_options(context) == []
    again = ca.readmit_sensor(context, point, "sensor replaced", "user:alice", approve)
    assert again[0] is False and "not excluded" in again[1]
    (entry,) = [e for e in twin.store.audit_log(limit=10) if e["action"] == "readmit_sensor"]
    assert (entry["actor"], entry["target"], entry["reason"]) == (
        "user:alice",
        point,
        "sensor replaced",
    )


def test_a_spiking_sensor_is_faulty_on_floor_and_alarms_alike(context: cb.UIContext) -> None:
    twin = context.twin
    point = "rack/B06/inlet_temperature"
    moment = twin.clock() - timedelta(seconds=10)
    twin.ingest([{"time": moment.isoformat(), "point": point, "value": 45.0}])
    twin.drain()
    assert views_alarms.sensor_faults(twin) == {point: "spike"}
    fig, _, _ = cb.floor(context, "inlet_temperature", None)
    (cross,) = [t for t in fig["data"] if t.get("name", "").startswith("faulty sensor")]
    assert list(cross["text"]) == ["B06"] and cross["marker"]["symbol"] == "x"
    grid = views.floor_grid(twin, "inlet_temperature")
    row, col = grid["rows"].index("B"), grid["positions"].index(6)
    with twin.lock:
        estimate = twin.estimator.state(twin.clock()).rack("B06")["inlet_temperature"]
    assert grid["z"][row][col] == pytest.approx(estimate) and grid["z"][row][col] < 35.0
    assert "B06" not in grid["measured"]["rack"]  # no measured dot on a faulty sensor
    _, _, screening = ca.alarms_page(context)
    line = next(tr for tr in screening.children[1:] if _text(tr.children[0]) == point)
    assert _text(line.children[-1]) == "FAULTY (spike)"  # the Floor's verdict, not "ok"


def test_local_times_take_mixed_microseconds() -> None:
    from zoneinfo import ZoneInfo

    mixed = ["2026-11-18T12:00:00+00:00", "2026-11-18T12:00:00.500000+00:00"]
    shown = figures.local_times(mixed, ZoneInfo("America/Chicago"))
    assert shown == ["2026-11-18 06:00:00", "2026-11-18 06:00:00"]


def test_live_trends_band_the_estimate_and_share_one_time_window(context: cb.UIContext) -> None:
    twin = context.twin
    inlet = "rack/A02/inlet_temperature"
    page = cb.live(context, [inlet, "grid/power"], 0.25)
    fig, history = page["residuals"], page["history"]
    names = [t.get("name") for t in fig["data"]]
    assert "estimate ±2σ" in names and "estimate" in names
    band = next(t for t in fig["data"] if t.get("name") == "estimate ±2σ")
    upper = fig["data"][fig["data"].index(band) - 1]
    mean = next(t for t in fig["data"] if t.get("name") == "estimate")
    assert band["fill"] == "tonexty" and len(mean["y"]) >= 5  # one sample a minute, 10 min
    samples = twin.estimator.history.series("A02")
    assert mean["y"][-1] == pytest.approx(samples[1][-1])
    assert upper["y"][-1] - band["y"][-1] == pytest.approx(4 * samples[2][-1])  # ±2σ
    # the demo's inlets sit near 21 °C: both limits are off scale, said in the panel's title
    drawn = [t for t in fig["data"] if str(t.get("name", "")).startswith(("upper", "lower"))]
    assert drawn == []
    title = fig["layout"]["annotations"][0]["text"]
    assert "upper limit 27 °C" in title and "lower limit 18 °C" in title and "off scale" in title
    # raw readings for 15 min: one dot per 30 s plant tick, not one per minute
    data = views_live.residuals(twin, [inlet], 0.25)
    assert data["bucket_s"] == 0.0 and len(data["series"][inlet]["measured"]) >= 19
    # every time axis shows the same window and zooms together
    layout = fig["layout"]
    ranges = {tuple(layout[k]["range"]) for k in layout if k.startswith("xaxis")}
    assert ranges == {tuple(history["layout"]["xaxis"]["range"])}
    assert all(
        layout[k].get("matches") == "x" for k in layout if k.startswith("xaxis") and k != "xaxis"
    )


def test_limit_lines_stay_out_when_far_from_the_data() -> None:
    from zoneinfo import ZoneInfo

    times = ["2026-11-18T12:00:00+00:00", "2026-11-18T12:01:00+00:00"]
    hot = {"time": times, "mean": [25.5, 26.0], "std": [0.2, 0.2], "upper": 27.0, "lower": 18.0}
    data = {
        "start": times[0],
        "time": times[1],
        "series": {
            "rack/C04/inlet_temperature": {
                "time": times,
                "measured": [25.6, 26.1],
                "predicted": [25.0, 25.2],
                "residual": [0.6, 0.9],
                "units": "degC",
                "estimate": hot,
            }
        },
    }
    fig = figures_live.residuals(data, ZoneInfo("America/Chicago"))
    drawn = [t for t in fig["data"] if str(t.get("name", "")).startswith(("upper", "lower"))]
    assert [t["name"] for t in drawn] == ["upper limit 27 °C"]  # near 26 °C: drawn
    assert drawn[0]["y"] == [27.0, 27.0] and drawn[0]["line"]["dash"] == "dash"
    assert "lower limit 18 °C" in fig["layout"]["annotations"][0]["text"]  # far: named only
    assert figures_live.near_limits({"upper": 27.0, "lower": 18.0}, [22.0, 24.5]) == {"upper": 27.0}
    assert figures_live.near_limits({"upper": 27.0, "lower": 18.0}, [17.0, 26.0]) == {
        "upper": 27.0,
        "lower": 18.0,
    }
    assert figures_live.near_limits({"upper": 27.0}, [None]) == {"upper": 27.0}


def test_estimate_history_keeps_one_sample_a_minute_and_is_bounded() -> None:
    import numpy as np

    from tests.helpers import START
    from twin.live.estimation import EstimateHistory

    history = EstimateHistory(["R1", "R2"], samples=3)

    class State:  # what record reads of an EstimatedState
        def __init__(self, seconds: float, value: float) -> None:
            self.time = START + timedelta(seconds=seconds)
            self.inlet_temperature = np.array([value, value + 1.0])
            self.inlet_temperature_std = np.array([0.1, 0.2])

    for seconds, value in ((0, 20.0), (30, 21.0), (60, 22.0), (130, 23.0), (200, 24.0)):
        history.record(State(seconds, value))  # type: ignore[arg-type]
    times, mean, std = history.series("R2")
    assert len(history) == 3  # bounded: the oldest minute went first
    assert list(mean) == [23.0, 24.0, 25.0] and list(std) == pytest.approx([0.2] * 3)
    assert times[0] == START + timedelta(seconds=60)
    history.record(State(10, 99.0))  # type: ignore[arg-type]  # older: ignored
    assert list(history.series("R1")[1]) == [22.0, 23.0, 24.0]


def test_overview_trends_grid_hottest_inlet_and_cost_that_only_grows(
    context: cb.UIContext,
) -> None:
    twin = context.twin
    grid, hottest, cost = cb.overview_trends(context)
    contract_kw = twin.facility.grid.contract_capacity / 1000.0
    names = [t["name"] for t in grid["data"]]
    assert names == ["grid import", f"contract capacity {contract_kw:,.0f} kW"]
    assert grid["data"][1]["y"] == [contract_kw, contract_kw]
    assert len(grid["data"][0]["y"]) >= 9  # 10 min of telemetry, 1-minute means
    assert set(grid["data"][0]["customdata"]) == {"/live?point=grid%2Fpower"}
    line, limit = hottest["data"]
    assert limit["y"] == [27.0, 27.0] and len(line["y"]) >= 5
    _, mean, _ = twin.estimator.history.series(line["text"][-1])
    assert line["y"][-1] == pytest.approx(mean[-1])  # the hottest rack's own estimate
    assert line["customdata"][-1] == f"/live?point=rack%2F{line['text'][-1]}%2Finlet_temperature"
    values = cost["data"][0]["y"]
    assert values and all(b >= a for a, b in pairwise(values))
    kpi = views_overview.kpis(twin)["cost_today"]
    assert values[-1] == pytest.approx(kpi)  # the card is the trend's last value
    ranges = {tuple(f["layout"]["xaxis"]["range"]) for f in (grid, hottest, cost)}
    assert len(ranges) == 1  # one time window


def test_overview_survives_timestamps_with_and_without_microseconds(
    fresh: tuple[object, object], context: cb.UIContext
) -> None:
    twin = context.twin
    clock = fresh[1]
    for offset in (0.25, 1.0, 30.5):  # 12:20:00.250000, 12:20:01, 12:20:30.500000 ...
        moment = twin.clock() + timedelta(seconds=offset)
        reading = {"time": moment.isoformat(), "point": "grid/power", "value": 1500.0}
        twin.ingest([reading])
        twin.drain()
    clock.now += timedelta(seconds=60)  # type: ignore[attr-defined]
    times = [s.isoformat() for s in twin.estimator.history.series("A01")[0]]
    assert any("." in t for t in times) and any("." not in t for t in times)
    cards, _, _ = cb.overview(context)
    trends = cb.overview_trends(context)
    assert len(cards) == len(cb.KPI_CARDS) and len(trends) == 3
    page = cb.live(context, ["rack/A01/inlet_temperature"], 0.25)
    assert page["residuals"]["data"]


def test_whatif_switches_the_grid_zone_to_the_same_week_of_its_data(
    context: cb.UIContext,
) -> None:
    """The What-if page's zone field: the live window (December 2026 here, the demo hall
    written for July) is filled from the same July week of the zone's 2023 files, so the
    what-if solves (it failed on every zone: 2023 data cannot cover a 2026 window)."""
    from twin.data.loaders import available_zones, same_week_in_data

    if "US-TEX-ERCO" not in available_zones():
        pytest.skip("../shared/data (the public zone files) is not beside the project")
    edits = cb.whatif_edits({"grid_zone": "US-TEX-ERCO"})
    scenario = views_whatif.modified_scenario(context.twin, edits)
    written = scenario["simulation"]["start"]
    (added,) = [s for s in scenario["series"] if s.get("zone")]
    assert added["replay_from"] == same_week_in_data(str(written)).isoformat()
    job, message = cb.whatif_start(context, edits, 6)
    assert job is not None, message
    state = context.jobs.wait(job, timeout=120)
    assert state["state"] == "done", state["error"]
    assert yaml.safe_load(state["result"]["scenario_yaml"])["series"][-1]["zone"] == "US-TEX-ERCO"


def test_the_whatif_page_offers_every_zone_of_the_servers_data(context: cb.UIContext) -> None:
    """The zone field lists the zones the what-if can read (it offered four of the seven, and
    the page showed an empty chart with axes from −1 to 6 before a run)."""
    from tests.ui.conftest import find_component
    from twin.data.loaders import available_zones
    from ui.pages import whatif

    zones = available_zones()
    if len(zones) < 7:
        pytest.skip("../shared/data (the seven public zones) is not beside the project")
    page = whatif.layout(context).to_plotly_json()
    field = find_component(json.loads(json.dumps(page, cls=PlotlyJSONEncoder)), "wi-grid_zone")
    assert field is not None and field["props"]["options"] == zones
    assert {"JP-TK", "SG", "US-NY-NYIS"} <= set(zones)
    chart = find_component(json.loads(json.dumps(page, cls=PlotlyJSONEncoder)), "wi-compare")
    assert chart is not None
    figure = chart["props"]["figure"]
    assert figure["data"] == [] and "Run a what-if" in figure["layout"]["annotations"][0]["text"]


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-07-06T00:00:00Z", "2023-07-03T00:00:00+00:00"),  # Monday → the Monday nearest
        ("2024-02-29T12:00:00Z", "2023-03-02T12:00:00+00:00"),  # leap day → 28 Feb, Thursday
        ("2026-12-30T00:00:00Z", "2023-12-20T00:00:00+00:00"),  # kept off the year's end
        ("2027-01-01T06:00:00+05:00", "2023-01-06T01:00:00+00:00"),  # in UTC, a week later
    ],
)
def test_same_week_in_data_keeps_weekday_and_season(start: str, expected: str) -> None:
    from twin.data.loaders import same_week_in_data

    replay = same_week_in_data(start)
    assert replay.isoformat() == expected
    assert replay.weekday() == pd.Timestamp(start).tz_convert("UTC").weekday()


def test_approval_in_the_ui_shows_critical_alarms_and_needs_a_reason(
    context: cb.UIContext,
) -> None:
    """tryout3 finding 6: the confirmation step names a critical alarm on a rack the plan
    moves, and Confirm approval needs a typed reason to override it."""
    twin = context.twin
    record = twin.replan(actor="test")
    plan_id = record["id"]
    rack, alarm = critical_alarm_on_a_moved_rack(twin, record["payload"]["preview"])
    ok, shown, ids = cb.approval_preview(context, plan_id, *MAY_APPROVE)
    assert ok and f"#{alarm['id']}" in _text(shown) and f"rack {rack}" in _text(shown)
    assert ids == [alarm["id"]]  # what the page keeps for Confirm approval
    done, message = cb.decide(context, plan_id, *MAY_APPROVE, True)
    assert not done and f"rack {rack}" in message and "type the reason" in message
    assert twin.store.get_plan(plan_id)["status"] == "proposed"  # type: ignore[index]
    done, message = cb.decide(context, plan_id, *MAY_APPROVE, True, "sensor lags, checked")
    assert done, message
    entry = next(e for e in twin.store.audit_log(limit=10) if e["action"] == "approve")
    assert [a["id"] for a in entry["detail"]["critical_alarms_overridden"]] == [alarm["id"]]
