"""Physical constants and reference properties used across the models.

Values follow the EnergyPlus data-center examples where a choice exists, so the validation
cases reproduce EnergyPlus figures exactly.
"""

from __future__ import annotations

AIR_DENSITY = 1.2041
"""Dry air density at 20 °C, 101.325 kPa [kg/m³] (EnergyPlus ITE example)."""

AIR_SPECIFIC_HEAT = 1006.0
"""Specific heat of dry air at constant pressure [J/(kg·K)] (EnergyPlus ITE example)."""

AIR_VOLUMETRIC_HEAT_CAPACITY = AIR_DENSITY * AIR_SPECIFIC_HEAT
"""ρ·c_p of air [J/(m³·K)]; multiply by a volume flow [m³/s] to get a heat-capacity flow [W/K]."""

WATER_DENSITY = 997.0
"""Density of water at 25 °C [kg/m³]."""

WATER_SPECIFIC_HEAT = 4180.0
"""Specific heat of liquid water [J/(kg·K)]."""

STANDARD_PRESSURE = 101_325.0
"""Standard atmospheric pressure at sea level [Pa]."""

SECONDS_PER_HOUR = 3600.0
"""[s/h]"""

JOULES_PER_KWH = 3.6e6
"""[J/kWh]"""

WATTS_PER_KILOWATT = 1e3
"""[W/kW]"""
