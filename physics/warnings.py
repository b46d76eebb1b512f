"""Warning classes raised by the physics layer.

Library code never prints: conditions a user should know about (a curve evaluated outside its
fitted range, a clamp, a non-converged iteration) are emitted as these warnings and, where a
simulation runs many steps, also counted in the result so nothing is lost.
"""

from __future__ import annotations


class DCTwinWarning(UserWarning):
    """Base class of every warning dctwin emits."""


class CurveRangeWarning(DCTwinWarning):
    """A performance curve was evaluated outside its fitted input range and was clamped."""


class ConvergenceWarning(DCTwinWarning):
    """An iterative solution did not converge to its tolerance within its iteration budget."""
