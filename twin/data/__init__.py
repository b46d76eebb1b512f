"""Exogenous time series: loaders for public formats, validation, resampling, CSV, the demo
generator and a scenario's series on its time axis.

Every function of :mod:`twin.data.loaders`, :mod:`twin.data.validation`,
:mod:`twin.data.resample`, :mod:`twin.data.csv` and :mod:`twin.data.demo` returns an
:class:`xarray.Dataset` with a single ``time`` coordinate of UTC instants, stored as
timezone-naive ``datetime64[ns]`` **in UTC** (xarray cannot hold tz-aware indexes;
``ds.time.attrs`` says ``timezone="UTC"``).  Data variables are named and given CF attributes
from :mod:`physics.variables`.

Time convention
---------------
A sample at instant ``t`` with step ``Δ`` describes the interval ``[t, t + Δ)`` for ``hold``
and ``mean`` variables (prices, carbon intensity, loads) and the value *at* ``t`` for
``interpolate`` variables (weather).  The data therefore *covers* ``[first, last + Δ)``.

Times given to public functions must be tz-aware (``"2026-07-06T00:00Z"``,
``datetime(..., tzinfo=UTC)``, ``pd.Timestamp(..., tz="UTC")``); naive times are rejected
with :class:`twin.data.validation.SeriesError`.  Formats that store local time (Open-Meteo,
EPW) carry their own UTC offset, which the loaders apply.
"""
