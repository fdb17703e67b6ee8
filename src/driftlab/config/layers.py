"""A run's config as layers: a named preset, a YAML or TOML file, ``--set`` overrides.

Hostile input ends in one line, never a traceback: a file is read as bytes and
decoded strictly (UTF-8), parsed by :class:`StrictLoader` (a key given twice is
refused, not silently dropped) or ``tomllib``, and every layer is then walked by
:func:`check_tree` (string keys only, at most :data:`MAX_DEPTH` levels and
:data:`MAX_NODES` values). The layers are merged, last wins
(:func:`layered_mapping`), and :func:`field_source` says which layer set a field.
"""

from __future__ import annotations

import stat
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from driftlab.config.schema import SHOW_CHARS, clip, field_error, show
from driftlab.errors import ConfigError

MAX_DEPTH = 32
"""Deepest nesting of tables and lists a config layer may have (the schema needs 4)."""
MAX_NODES = 1_000_000
"""Most values (tables, lists and scalars, counted as often as YAML aliases repeat
them) a config layer may have."""
MAX_FILE_BYTES = 10 * 2**20
"""Largest config file read (10 MiB)."""


# --------------------------------------------------------------------------- reading layers

_YamlLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when installed
_MERGE_TAG = "tag:yaml.org,2002:merge"


class RefusalError(ConstructorError):
    """YAML that parses, but that :class:`StrictLoader` refuses (its message needs no
    "cannot be parsed")."""


def _at(mark: Any) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}"


class StrictLoader(_YamlLoader):  # type: ignore[misc]
    """YAML's safe loader, refusing what it would otherwise lose or crash on: a key
    given twice in one mapping (the last would silently win), a scalar Python cannot
    read (an integer of more than 4,300 digits, the 13th month)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value if isinstance(node, yaml.MappingNode) else ():
            if key_node.tag == _MERGE_TAG:  # "<<: *base" may be overridden by design
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:  # unhashable: the base class reports it
                continue
            if first is not key_node:
                raise RefusalError(
                    None,
                    None,
                    f"key {show(key)} appears twice (at {_at(first.start_mark)} and "
                    f"{_at(key_node.start_mark)}); give it once",
                )
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as err:
            if node.tag == "tag:yaml.org,2002:int":
                problem = (
                    f"an integer of {len(node.value):,} characters: more than the "
                    f"{sys.get_int_max_str_digits():,} digits Python reads"
                )
            else:
                problem = f"a value that cannot be read: {clip(str(err))}"
            raise RefusalError(None, None, problem, node.start_mark) from None


def _yaml_problem(err: yaml.YAMLError) -> str:
    """The one line of a YAML error: its problem and where (no quoted context lines)."""
    if isinstance(err, yaml.MarkedYAMLError) and err.problem:
        where = f" ({_at(err.problem_mark)})" if err.problem_mark is not None else ""
        context = f"{err.context}, " if err.context else ""
        problem = f"{clip(context + err.problem, 3 * SHOW_CHARS)}{where}"
        return problem if isinstance(err, RefusalError) else f"cannot be parsed: {problem}"
    first = (str(err).splitlines() or [type(err).__name__])[0]
    return f"cannot be parsed: {clip(first, 3 * SHOW_CHARS)}"


def _nested_too_deep(where: str) -> ConfigError:
    return ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")


def parse_text(text: str, *, toml: bool, where: str) -> Any:
    """The data of a TOML or YAML (:class:`StrictLoader`) text; a one-line
    :class:`ConfigError` beginning with ``where`` if it cannot be read."""
    try:
        return tomllib.loads(text) if toml else yaml.load(text, Loader=StrictLoader)
    except RecursionError:
        raise _nested_too_deep(where) from None
    except tomllib.TOMLDecodeError as err:
        first = (str(err).splitlines() or ["invalid TOML"])[0]
        raise ConfigError(f"{where}: cannot be parsed: {clip(first, 3 * SHOW_CHARS)}") from None
    except ValueError as err:  # tomllib: an integer of more than 4,300 digits
        problem = clip(str(err), 3 * SHOW_CHARS)
        if "integer string conversion" in problem:
            problem = (
                f"an integer of more than the {sys.get_int_max_str_digits():,} digits Python reads"
            )
        raise ConfigError(f"{where}: cannot be parsed: {problem}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: {_yaml_problem(err)}") from None


@dataclass(frozen=True)
class _Place:
    """Where a value sits in a layer: its key (or list index) and its parent's place;
    rendered (:meth:`dotted`) only for an error message."""

    key: str
    parent: _Place | None = None

    def dotted(self) -> str:
        parts: list[str] = []
        place: _Place | None = self
        while place is not None:
            parts.append(place.key)
            place = place.parent
        return ".".join(reversed(parts)).replace(".[", "[")


def check_tree(data: Any, where: str) -> None:
    """Refuse a layer the config machinery could not walk safely: a key that is not a
    string (YAML reads ``1:``, ``~:`` and ``true:`` as others), nesting deeper than
    :data:`MAX_DEPTH`, more than :data:`MAX_NODES` values (YAML aliases can repeat one
    list exponentially, or make it contain itself). Iterative: no recursion limit."""
    stack: list[tuple[Any, int, _Place | None]] = [(data, 0, None)]
    count = 0
    while stack:
        node, depth, place = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ConfigError(f"{where}: more than {MAX_NODES:,} values")
        if depth > MAX_DEPTH:
            raise _nested_too_deep(where)
        if isinstance(node, Mapping):
            for key, value in node.items():
                if not isinstance(key, str):
                    inside = f"in '{clip(place.dotted())}'" if place else "at the top"
                    raise ConfigError(
                        f"{where}: key {show(key)} {inside} is not a string; keys are field names"
                    )
                stack.append((value, depth + 1, _Place(key, place)))
        elif isinstance(node, list | tuple | set | frozenset):
            stack.extend((v, depth + 1, _Place(f"[{i}]", place)) for i, v in enumerate(node))


def _mapping_at_top(data: Any, where: str) -> dict[str, Any]:
    """A loaded layer as a mapping of fields (empty for an empty file), checked by
    :func:`check_tree`."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of fields at the top, got {show(data)}")
    check_tree(data, where)
    return data


