"""Reading scenario files: strict YAML, validation and readable errors.

``load_scenario(path)`` returns a validated :class:`~twin.scenario.schema.Scenario` or raises
:class:`ScenarioError` holding one message per problem, each naming the field path, the value
and what was expected (pydantic's errors through :mod:`twin.scenario.errors`, then the
cross-reference checks of :mod:`twin.scenario.checks`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from twin.scenario.checks import reference_problems
from twin.scenario.errors import format_validation_error, shorten
from twin.scenario.schema import Scenario


class ScenarioError(ValueError):
    """A scenario file could not be used; ``problems`` lists every issue found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        bullet = "\n  - ".join(problems)
        super().__init__(f"{source}: {len(problems)} problem(s):\n  - {bullet}")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file.

    Raises
    ------
    ScenarioError
        With one message per problem (YAML syntax, schema, cross-references).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(source, [f"cannot read file: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            source, [f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"]
        ) from None
    return parse_scenario(text, source=source)


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that refuses a key given twice in one mapping (instead of keeping
    the last silently)."""


def _mapping_without_duplicates(loader: _Loader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.setdefault(key, key_node.start_mark.line + 1)
        except TypeError:  # unhashable key: the constructor reports it
            continue
        if first != key_node.start_mark.line + 1:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first given at line {first}); expected each key once",
                key_node.start_mark,
            )
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)


def strict_yaml(text: str) -> Any:
    """YAML text as plain data (a safe loader) refusing a key given twice in one mapping.

    Raises :class:`yaml.YAMLError` (a duplicate key is a ``ConstructorError`` with its line).
    """
    return yaml.load(text, Loader=_Loader)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as YAML text (see :func:`load_scenario`)."""
    try:
        data = strict_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(source, [f"malformed YAML at {where}{problem}"]) from None
    if data is None:
        raise ScenarioError(source, ["the file is empty; expected a mapping of sections"])
    if not isinstance(data, dict):
        raise ScenarioError(
            source,
            [
                "(top level): expected a mapping of sections (site:, simulation:, ...), got "
                f"{type(data).__name__} {shorten(data)}"
            ],
        )
    return scenario_from_dict(data, source=source)


def scenario_from_dict(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as a dict (see :func:`load_scenario`)."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, format_validation_error(exc, data, Scenario)) from None
    problems = reference_problems(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


def json_schema() -> dict[str, Any]:
    """The JSON Schema of scenario files."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "dctwin scenario"
    return schema
