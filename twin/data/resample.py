"""Resampling of time series onto a regular step by each variable's registry rule."""

from __future__ import annotations

import numpy as np
import xarray as xr

from twin.data.validation import (
    SeriesError,
    StepLike,
    TimeLike,
    format_step,
    format_time,
    resample_rule,
    set_time_attributes,
    time_step,
    utc_instant,
    validate_series,
)

__all__ = [
    "resample",
]

_NS = np.timedelta64(1, "ns")


def resample(
    ds: xr.Dataset,
    step: StepLike,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
) -> xr.Dataset:
    """Bring every variable onto a regular ``step`` by its registry rule.

    A source sample at ``t`` covers ``[t, t + Δ)``, so the data covers
    ``[first, last + Δ)``.  Output instants are ``start + k·step`` for ``k = 0..n-1`` with
    the window ``[start, end)``:

    * ``hold`` — the value of the source interval containing the new instant (hourly price
      → four equal 15-min values).  When coarsening this samples; it does not average.
    * ``interpolate`` — linear in time between samples; inside the last source interval,
      after the final sample, the last value is held.
    * ``mean`` — the time average of the piecewise-constant source over
      ``[τ, τ + step)``; when refining this equals hold.

    Parameters
    ----------
    ds
        Valid series (see :func:`~twin.data.validation.validate_series`) with at least 2 samples;
        every time-dependent variable must be registered.
    step
        New step: pandas offset string (``"15min"``, ``"1min"``, ``"1h"``) or timedelta.
    start
        First output instant (tz-aware); default the first sample.
    end
        End of the window, exclusive (tz-aware); must be a whole number of steps after
        ``start``.  Default: end of the data coverage, rounded down to a whole step.

    Returns
    -------
    xarray.Dataset
        Same variables and attrs on the new ``time`` axis.

    Raises
    ------
    SeriesError
        Invalid input series, a window outside the data coverage, an empty window or an
        ``end`` that is not a whole number of steps after ``start``.
    """
    name = str(ds.attrs.get("source", "dataset"))
    validate_series(ds, name=name)
    times = ds["time"].values.astype("datetime64[ns]")
    if times.size < 2:
        raise SeriesError(f"{name}: resample needs at least 2 samples")
    source_ns = int((times[1] - times[0]) / _NS)
    coverage_end = times[-1] + np.timedelta64(source_ns, "ns")
    new = time_step(step)
    new_ns = int(new.value)
    first = times[0] if start is None else utc_instant(start, "resample start")
    if end is None:
        count = int((coverage_end - first) / _NS) // new_ns
    else:
        stop = utc_instant(end, "resample end")
        span = int((stop - first) / _NS)
        if span <= 0:
            raise SeriesError(
                f"{name}: empty window: end {format_time(stop)} is not after start "
                f"{format_time(first)}"
            )
        if span % new_ns:
            raise SeriesError(
                f"{name}: window {format_time(first)}..{format_time(stop)} is not a whole number "
                f"of {format_step(new)} steps"
            )
        count = span // new_ns
    window_end = first + np.timedelta64(count * new_ns, "ns")
    if first < times[0] or window_end > coverage_end or count <= 0:
        raise SeriesError(
            f"{name}: requested window {format_time(first)}..{format_time(window_end)} is outside "
            f"the data, which covers {format_time(times[0])}..{format_time(coverage_end)}"
        )
    offsets = (first - times[0]) // _NS + np.arange(count, dtype=np.int64) * new_ns
    new_times = times[0] + offsets.astype("timedelta64[ns]")

    out = xr.Dataset(attrs=dict(ds.attrs))
    for var in ds.data_vars:
        da = ds[var]
        if "time" not in da.dims:
            out[var] = da
            continue
        ordered = da.transpose("time", ...)
        data = ordered.values.astype(np.float64)
        rule = resample_rule(str(var), name)
        if rule == "hold":
            values = _hold(data, offsets, source_ns)
        elif rule == "interpolate":
            values = _interpolate(data, offsets, source_ns)
        else:
            values = _interval_mean(data, offsets, source_ns, new_ns)
        coords = {key: coord for key, coord in ordered.coords.items() if "time" not in coord.dims}
        result = xr.DataArray(values, dims=ordered.dims, coords=coords, attrs=dict(da.attrs))
        out[var] = result.transpose(*da.dims)
    out = out.assign_coords(time=new_times)
    set_time_attributes(out)
    return out


def _broadcast(weights: np.ndarray, data: np.ndarray) -> np.ndarray:
    return weights.reshape(weights.shape + (1,) * (data.ndim - 1))


def _hold(data: np.ndarray, offsets: np.ndarray, source_ns: int) -> np.ndarray:
    return data[offsets // source_ns]


def _interpolate(data: np.ndarray, offsets: np.ndarray, source_ns: int) -> np.ndarray:
    index = offsets // source_ns
    weight = (offsets % source_ns) / source_ns
    last = data.shape[0] - 1
    weight = np.where(index >= last, 0.0, weight)
    following = np.minimum(index + 1, last)
    before = data[index]
    return before + (data[following] - before) * _broadcast(weight, data)


def _interval_mean(
    data: np.ndarray, offsets: np.ndarray, source_ns: int, new_ns: int
) -> np.ndarray:
    """Average of the step function ``data`` over ``[offset, offset + new_ns)``."""
    last = data.shape[0] - 1
    start_index, start_rest = offsets // source_ns, offsets % source_ns
    ends = offsets + new_ns
    end_index, end_rest = ends // source_ns, ends % source_ns
    inside = (end_index == start_index) | ((end_index == start_index + 1) & (end_rest == 0))
    cumulative = np.concatenate((np.zeros((1, *data.shape[1:])), np.cumsum(data, axis=0)))

    def integral(index: np.ndarray, rest: np.ndarray) -> np.ndarray:
        """∫ from the first sample to ``index·Δ + rest``, in units of value·Δ."""
        partial = data[np.minimum(index, last)] * _broadcast(rest / source_ns, data)
        return cumulative[index] + partial

    averaged = (integral(end_index, end_rest) - integral(start_index, start_rest)) * (
        source_ns / new_ns
    )
    return np.where(_broadcast(inside, data), data[np.minimum(start_index, last)], averaged)
