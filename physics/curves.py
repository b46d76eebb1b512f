"""Performance curves of the EnergyPlus forms, clamped to their fitted input range.

:class:`BiquadraticCurve`, :class:`QuadraticCurve` and :class:`CubicCurve` are the
``Curve:Biquadratic``, ``Curve:Quadratic`` and ``Curve:Cubic`` objects of EnergyPlus: inputs
are clamped to the curve limits (as EnergyPlus does) and outputs optionally limited.  The
models that evaluate them (chillers in :mod:`physics.plant`, servers in :mod:`physics.ite`)
report clamping through :func:`warn_if_clamped`, one
:class:`~physics.warnings.CurveRangeWarning` per call naming each input outside its range.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from physics.warnings import CurveRangeWarning

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

__all__ = [
    "BiquadraticCurve",
    "CubicCurve",
    "CurveInput",
    "QuadraticCurve",
    "warn_if_clamped",
]


def _array(value: ArrayLike) -> FloatArray:
    return np.asarray(value, dtype=float)


def _limit_output(value: FloatArray, low: float | None, high: float | None) -> FloatArray:
    if low is not None:
        value = np.maximum(value, low)
    if high is not None:
        value = np.minimum(value, high)
    return value


class _OneInputCurve:
    """Evaluation shared by the one-input EnergyPlus curves (polynomial in x, input clamped).

    Subclasses are frozen dataclasses with ``coefficients`` (c0, c1, …), ``x_min``, ``x_max``,
    ``output_min`` and ``output_max``, and say how many coefficients they take.
    """

    coefficients: tuple[float, ...]
    x_min: float
    x_max: float
    output_min: float | None
    output_max: float | None
    _count: ClassVar[int]
    _kind: ClassVar[str]

    def __post_init__(self) -> None:
        """Validate the coefficient count and limits; store the coefficients as floats."""
        if len(self.coefficients) != self._count:
            raise ValueError(
                f"a {self._kind} curve needs {self._count} coefficients, got {self.coefficients}"
            )
        if not self.x_min <= self.x_max:
            raise ValueError(f"curve limits must be ordered: x {self.x_min}..{self.x_max}")
        object.__setattr__(self, "coefficients", tuple(float(c) for c in self.coefficients))

    def __call__(self, x: ArrayLike) -> FloatArray:
        """Evaluate the curve with the input clamped to the limits.

        Parameters
        ----------
        x
            Input [unit of x].

        Returns
        -------
        numpy.ndarray
            Curve value [-].
        """
        xc = np.clip(_array(x), self.x_min, self.x_max)
        value = np.zeros_like(xc)
        for c in reversed(self.coefficients):  # Horner: c0 + x·(c1 + x·(c2 + …))
            value = c + value * xc
        return _limit_output(np.asarray(value, dtype=float), self.output_min, self.output_max)

    def out_of_range(self, x: ArrayLike) -> BoolArray:
        """Which points are outside the input limits.

        Parameters
        ----------
        x
            Input [unit of x].

        Returns
        -------
        numpy.ndarray of bool
            True where x is outside its limits.
        """
        xa = _array(x)
        return np.asarray((xa < self.x_min) | (xa > self.x_max), dtype=bool)


@dataclass(frozen=True)
class BiquadraticCurve:
    """EnergyPlus ``Curve:Biquadratic``: f(x, y) = c0 + c1·x + c2·x² + c3·y + c4·y² + c5·x·y.

    Calling the curve clamps x and y to their limits before evaluating (EnergyPlus behaviour);
    :meth:`out_of_range` tells which points were clamped.

    Parameters
    ----------
    coefficients
        (c0, c1, c2, c3, c4, c5) [-, in the units of x and y].
    x_min, x_max
        Limits of the first input [unit of x].
    y_min, y_max
        Limits of the second input [unit of y].
    output_min, output_max
        Optional limits of the curve output [-]; ``None`` leaves that side open.
    """

    coefficients: tuple[float, float, float, float, float, float]
    x_min: float
    x_max: float
    y_min: float
    y_max: float
    output_min: float | None = None
    output_max: float | None = None

    def __post_init__(self) -> None:
        if len(self.coefficients) != 6:
            raise ValueError(f"a biquadratic curve needs 6 coefficients, got {self.coefficients}")
        if not (self.x_min <= self.x_max and self.y_min <= self.y_max):
            raise ValueError(
                f"curve limits must be ordered: x {self.x_min}..{self.x_max}, "
                f"y {self.y_min}..{self.y_max}"
            )
        object.__setattr__(self, "coefficients", tuple(float(c) for c in self.coefficients))

    def __call__(self, x: ArrayLike, y: ArrayLike) -> FloatArray:
        """Evaluate the curve with inputs clamped to the limits.

        Parameters
        ----------
        x
            First input [unit of x].
        y
            Second input [unit of y].

        Returns
        -------
        numpy.ndarray
            Curve value [-], shaped like the broadcast inputs.
        """
        xc = np.clip(_array(x), self.x_min, self.x_max)
        yc = np.clip(_array(y), self.y_min, self.y_max)
        c0, c1, c2, c3, c4, c5 = self.coefficients
        value = c0 + xc * (c1 + c2 * xc) + yc * (c3 + c4 * yc) + c5 * xc * yc
        return _limit_output(np.asarray(value, dtype=float), self.output_min, self.output_max)

    def out_of_range(self, x: ArrayLike, y: ArrayLike) -> BoolArray:
        """Which points have an input outside the limits (and are clamped when evaluated).

        Parameters
        ----------
        x
            First input [unit of x].
        y
            Second input [unit of y].

        Returns
        -------
        numpy.ndarray of bool
            True where x or y is outside its limits.
        """
        xa, ya = _array(x), _array(y)
        return np.asarray(
            (xa < self.x_min) | (xa > self.x_max) | (ya < self.y_min) | (ya > self.y_max),
            dtype=bool,
        )


@dataclass(frozen=True)
class QuadraticCurve(_OneInputCurve):
    """EnergyPlus ``Curve:Quadratic``: f(x) = c0 + c1·x + c2·x², input clamped to its limits.

    Parameters
    ----------
    coefficients
        (c0, c1, c2) [-, in the unit of x].
    x_min, x_max
        Input limits [unit of x].
    output_min, output_max
        Optional limits of the curve output [-].
    """

    coefficients: tuple[float, float, float]
    x_min: float
    x_max: float
    output_min: float | None = None
    output_max: float | None = None

    _count: ClassVar[int] = 3
    _kind: ClassVar[str] = "quadratic"


@dataclass(frozen=True)
class CubicCurve(_OneInputCurve):
    """EnergyPlus ``Curve:Cubic``: f(x) = c0 + c1·x + c2·x² + c3·x³, input clamped.

    Parameters
    ----------
    coefficients
        (c0, c1, c2, c3) [-, in the unit of x].
    x_min, x_max
        Input limits [unit of x].
    output_min, output_max
        Optional limits of the curve output [-].
    """

    coefficients: tuple[float, float, float, float]
    x_min: float
    x_max: float
    output_min: float | None = None
    output_max: float | None = None

    _count: ClassVar[int] = 4
    _kind: ClassVar[str] = "cubic"


@dataclass(frozen=True)
class CurveInput:
    """One curve input checked against its limits, for :func:`warn_if_clamped`.

    Parameters
    ----------
    name
        Full-word name of the input, e.g. ``"leaving chilled water temperature"``.
    values
        Input values [unit].
    low, high
        Limits of the curve for this input [unit].
    unit
        Unit label used in the message, e.g. ``"°C"`` or ``""``.
    """

    name: str
    values: FloatArray
    low: float
    high: float
    unit: str = ""


def warn_if_clamped(context: str, inputs: Sequence[CurveInput], used: ArrayLike = True) -> None:
    """Emit one :class:`CurveRangeWarning` naming every input that went outside its limits.

    Parameters
    ----------
    context
        What was evaluated, e.g. ``"Chiller 'McQuay WSC'"``.
    inputs
        The curve inputs to check.
    used
        Mask of the points where the curves were actually used (e.g. load > 0); points
        outside it are ignored.
    """
    parts = []
    for item in inputs:
        values, mask = np.broadcast_arrays(item.values, np.asarray(used, dtype=bool))
        seen = values[mask & ~np.isnan(values)]
        outside = (seen < item.low) | (seen > item.high)
        if seen.size and outside.any():
            unit = f" {item.unit}" if item.unit else ""
            parts.append(
                f"{item.name} seen {seen.min():.4g} to {seen.max():.4g}{unit}, limits "
                f"{item.low:.4g} to {item.high:.4g}{unit} ({int(outside.sum())} of "
                f"{seen.size} points clamped)"
            )
    if parts:
        warnings.warn(
            f"{context}: performance-curve inputs outside the fitted range were clamped to its "
            f"limits: {'; '.join(parts)}",
            CurveRangeWarning,
            stacklevel=2,
        )