def _read_bytes(path: Path, where: str) -> bytes:
    """The bytes of a regular file of at most :data:`MAX_FILE_BYTES`."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{where}: not found") from None
    except (OSError, ValueError) as err:  # ValueError: a NUL in the name
        raise _unreadable(where, err) from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{where}: not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise ConfigError(
            f"{where}: {info.st_size:,} bytes, more than the {MAX_FILE_BYTES:,} a config "
            "file may have"
        )
    try:
        return path.read_bytes()
    except OSError as err:
        raise _unreadable(where, err) from None


def _unreadable(where: str, err: Exception) -> ConfigError:
    reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return ConfigError(f"{where}: cannot be read: {clip(reason)}")


def decode_text(raw: bytes, where: str) -> str:
    """UTF-8 text (a leading byte-order mark dropped), strictly: any other encoding is
    an error naming the first byte that is not UTF-8."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"{where}: not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start:,})"
        ) from None


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml, .yml) or TOML (.toml) config file into a mapping."""
    path = Path(path)
    where = f"config file '{clip(str(path), 2 * SHOW_CHARS, tail=True)}'"
    text = decode_text(_read_bytes(path, where), where)
    data = parse_text(text, toml=path.suffix == ".toml", where=where)
    return _mapping_at_top(data, where)


def load_named_preset(name: str, allowed: Sequence[str]) -> dict[str, Any]:
    """The mapping of preset ``name``, one of ``allowed``: ``presets/NAME.yaml`` of the
    ``driftlab`` package."""
    if name not in allowed:
        raise ConfigError(f"preset {show(name)}: unknown; allowed: {', '.join(allowed)}")
    where = f"preset '{name}'"
    text = resources.files("driftlab").joinpath(f"presets/{name}.yaml").read_text("utf-8")
    return _mapping_at_top(parse_text(text, toml=False, where=where), where)


def override_value(text: str, where: str) -> Any:
    """The value of a ``--set key=TEXT``: TEXT read as YAML (:class:`StrictLoader`), or
    TEXT itself where it is not YAML (``[1, 2``); a key given twice, an unreadable
    scalar or too deep a nesting is an error."""
    if not text:
        return ""
    try:
        value = yaml.load(text, Loader=StrictLoader)
    except RecursionError:
        raise _nested_too_deep(where) from None
    except RefusalError as err:
        raise ConfigError(f"{where}: {_yaml_problem(err)}") from None
    except yaml.YAMLError:
        return text
    check_tree(value, where)
    return value


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one ``dotted.key=value`` override (value parsed as YAML) in place."""
    key, sep, text = assignment.partition("=")
    where = f"--set '{clip(assignment)}'"
    try:  # a command line's bytes that are not UTF-8 reach Python as lone surrogates
        assignment.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ConfigError(
            f"{where}: not UTF-8 text (character {show(assignment[err.start])} at "
            f"offset {err.start:,})"
        ) from None
    if not sep or not key:
        raise ConfigError(f"{where}: expected key=value, e.g. train.steps=1000")
    parts = key.split(".")
    if len(parts) > MAX_DEPTH:
        raise _nested_too_deep(where)
    value = override_value(text, where)
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise field_error(key, f"'{clip(part)}' is a value, not a table")
        node = child
    node[parts[-1]] = value


def merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _preset_name(preset: str | None, default_preset: str) -> str:
    """The preset a run starts from: ``preset``, or ``default_preset`` when none is
    given (None; an empty name is an unknown preset, not the default)."""
    return default_preset if preset is None else preset


def layered_mapping(
    config_file: str | Path | None,
    *,
    preset: str | None,
    overrides: Sequence[str],
    load_preset: Callable[[str], dict[str, Any]],
    default_preset: str,
) -> dict[str, Any]:
    """The raw mapping of a run, not yet validated: the preset (``default_preset`` when
    neither a preset nor a file is given), deep-merged with the file, then each
    ``--set`` override applied in order."""
    raw: dict[str, Any] = {}
    if preset is not None or config_file is None:
        raw = load_preset(_preset_name(preset, default_preset))
    if config_file is not None:
        raw = merge(raw, load_file(config_file))
    for assignment in overrides:
        apply_override(raw, assignment)
    return raw


def preset_layers(
    config_file: str | Path | None,
    *,
    preset: str | None,
    overrides: Sequence[str],
    load_preset: Callable[[str], dict[str, Any]],
    default_preset: str,
) -> list[tuple[str, dict[str, Any]]]:
    """The layers :func:`layered_mapping` merges, last wins: (name, mapping) for the
    preset (``preset NAME``), the file (``file NAME``) and each ``--set`` (``--set``)."""
    layers: list[tuple[str, dict[str, Any]]] = []
    if preset is not None or config_file is None:
        name = _preset_name(preset, default_preset)
        layers.append((f"preset {name}", load_preset(name)))
    if config_file is not None:
        layers.append((f"file {Path(config_file).name}", load_file(config_file)))
    for assignment in overrides:
        raw: dict[str, Any] = {}
        apply_override(raw, assignment)
        layers.append(("--set", raw))
    return layers


def field_source(path: str, layers: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Which of the layers (:func:`preset_layers`) set the field ``path`` (dotted) last:
    its name, or ``default`` when none did."""
    for layer, raw in layers[::-1]:
        node: object = raw
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                break
            node = node[part]
        else:
            return layer
        if not isinstance(node, Mapping):  # a whole section set by this layer
            return layer
    return "default"
