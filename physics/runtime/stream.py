"""Per-equipment series of a long simulation written to a NetCDF-4 file as windows finish.

:func:`physics.simulate.simulate` with ``store=path`` hands every chunk's per-equipment series
(time × rack, unit, cdu, busbar, ups, feed) to a :class:`SeriesWriter`, which copies them into
window buffers allocated once and writes each full window to the file.  The simulation's
memory then no longer grows with the horizon: a year of 1,000 racks keeps 280 MB per
time × rack series in memory otherwise, and touching that much new memory costs more than
the simulation itself on some virtual machines (docs/benchmarks.md).  The values written
are the values the in-memory run keeps, bit for bit (``tests/physics/test_stream.py``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Mapping
from typing import Any

import h5netcdf
import numpy as np
import xarray as xr

from physics.variables import VARIABLES

__all__ = ["WINDOW_BYTES", "SeriesWriter", "complete_store"]

WINDOW_BYTES = 8 * 2**20
"""Target size of one window buffer of the widest series [B]: large enough that each write
to the file is one HDF5 chunk of a few MB, small enough that the buffers of every series
together stay near 100 MB for 1,000 racks."""


class SeriesWriter:
    """Writes per-equipment series, chunk after chunk, into a NetCDF-4 file.

    Parameters
    ----------
    path
        File to create (overwritten) [-].
    coords
        The result's coordinates, written first: ``time`` (UTC, datetime64) and the equipment
        dimensions with their ids [-].
    dims
        Equipment dimension of every series that may be written, by name [-].
    window
        Steps buffered per series before a write; also the HDF5 chunk length [-].
    single
        Series stored in float32 (flags among them as bool) instead of float64 [-].
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        coords: Mapping[str, Any],
        dims: Mapping[str, str],
        window: int,
        single: Collection[str],
    ) -> None:
        self.path = os.fspath(path)
        self._dims = dict(dims)
        self._single = frozenset(single)
        template = xr.Dataset(coords=coords)
        template["time"].attrs.update({"standard_name": "time", "timezone": "UTC"})
        template.attrs["Conventions"] = "CF-1.10"
        # a new file, not the old one truncated: a result still reading the old one (open
        # until its close()) keeps it, and HDF5 refuses to truncate a file open for reading
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path)
        template.to_netcdf(self.path, engine="h5netcdf")
        self._steps = int(template.sizes["time"])
        self._window = max(1, min(int(window), self._steps))
        self._file: h5netcdf.File | None = h5netcdf.File(self.path, "a")
        self._buffers: dict[str, np.ndarray[Any, Any]] = {}
        self._start = 0  # first step of the buffered window
        self._filled = 0  # steps buffered
        self._names: list[str] = []
        self._opened: xr.Dataset | None = None  # the file read back by :meth:`series`

    def _create(self, name: str, part: np.ndarray[Any, Any]) -> None:
        """The variable and the window buffer of series ``name`` (from its first chunk)."""
        dim = self._dims[name]
        width = part.shape[1]
        dtype: Any = np.float64
        if name in self._single:
            dtype = np.bool_ if part.dtype == np.bool_ else np.float32
        stored = np.int8 if dtype is np.bool_ else dtype  # NetCDF has no bool: xarray's coding
        chunks = (self._window, width) if width > 0 else None
        assert self._file is not None, "the writer is closed"
        variable = self._file.create_variable(name, ("time", dim), stored, chunks=chunks)
        attrs = dict(VARIABLES[name].attrs) if name in VARIABLES else {}
        if dtype is np.bool_:
            attrs["dtype"] = "bool"  # decoded back to bool by xarray
        variable.attrs.update(attrs)
        self._buffers[name] = np.empty((self._window, width), dtype=dtype)
        self._names.append(name)

    def add(self, values: Mapping[str, Any], start: int) -> None:
        """Append one chunk: arrays ``(T_chunk, N)`` by series name, from step ``start``.

        Chunks come in order and every chunk names the same series."""
        if start != self._start + self._filled:
            raise ValueError(
                f"chunks must come in order: expected step {self._start + self._filled}"
            )
        arrays = {name: np.asarray(part) for name, part in values.items()}
        for name, part in arrays.items():
            if name not in self._buffers:
                self._create(name, part)
        length = next(iter(arrays.values())).shape[0] if arrays else 0
        done = 0
        while done < length:
            take = min(length - done, self._window - self._filled)
            for name, part in arrays.items():
                self._buffers[name][self._filled : self._filled + take] = part[done : done + take]
            self._filled += take
            done += take
            if self._filled == self._window:
                self._flush()

    def _flush(self) -> None:
        """Write the buffered window to the file."""
        if self._filled and self._file is not None:
            rows = slice(self._start, self._start + self._filled)
            for name in self._names:
                buffer = self._buffers[name][: self._filled]
                if buffer.dtype == np.bool_:
                    buffer = buffer.view(np.int8)
                if buffer.size:
                    self._file.variables[name][rows, :] = buffer
        self._start += self._filled
        self._filled = 0

    def close(self) -> None:
        """Write what is buffered, close the file and free the buffers."""
        if self._file is not None:
            try:
                self._flush()
            finally:
                self._file.close()
                self._file = None
                self._buffers.clear()

    def series(self) -> dict[str, Any]:
        """The written series as lazy (Dask) arrays read from the file, by name.

        Call after :meth:`close`; each Dask chunk is one window of the file, which stays open
        for reading until :meth:`release`."""
        self._opened = xr.open_dataset(self.path, engine="h5netcdf", chunks={})
        return {name: self._opened[name].data for name in self._names}

    def release(self) -> None:
        """Close the file opened by :meth:`series` (its lazy arrays reopen it if read again)."""
        if self._opened is not None:
            self._opened.close()
            self._opened = None


def complete_store(result: xr.Dataset, path: str | os.PathLike[str]) -> None:
    """Append the rest of a streamed simulation result to its ``store`` file.

    After ``result = simulate(..., store=path)`` the file holds only the per-equipment
    series; this appends every variable the result holds in memory (the facility series, the
    schedule's setpoints and workloads, the passed-through exogenous series) and the result's
    attributes, so that the file alone holds the whole result, the same values as
    ``result.to_netcdf(path)`` of an in-memory run.  The result is closed first (HDF5 does
    not open a file for writing while this process reads it); its lazy series reopen the
    file if read again.

    Parameters
    ----------
    result
        What :func:`physics.simulate.simulate` returned with ``store=path`` [-].
    path
        That file [-].
    """
    in_memory = [name for name, variable in result.data_vars.items() if variable.chunks is None]
    result.close()
    result[in_memory].to_netcdf(path, mode="a", engine="h5netcdf")
