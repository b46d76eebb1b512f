"""Heat-transfer fluids of the liquid loops: water and propylene glycol 25 %.

Specific heat, density, thermal conductivity and dynamic viscosity against temperature are
the tables of the EnergyPlus glycol
reference data set (``datasets/GlycolPropertiesRefData.idf``, the data EnergyPlus builds in
as ``Water`` and ``PropyleneGlycol``; 5 K steps).  EnergyPlus tabulates propylene glycol
at mass concentrations 0.1, 0.2, … 0.9 and interpolates linearly in concentration; PG25 is
therefore the mean of its 20 % and 30 % columns, exactly what EnergyPlus evaluates for a
``FluidProperties:GlycolConcentration`` of 0.25.  Between table temperatures the properties
are interpolated linearly (also as EnergyPlus does); outside the table they are held at the
end values.

Conductivity and viscosity set the film coefficient of a fluid in an exchanger channel.  By
Dittus–Boelter, ``Nu = 0.023·Re^0.8·Pr^0.4`` (turbulent, fluid heated; Incropera & DeWitt,
*Fundamentals of Heat and Mass Transfer*, eq. 8.60), so in the same channel at the same
velocity (the same volume flow)

    h = (k/D)·0.023·(ρ·v·D/μ)^0.8·(c_p·μ/k)^0.4  ∝  k^0.6 · ρ^0.8 · c_p^0.4 · μ^−0.4

and :func:`film_coefficient_ratio` is this product for one fluid over another
(water over PG25 at 30 °C: 1.64).

Loops run at constant properties in this package: each exchanger evaluates its fluids once,
at its rated mean temperature (see :class:`physics.liquid.cdu.CDUBank`), which keeps the
models linear in load.  Over 20–50 °C the specific heat of water varies by 0.1 % and that of
PG25 by 1.5 %.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]

__all__ = ["FLUIDS", "PG25", "WATER", "Fluid", "film_coefficient_ratio", "fluid"]

_TEMPERATURES = np.arange(0.0, 126.0, 5.0)
"""Table temperatures 0–125 °C in 5 K steps (the EnergyPlus ``GlycolTemperatures`` from
0 °C; the columns below 0 °C are empty for water and omitted here for the glycol too)."""

_WATER_SPECIFIC_HEAT = (
    4218, 4204, 4194, 4187, 4183, 4180, 4179, 4178, 4179, 4179, 4181, 4182, 4184,
    4187, 4189, 4193, 4196, 4200, 4204, 4210, 4215, 4221, 4228, 4235, 4243, 4252,
)  # fmt: skip
_WATER_DENSITY = (
    1000.0, 1000.0, 999.8, 999.2, 998.3, 997.2, 995.8, 994.2, 992.3, 990.3, 988.2, 985.8,
    983.3, 980.7, 977.9, 975.0, 971.9, 968.8, 965.5, 962.0, 958.5, 954.8, 951.1, 947.2,
    943.2, 939.1,
)  # fmt: skip
_PG20_SPECIFIC_HEAT = (
    3929, 3940, 3951, 3962, 3973, 3983, 3994, 4005, 4016, 4027, 4038, 4049, 4060,
    4071, 4082, 4093, 4104, 4115, 4126, 4136, 4147, 4158, 4169, 4180, 4191, 4202,
)  # fmt: skip
_PG30_SPECIFIC_HEAT = (
    3793, 3807, 3820, 3834, 3848, 3862, 3875, 3889, 3903, 3917, 3930, 3944, 3958,
    3972, 3985, 3999, 4013, 4027, 4040, 4054, 4068, 4082, 4095, 4109, 4123, 4137,
)  # fmt: skip
_PG20_DENSITY = (
    1026.0, 1024.0, 1023.0, 1021.0, 1019.0, 1017.0, 1015.0, 1013.0, 1010.0, 1008.0, 1005.0,
    1002.0, 999.3, 996.3, 993.1, 989.8, 986.4, 982.9, 979.2, 975.5, 971.6, 967.5, 963.4,
    959.1, 954.7, 950.1,
)  # fmt: skip
_WATER_CONDUCTIVITY = (
    0.5612, 0.5707, 0.5802, 0.5895, 0.5986, 0.6073, 0.6156, 0.6235, 0.6308, 0.6375, 0.6437,
    0.6494, 0.6545, 0.6592, 0.6633, 0.6669, 0.6702, 0.6730, 0.6754, 0.6775, 0.6793, 0.6807,
    0.6818, 0.6827, 0.6833, 0.6837,
)  # fmt: skip
_PG20_CONDUCTIVITY = (
    0.464, 0.472, 0.479, 0.485, 0.492, 0.498, 0.503, 0.508, 0.513, 0.518, 0.522, 0.526, 0.529,
    0.532, 0.535, 0.538, 0.540, 0.541, 0.543, 0.544, 0.544, 0.544, 0.544, 0.544, 0.543, 0.542,
)  # fmt: skip
_PG30_CONDUCTIVITY = (
    0.423, 0.429, 0.434, 0.440, 0.445, 0.449, 0.454, 0.458, 0.462, 0.466, 0.469, 0.472, 0.475,
    0.477, 0.479, 0.481, 0.482, 0.484, 0.484, 0.485, 0.485, 0.485, 0.485, 0.485, 0.484, 0.482,
)  # fmt: skip
_WATER_VISCOSITY = (
    1.791e-3, 1.518e-3, 1.306e-3, 1.137e-3, 1.001e-3, 0.8900e-3, 0.7973e-3, 0.7193e-3,
    0.6530e-3, 0.5961e-3, 0.5469e-3, 0.5040e-3, 0.4665e-3, 0.4333e-3, 0.4040e-3, 0.3778e-3,
    0.3544e-3, 0.3334e-3, 0.3145e-3, 0.2974e-3, 0.2818e-3, 0.2677e-3, 0.2548e-3, 0.2430e-3,
    0.2321e-3, 0.2221e-3,
)  # fmt: skip
_PG20_VISCOSITY = (
    4.05e-3, 3.34e-3, 2.79e-3, 2.36e-3, 2.02e-3, 1.74e-3, 1.52e-3, 1.34e-3, 1.18e-3, 1.06e-3,
    0.95e-3, 0.86e-3, 0.78e-3, 0.71e-3, 0.66e-3, 0.60e-3, 0.56e-3, 0.52e-3, 0.49e-3, 0.45e-3,
    0.43e-3, 0.40e-3, 0.38e-3, 0.36e-3, 0.34e-3, 0.32e-3,
)  # fmt: skip
_PG30_VISCOSITY = (
    7.08e-3, 5.61e-3, 4.52e-3, 3.69e-3, 3.06e-3, 2.57e-3, 2.18e-3, 1.88e-3, 1.63e-3, 1.43e-3,
    1.26e-3, 1.13e-3, 1.01e-3, 0.91e-3, 0.83e-3, 0.76e-3, 0.70e-3, 0.65e-3, 0.61e-3, 0.57e-3,
    0.53e-3, 0.50e-3, 0.47e-3, 0.45e-3, 0.43e-3, 0.41e-3,
)  # fmt: skip
_PG30_DENSITY = (
    1036.0, 1034.0, 1033.0, 1030.0, 1028.0, 1026.0, 1024.0, 1021.0, 1018.0, 1016.0, 1013.0,
    1010.0, 1006.0, 1003.0, 999.7, 996.1, 992.4, 988.6, 984.7, 980.6, 976.4, 972.0, 967.6,
    963.0, 958.3, 953.4,
)  # fmt: skip


@dataclass(frozen=True)
class Fluid:
    """A liquid with tabulated specific heat and density.

    Parameters
    ----------
    name
        Name used in scenarios and messages, e.g. ``"water"``.
    temperatures
        Table temperatures, increasing [°C].
    specific_heats
        Specific heat at each table temperature [J/(kg·K)].
    densities
        Density at each table temperature [kg/m³].
    conductivities
        Thermal conductivity at each table temperature [W/(m·K)] (empty: unknown).
    viscosities
        Dynamic viscosity at each table temperature [Pa·s] (empty: unknown).
    source
        Where the table comes from.
    """

    name: str
    temperatures: tuple[float, ...]
    specific_heats: tuple[float, ...]
    densities: tuple[float, ...]
    source: str = ""
    conductivities: tuple[float, ...] = ()
    viscosities: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        sizes = {len(self.temperatures), len(self.specific_heats), len(self.densities)}
        sizes |= {len(t) for t in (self.conductivities, self.viscosities) if t}
        if len(sizes) != 1 or not self.temperatures:
            raise ValueError(f"fluid {self.name!r}: the property tables differ in length")
        if np.any(np.diff(self.temperatures) <= 0):
            raise ValueError(f"fluid {self.name!r}: table temperatures must increase")

    def specific_heat(self, temperature: ArrayLike) -> FloatArray:
        """Specific heat at ``temperature`` [°C], interpolated linearly [J/(kg·K)]."""
        points = np.asarray(temperature, dtype=float)
        return np.asarray(np.interp(points, self.temperatures, self.specific_heats), dtype=float)

    def density(self, temperature: ArrayLike) -> FloatArray:
        """Density at ``temperature`` [°C], interpolated linearly [kg/m³]."""
        points = np.asarray(temperature, dtype=float)
        return np.asarray(np.interp(points, self.temperatures, self.densities), dtype=float)

    def conductivity(self, temperature: ArrayLike) -> FloatArray:
        """Thermal conductivity at ``temperature`` [°C], interpolated linearly [W/(m·K)]."""
        if not self.conductivities:
            raise ValueError(f"fluid {self.name!r} has no conductivity table")
        points = np.asarray(temperature, dtype=float)
        return np.asarray(np.interp(points, self.temperatures, self.conductivities), dtype=float)

    def viscosity(self, temperature: ArrayLike) -> FloatArray:
        """Dynamic viscosity at ``temperature`` [°C], interpolated linearly [Pa·s]."""
        if not self.viscosities:
            raise ValueError(f"fluid {self.name!r} has no viscosity table")
        points = np.asarray(temperature, dtype=float)
        return np.asarray(np.interp(points, self.temperatures, self.viscosities), dtype=float)

    def volumetric_heat_capacity(self, temperature: ArrayLike) -> FloatArray:
        """ρ·c_p at ``temperature`` [°C] [J/(m³·K)]: times a volume flow [m³/s] gives W/K."""
        return self.density(temperature) * self.specific_heat(temperature)


WATER = Fluid(
    "water",
    tuple(_TEMPERATURES),
    tuple(float(v) for v in _WATER_SPECIFIC_HEAT),
    _WATER_DENSITY,
    "EnergyPlus GlycolPropertiesRefData.idf, Water (concentration 0)",
    _WATER_CONDUCTIVITY,
    _WATER_VISCOSITY,
)
"""Water, 0–125 °C (EnergyPlus reference data)."""

PG25 = Fluid(
    "pg25",
    tuple(_TEMPERATURES),
    tuple((a + b) / 2.0 for a, b in zip(_PG20_SPECIFIC_HEAT, _PG30_SPECIFIC_HEAT, strict=True)),
    tuple((a + b) / 2.0 for a, b in zip(_PG20_DENSITY, _PG30_DENSITY, strict=True)),
    "EnergyPlus GlycolPropertiesRefData.idf, PropyleneGlycol 0.2 and 0.3 interpolated to 0.25",
    tuple((a + b) / 2.0 for a, b in zip(_PG20_CONDUCTIVITY, _PG30_CONDUCTIVITY, strict=True)),
    tuple((a + b) / 2.0 for a, b in zip(_PG20_VISCOSITY, _PG30_VISCOSITY, strict=True)),
)
"""Propylene glycol 25 % by mass in water, 0–125 °C (EnergyPlus reference data)."""

FLUIDS: dict[str, Fluid] = {WATER.name: WATER, PG25.name: PG25}
"""The fluids a scenario may name."""


def fluid(name: str) -> Fluid:
    """The fluid called ``name``.

    Parameters
    ----------
    name
        ``"water"`` or ``"pg25"``.

    Returns
    -------
    Fluid

    Raises
    ------
    KeyError
        For an unknown name, naming the known ones.
    """
    try:
        return FLUIDS[name]
    except KeyError:
        raise KeyError(f"unknown fluid {name!r}; known: {', '.join(sorted(FLUIDS))}") from None


def film_coefficient_ratio(fluid_a: Fluid, fluid_b: Fluid, temperature: float) -> float:
    """Film coefficient of ``fluid_a`` over that of ``fluid_b`` in the same channel at the
    same velocity, by Dittus–Boelter (module docstring) [-].

    Parameters
    ----------
    fluid_a, fluid_b
        Fluids with conductivity and viscosity tables.
    temperature
        Temperature both are evaluated at [°C].

    Returns
    -------
    float
        ``(k^0.6·ρ^0.8·c_p^0.4·μ^−0.4)_a / (…)_b`` [-].
    """

    def group(item: Fluid) -> float:
        return float(
            item.conductivity(temperature) ** 0.6
            * item.density(temperature) ** 0.8
            * item.specific_heat(temperature) ** 0.4
            * item.viscosity(temperature) ** -0.4
        )

    return group(fluid_a) / group(fluid_b)
