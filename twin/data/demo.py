"""Deterministic, realistic-looking demo series and the shipped demo week."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr

from twin.data.csv import write_series_csv
from twin.data.validation import (
    SeriesError,
    StepLike,
    TimeLike,
    format_step,
    series_dataset,
    time_step,
    utc_instant,
)

__all__ = [
    "DEMO_START",
    "generate_demo_series",
    "write_demo_data",
]

DEMO_START = "2026-07-06T00:00Z"
"""Start of the shipped demo week ``data/demo-week.csv`` (a Monday in summer) [UTC]."""


@dataclass(frozen=True)
class _Climate:
    latitude: float  # [deg north]
    annual_mean: float  # [degC]
    seasonal_amplitude: float  # [K]
    diurnal_amplitude: float  # [K]
    dew_point_depression: float  # [K]
    cloudiness: tuple[float, float]  # Beta(a, b) of daily cloud fraction


_CLIMATES = {
    "temperate": _Climate(48.0, 11.0, 9.0, 5.0, 6.0, (1.2, 2.2)),
    "hot": _Climate(33.4, 24.0, 10.5, 7.5, 18.0, (0.6, 4.0)),
    "cold": _Climate(60.0, 4.0, 11.0, 3.5, 3.5, (2.0, 2.0)),
}


def _red_noise(
    rng: np.random.Generator, count: int, sigma: float, time_constant: float, step: float
) -> np.ndarray:
    """Stationary AR(1) noise with standard deviation ``sigma`` and ``time_constant`` [s]."""
    import scipy.signal  # here: SciPy's signal package also imports scipy.stats (0.4 CPU-s)

    phi = math.exp(-step / time_constant)
    shocks = rng.standard_normal(count) * sigma * math.sqrt(1.0 - phi * phi)
    shocks[0] = shocks[0] / math.sqrt(1.0 - phi * phi)  # start in the stationary state
    return np.asarray(scipy.signal.lfilter([1.0], [1.0, -phi], shocks), dtype=np.float64)


def generate_demo_series(
    start: TimeLike,
    days: int = 7,
    step: StepLike = "15min",
    seed: int = 0,
    climate: Literal["temperate", "hot", "cold"] = "temperate",
) -> xr.Dataset:
    """Deterministic, realistic-looking exogenous series for demos and tests.

    Local solar time is taken equal to UTC (a site near 0° longitude); the climate sets the
    latitude (48°, 33.4°, 60° N), temperatures and cloudiness.  The same arguments give
    bit-identical output (``numpy.random.default_rng(seed)``, fixed draw order).

    * ``price`` [USD MWh-1]: weekday/weekend base, morning and evening peaks, a midday dip
      with PV output (occasionally negative on sunny weekends), evening spikes on some
      days, cooling-demand uplift on hot afternoons; mostly 10–300, floor −20.
    * ``carbon_intensity`` [g kW-1 h-1]: 150–500, lowest at sunny middays, gas-fired
      evening bump.
    * ``outdoor_temperature`` [degC]: seasonal mean + diurnal cosine (max 15:00) damped
      on cloudy days + day-to-day weather anomaly + red noise.
    * ``relative_humidity`` [%]: from a slowly varying dew point (Magnus formula).
    * ``pv_capacity_factor`` [1]: clear-sky bell from the solar elevation, peak ≈ 0.85,
      reduced by clouds; 0 at night.
    * ``cpu_load`` [1]: inference-like diurnal 0.35–0.85, lower at weekends.

    Parameters
    ----------
    start
        First instant (tz-aware).
    days
        Length [d]; must be a whole number of ``step``.
    step
        Time step, e.g. ``"15min"``.
    seed
        Seed of the random generator.
    climate
        ``"temperate"``, ``"hot"`` (desert) or ``"cold"`` (Nordic).

    Returns
    -------
    xarray.Dataset
        The six variables above on a regular UTC ``time`` axis.
    """
    if climate not in _CLIMATES:
        raise SeriesError(f"climate must be one of {sorted(_CLIMATES)}, got {climate!r}")
    if days <= 0:
        raise SeriesError(f"days must be positive, got {days}")
    site = _CLIMATES[climate]
    first = utc_instant(start, "generate_demo_series start")
    spacing = time_step(step)
    total = pd.Timedelta(days=days)
    if total.value % spacing.value:
        raise SeriesError(f"{days} days is not a whole number of {format_step(spacing)} steps")
    calendar = _calendar(first, spacing, total.value // spacing.value)
    rng = np.random.default_rng(seed)
    # the draws happen in this order: sun, weather, price, carbon, load
    pv, daily_cloud = _photovoltaics(site, calendar, rng)
    temperature, humidity = _weather(site, calendar, daily_cloud, rng)
    values = {
        "price": _price(calendar, pv, temperature, rng),
        "carbon_intensity": _carbon_intensity(calendar, pv, rng),
        "outdoor_temperature": temperature,
        "relative_humidity": humidity,
        "pv_capacity_factor": pv,
        "cpu_load": _cpu_load(calendar, rng),
    }
    attrs = {
        "source": "twin.data.demo.generate_demo_series",
        "title": f"dctwin demo series ({climate}, seed {seed})",
        "climate": climate,
        "seed": seed,
    }
    return series_dataset(calendar.times, values, attrs)


@dataclass(frozen=True)
class _Calendar:
    """The instants of a demo series and where each falls in the day, week and year."""

    times: np.ndarray
    """Instants, ``datetime64[ns]`` naive UTC."""
    step: float
    """Time step [s]."""
    hour: np.ndarray
    """Hour of the day, with fractions [h]."""
    day_of_year: np.ndarray
    """Day of the year, with fractions [d]."""
    weekend: np.ndarray
    """Whether the instant falls on a Saturday or Sunday."""
    day: np.ndarray
    """Day index from the first day [-]."""
    day_count: int
    """Days touched by the series [-]."""

    @property
    def count(self) -> int:
        """Number of instants [-]."""
        return int(self.times.size)


def _calendar(first: np.datetime64, spacing: pd.Timedelta, count: int) -> _Calendar:
    """``count`` instants every ``spacing`` from ``first`` (naive UTC)."""
    times = first + np.arange(count, dtype=np.int64) * np.timedelta64(spacing.value, "ns")
    index = pd.DatetimeIndex(times)
    hour = index.hour.to_numpy() + index.minute.to_numpy() / 60.0 + index.second.to_numpy() / 3600.0
    day = ((times - times[0].astype("datetime64[D]")) // np.timedelta64(1, "D")).astype(int)
    return _Calendar(
        times=times,
        step=spacing.total_seconds(),
        hour=hour,
        day_of_year=index.day_of_year.to_numpy() + hour / 24.0,
        weekend=index.day_of_week.to_numpy() >= 5,
        day=day,
        day_count=int(day[-1]) + 1,
    )


def _photovoltaics(
    site: _Climate, calendar: _Calendar, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """PV capacity factor [1] from the solar elevation and clouds, and each day's cloud
    fraction [1]."""
    hour, day, dt = calendar.hour, calendar.day, calendar.step
    declination = np.radians(23.44) * np.sin(2.0 * np.pi * (284.0 + calendar.day_of_year) / 365.0)
    latitude = np.radians(site.latitude)
    hour_angle = np.radians(15.0 * (hour - 12.0))
    sin_elevation = np.sin(latitude) * np.sin(declination) + np.cos(latitude) * np.cos(
        declination
    ) * np.cos(hour_angle)
    clear_sky = 0.85 * np.clip(sin_elevation, 0.0, None) ** 1.3
    daily_cloud = rng.beta(*site.cloudiness, size=calendar.day_count)
    noise = _red_noise(rng, calendar.count, 0.15, 2 * 3600.0, dt)
    cloud = np.clip(daily_cloud[day] + noise, 0.0, 1.0)
    return clear_sky * (1.0 - 0.75 * cloud), daily_cloud


def _weather(
    site: _Climate, calendar: _Calendar, daily_cloud: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Outdoor temperature [degC] and relative humidity [%] (dew point by the Magnus formula)."""
    hour, day, day_count, dt = calendar.hour, calendar.day, calendar.day_count, calendar.step
    season = site.annual_mean + site.seasonal_amplitude * np.cos(
        2.0 * np.pi * (calendar.day_of_year - 200.0) / 365.25
    )
    anomaly_days = _red_noise(rng, day_count + 1, 2.0, 3 * 86400.0, 86400.0)
    anomaly = np.interp(day + hour / 24.0, np.arange(day_count + 1), anomaly_days)
    diurnal = site.diurnal_amplitude * (1.0 - 0.5 * daily_cloud[day])
    temperature = (
        season
        + anomaly
        + diurnal * np.cos(2.0 * np.pi * (hour - 15.0) / 24.0)
        + _red_noise(rng, calendar.count, 0.4, 3 * 3600.0, dt)
    )
    dew_days = rng.normal(0.0, 1.5, size=day_count + 1)
    dew_point = np.minimum(
        season
        + anomaly
        - site.dew_point_depression
        + np.interp(day + hour / 24.0, np.arange(day_count + 1), dew_days),
        temperature,
    )
    magnus_a, magnus_b = 17.62, 243.12
    humidity = 100.0 * np.exp(
        magnus_a * dew_point / (magnus_b + dew_point)
        - magnus_a * temperature / (magnus_b + temperature)
    )
    return temperature, np.clip(humidity, 3.0, 100.0)


