"""The UI's one unit formatter: CF units as people read them, kW/MW by size, ASHRAE colours."""

from __future__ import annotations

import math

import pytest

from ui.figures import aligned_axis, floor_colours, identical_groups, label, merged_name
from ui.units import axis_title, format_energy, format_power, format_value, unit_text


@pytest.mark.parametrize(
    ("cf", "shown"),
    [
        ("degC", "°C"),
        ("USD MWh-1", "USD/MWh"),
        ("g kW-1 h-1", "g/kWh"),
        ("kg kWh-1", "kg/kWh"),
        ("m3 s-1", "m³/s"),
        ("W m-2", "W/m²"),
        ("1", "-"),
        ("kW", "kW"),
        ("K", "K"),
    ],
)
def test_cf_units_read_as_people_write_them(cf: str, shown: str) -> None:
    assert unit_text(cf) == shown


def test_numbers_carry_their_units_and_scale() -> None:
    assert format_power(531_523.0) == "531.5 MW"
    assert format_power(850.4) == "850 kW"
    assert format_power(None) == "–"
    assert format_energy(12_400.0) == "12.40 MWh"
    assert format_value(0.853, "1") == "85.3 %"
    assert format_value(23.44, "degC") == "23.4 °C"
    assert format_value(41.234, "USD MWh-1") == "41.2 USD/MWh"
    assert format_value(2.5e6, "W") == "2.500 MW"
    assert axis_title("Electricity price", "USD MWh-1") == "Electricity price [USD/MWh]"
    assert "degC" not in label("inlet_temperature") and "°C" in label("inlet_temperature")


def test_floor_colours_are_anchored_on_the_ashrae_class() -> None:
    bands = {"air_class": "A2", "allowable": [10.0, 35.0], "recommended": [18.0, 27.0]}
    grid = {"quantity": "inlet_temperature", "units": "degC", "bands": {**bands, "limit": 27.0}}
    colours = floor_colours(grid)
    assert (colours["zmin"], colours["zmax"]) == (10.0, 35.0)  # not the data's range
    assert colours["colorbar"]["tickvals"] == [10.0, 18.0, 27.0, 35.0]
    assert "A2" in colours["colorbar"]["title"]["text"]
    stops = [s for s, _ in colours["colorscale"]]
    assert stops == sorted(stops) and stops[0] == 0.0 and stops[-1] == 1.0
    margin = floor_colours({**grid, "quantity": "margin", "units": "K"})
    assert margin["zmin"] == -8.0 and margin["zmax"] == 17.0  # limit − hot .. limit − cold
    assert floor_colours({"quantity": "liquid_share", "units": "1"})["zmax"] == 1.0


def test_identical_lines_are_one_trace_with_a_readable_name() -> None:
    assert merged_name(["CRAH-1", "CRAH-2", "CRAH-3", "CRAH-4"]) == "CRAH-1…4 (identical)"
    assert merged_name(["CRAH-9", "CRAH-10"]) == "CRAH-9…10 (identical)"
    assert merged_name(["CRAH-1", "CRAH-3"]) == "CRAH-1, CRAH-3 (identical)"
    assert merged_name(["CDU-1"]) == "CDU-1"
    groups = identical_groups({"CRAH-1": [18.0, 19.0], "CRAH-2": [18.0, 19.0], "CDU-1": [30.0]})
    assert groups == [("CRAH-1…2 (identical)", [18.0, 19.0]), ("CDU-1", [30.0])]


@pytest.mark.parametrize(
    "values", [[18.0, 23.1], [13.0, 18.98], [0.5, 251.0], [214.0, 467.5], [-3.0, 2.0], [7.0, 7.0]]
)
def test_secondary_axes_get_aligned_round_ticks(values: list[float]) -> None:
    axis = aligned_axis([*values, None])
    low, high = axis["range"]
    step = axis["dtick"]
    assert low <= min(values) and high >= max(values)
    assert high - low == pytest.approx(5 * step)  # every axis: 5 intervals, ticks aligned
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 6) in (1.0, 2.0, 2.5, 5.0)
    assert low / step == pytest.approx(round(low / step))  # ticks on multiples of the step
