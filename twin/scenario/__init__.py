"""A facility and its study as a validated scenario: schema, units, checks, readable errors, the
compile step to :class:`physics.facility.Facility`, measurement points and synthetic halls.

The names most users need are re-exported here (code inside the project imports the concrete
modules): :class:`Scenario` (:mod:`twin.scenario.schema`), and :func:`load_scenario`,
:func:`parse_scenario`, :func:`scenario_from_dict`, :func:`json_schema`, :func:`strict_yaml` and
:class:`ScenarioError` (:mod:`twin.scenario.loader`).
"""

from twin.scenario.loader import (
    ScenarioError,
    json_schema,
    load_scenario,
    parse_scenario,
    scenario_from_dict,
    strict_yaml,
)
from twin.scenario.schema import Scenario

__all__ = [
    "Scenario",
    "ScenarioError",
    "json_schema",
    "load_scenario",
    "parse_scenario",
    "scenario_from_dict",
    "strict_yaml",
]