def _price(
    calendar: _Calendar, pv: np.ndarray, temperature: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Wholesale price [USD MWh-1]: daily peaks, a PV dip, hot-afternoon uplift, spikes."""
    hour, day, day_count = calendar.hour, calendar.day, calendar.day_count
    spike_day = rng.random(day_count) < 0.25
    spike_size = rng.uniform(60.0, 180.0, size=day_count)
    price = (
        np.where(calendar.weekend, 40.0, 55.0)
        + 22.0 * np.exp(-0.5 * ((hour - 8.0) / 1.5) ** 2)
        + 45.0 * np.exp(-0.5 * ((hour - 19.0) / 1.8) ** 2)
        - 70.0 * (pv / 0.85) ** 1.5
        + 1.5 * np.clip(temperature - 25.0, 0.0, None)
        + np.where(spike_day, spike_size, 0.0)[day] * np.exp(-0.5 * ((hour - 19.5) / 0.75) ** 2)
        + _red_noise(rng, calendar.count, 5.0, 3 * 3600.0, calendar.step)
    )
    return np.clip(price, -20.0, 300.0)


def _carbon_intensity(calendar: _Calendar, pv: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Grid carbon intensity [g kW-1 h-1]: lowest at sunny middays, gas-fired evening bump."""
    carbon = (
        np.where(calendar.weekend, 395.0, 420.0)
        - 260.0 * pv
        + 35.0 * np.exp(-0.5 * ((calendar.hour - 19.0) / 2.0) ** 2)
        + _red_noise(rng, calendar.count, 12.0, 6 * 3600.0, calendar.step)
    )
    return np.clip(carbon, 150.0, 500.0)


def _cpu_load(calendar: _Calendar, rng: np.random.Generator) -> np.ndarray:
    """Inference-like CPU load [1]: diurnal 0.35–0.85, lower at weekends."""
    cpu = (
        0.6
        + 0.17 * np.cos(2.0 * np.pi * (calendar.hour - 15.0) / 24.0)
        - 0.06 * calendar.weekend
        + _red_noise(rng, calendar.count, 0.025, 3600.0, calendar.step)
    )
    return np.clip(cpu, 0.35, 0.85)


def write_demo_data(path: str | Path) -> Path:
    """Write the shipped demo week ``data/demo-week.csv``.

    Seven days of 15-min :func:`generate_demo_series` (seed 0, temperate) from
    :data:`DEMO_START` (Monday 2026-07-06 00:00 UTC), 4 decimals.

    Parameters
    ----------
    path
        Output file.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    ds = generate_demo_series(DEMO_START, days=7, step="15min", seed=0, climate="temperate")
    return write_series_csv(ds, path, decimals=4)
