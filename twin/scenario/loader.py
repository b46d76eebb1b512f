"""Reading scenario files: strict YAML, validation and readable errors.

``load_scenario(path)`` returns a validated :class:`~twin.scenario.schema.Scenario` or raises
:class:`ScenarioError` holding one message per problem, each naming the field path, the value
and what was expected (pydantic's errors through :mod:`twin.scenario.errors`, then the
cross-reference checks of :mod:`twin.scenario.checks`).

The YAML reader never hangs and never traces back, whatever the text: files are read only
when regular and at most :data:`MAX_SCENARIO_BYTES` long; documents nested deeper than
:data:`MAX_DEPTH` are refused before they are built (the builder recurses), and so are those
whose aliases would expand beyond :data:`MAX_EXPANDED_NODES` nodes ("billion laughs") or loop
on themselves; an impossible timestamp (``2026-13-45``) is kept as text, so that validation
reports it with its field path.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from twin.scenario.checks import reference_problems
from twin.scenario.errors import format_validation_error, shorten
from twin.scenario.schema import Scenario

MAX_SCENARIO_BYTES = 8 * 1024 * 1024
"""Largest scenario file read [bytes]."""
MAX_DEPTH = 32
"""Deepest nesting of mappings and lists in a scenario document [levels]."""
MAX_EXPANDED_NODES = 1_000_000
"""Most YAML nodes a document may hold once its aliases are expanded [nodes]."""


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
        raw = read_regular_file(Path(path), MAX_SCENARIO_BYTES)
    except OSError as exc:
        raise ScenarioError(source, [f"cannot read file: {exc.strerror or exc}"]) from None
    except ValueError as exc:
        raise ScenarioError(source, [str(exc)]) from None
    try:
        text = utf8_text(raw)
    except ValueError as exc:
        raise ScenarioError(source, [str(exc)]) from None
    scenario = parse_scenario(text, source=source)
    scenario._folder = Path(path).resolve().parent  # relative series paths start here
    return scenario


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes``.

    Devices (``/dev/zero``), FIFOs and folders are refused before anything is read (a FIFO
    is opened without blocking), and at most ``max_bytes + 1`` bytes are ever read.

    Parameters
    ----------
    path
        The file.
    max_bytes
        Largest size accepted [bytes].

    Raises
    ------
    OSError
        It cannot be opened (missing, no permission).
    ValueError
        Not a regular file, or larger than ``max_bytes`` (one line naming the limit).
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            kind = "a folder" if stat.S_ISDIR(mode) else "a device, FIFO or socket"
            raise ValueError(f"{path} is {kind}, not a regular file")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path} is larger than {max_bytes:,} bytes; refused")
    return data


def read_text_file(path: Path, max_bytes: int = MAX_SCENARIO_BYTES) -> str:
    """The UTF-8 text of ``path``, a regular file of at most ``max_bytes``
    (:func:`read_regular_file`): what every YAML or JSON file the CLI is given is read with.

    Parameters
    ----------
    path
        The file.
    max_bytes
        Largest size accepted [bytes].

    Raises
    ------
    OSError
        It cannot be opened (missing, no permission).
    ValueError
        Not a regular file, larger than ``max_bytes``, or not UTF-8 (one line).
    """
    raw = read_regular_file(path, max_bytes)
    try:
        return utf8_text(raw)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def utf8_text(raw: bytes) -> str:
    """``raw`` decoded as UTF-8; ``ValueError`` naming the first bad byte and its offset."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"
        ) from None


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


def _timestamp_or_text(loader: _Loader, node: yaml.ScalarNode) -> Any:
    """A YAML timestamp as a datetime, or its text when it is no real date (``2026-13-45``),
    so that validation names the field."""
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_text)

_OPENING = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSING = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` (read as events: nothing recurses)."""
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, _OPENING):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
                raise yaml.YAMLError(
                    f"nesting deeper than {MAX_DEPTH} levels{where}; a scenario is a few "
                    "levels deep"
                )
        elif isinstance(event, _CLOSING):
            depth -= 1


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand beyond :data:`MAX_EXPANDED_NODES` nodes or
    refer to themselves (each node is sized once: linear in the text)."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise yaml.YAMLError(
                f"an alias refers to a node that contains it (line {node.start_mark.line + 1}); "
                "expected a tree"
            )
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_nodes.discard(key)
        if total > MAX_EXPANDED_NODES:
            raise yaml.YAMLError(
                f"aliases expand the document beyond {MAX_EXPANDED_NODES:,} nodes "
                f"(line {node.start_mark.line + 1}); refused"
            )
        sizes[key] = total
        return total

    size(root)


def strict_yaml(text: str) -> Any:
    """YAML text as plain data (a safe loader) refusing a key given twice in one mapping.

    Also refused, before the document is built: nesting deeper than :data:`MAX_DEPTH` and
    aliases expanding beyond :data:`MAX_EXPANDED_NODES` nodes.  Raises :class:`yaml.YAMLError`
    (a duplicate key is a ``ConstructorError`` with its line).
    """
    _check_depth(text)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        _check_expansion(root)
        return loader.construct_document(root)
    finally:
        loader.dispose()


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Validate a scenario given as YAML text (see :func:`load_scenario`)."""
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(source, [f"longer than {MAX_SCENARIO_BYTES:,} characters; refused"])
    try:
        data = strict_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(source, [f"malformed YAML{where}: {problem}"]) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # a constructor's
        raise ScenarioError(source, [f"malformed YAML: {exc}"]) from None
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
