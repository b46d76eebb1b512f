"""Baselines every plan is compared with: *as operated* and *rule-based*.

The rules are described in :mod:`optimizer.baselines.policy`.
"""

from optimizer.baselines.policy import (
    RuleBasedResult,
    as_operated,
    effective_price,
    from_setpoints_in_force,
    rule_based,
)

__all__ = [
    "RuleBasedResult",
    "as_operated",
    "effective_price",
    "from_setpoints_in_force",
    "rule_based",
]
