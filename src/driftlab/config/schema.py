"""The model-independent config machinery: typed sections, layers, the config hash.

A config section is a frozen dataclass whose fields carry their allowed values in
``dataclasses.field(metadata=...)``, as plain dicts with the keys

``min`` / ``max``
    bounds of a number, inclusive unless ``strict`` / ``strict_max`` is true;
``choices``
    the allowed strings (a tuple, or a callable returning one for a registry that
    can grow);
``batch``
    the field is a tuple: one value or a list in the mapping, each value checked;
``internal``
    set by the program, never by a config (not read, not written).

:func:`build_section` turns a nested mapping into such a dataclass, checking
every field; every error is one line naming the field (:class:`ConfigError`).
:func:`to_dict` is the inverse, as stored in a run directory. A mapping is
assembled from layers, last wins: a named preset (``src/driftlab/presets``), a
YAML or TOML file, and ``--set key=value`` overrides (:func:`layered_mapping`,
:func:`preset_layers`, :func:`field_source`).

The config hash (:func:`config_hash`, :func:`config_digest`) names a config:
its first 8 hex digits are the default run directory's suffix, and the sweep's
store will key its results on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

MAX_STEPS = 2**31 - 1  # the step counter is an int32
DTYPES: tuple[str, ...] = ("float32", "float64")

HASH_VERSION = 1
"""Version of :func:`canonical_dict`, the form the config hash is computed on."""


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the field."""


def field_error(path: str, message: str) -> ConfigError:
    """The one-line error of a config field: ``config field 'PATH': MESSAGE``."""
    return ConfigError(f"config field '{path}': {message}")


def _check_range(path: str, value: float, meta: Mapping[str, Any]) -> None:
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value <= lo if meta.get("strict") else value < lo):
        raise field_error(
            path, f"must be {'>' if meta.get('strict') else '>='} {lo}, got {value!r}"
        )
    if hi is not None and (value >= hi if meta.get("strict_max") else value > hi):
        raise field_error(
            path, f"must be {'<' if meta.get('strict_max') else '<='} {hi}, got {value!r}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise field_error(path, f"must be finite, got {value!r}")


def _scalar(path: str, value: Any, kind: type, meta: Mapping[str, Any]) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise field_error(path, f"expected true or false, got {value!r}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise field_error(path, f"expected a string, got {value!r}")
        choices = meta.get("choices")
        if callable(choices):  # a registry that can grow (driftlab.rules.register_rule)
            choices = choices()
        if choices and value not in choices:
            raise field_error(path, f"got {value!r}; allowed: {', '.join(choices)}")
        return value
    if isinstance(value, str):  # YAML 1.1 reads 1e-2 and 1e5 as strings
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise field_error(
            path, f"expected {'an integer' if kind is int else 'a number'}, got {value!r}"
        )
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise field_error(path, f"expected an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    _check_range(path, value, meta)
    return value


def _field_type(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def build_section(cls: type, raw: Mapping[str, Any], prefix: str) -> Any:
    """A frozen config dataclass ``cls`` from a mapping, every field checked against its
    metadata (choices, ranges, batch lists); nested dataclasses recursively. Errors
    name the field by its dotted path under ``prefix``."""
    if not isinstance(raw, Mapping):
        raise field_error(prefix.rstrip("."), f"expected a table of fields, got {raw!r}")
    known = {f.name: f for f in fields(cls) if not f.metadata.get("internal")}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise field_error(f"{prefix}{unknown[0]}", f"unknown; allowed: {', '.join(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        meta = known[name].metadata
        path = f"{prefix}{name}"
        kind = _field_type(cls, name)
        if dataclasses.is_dataclass(kind):
            kwargs[name] = build_section(kind, value, f"{path}.")  # type: ignore[arg-type]
        elif meta.get("batch"):
            items = value if isinstance(value, list | tuple) else [value]
            if not items:
                raise field_error(path, "expected a value or a non-empty list")
            elem = typing.get_args(kind)[0]
            kwargs[name] = tuple(_scalar(path, v, elem, meta) for v in items)
        else:
            kwargs[name] = _scalar(path, value, kind, meta)
    return cls(**kwargs)


def to_dict(cfg: Any) -> Any:
    """The plain nested dict of a config (tuples as lists), as stored in a run directory."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {
            f.name: to_dict(getattr(cfg, f.name))
            for f in fields(cfg)
            if not f.metadata.get("internal")
        }
    if isinstance(cfg, tuple):
        return [to_dict(v) for v in cfg]
    return cfg


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """The first field where two plain config dicts differ, as ``field 'x.y': A there, B here``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if a[key] != b.get(key):
                return first_difference(a[key], b.get(key), f"{path}.{key}" if path else key)
    return f"field '{path}': {a!r} there, {b!r} here"


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml, .yml) or TOML (.toml) config file into a mapping."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file '{path}': not found")
    text = path.read_text()
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
        first = str(err).splitlines()[0]
        raise ConfigError(f"config file '{path}': cannot be parsed: {first}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file '{path}': expected a mapping of fields at the top")
    return data


def load_named_preset(name: str, allowed: Sequence[str]) -> dict[str, Any]:
    """The mapping of preset ``name``, one of ``allowed``: ``presets/NAME.yaml`` of the
    ``driftlab`` package."""
    if name not in allowed:
        raise ConfigError(f"preset '{name}': unknown; allowed: {', '.join(allowed)}")
    text = resources.files("driftlab").joinpath(f"presets/{name}.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text) or {}
    return data


def apply_override(raw: dict[str, Any], assignment: str) -> None:
    """Apply one ``dotted.key=value`` override (value parsed as YAML) in place."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set '{assignment}': expected key=value, e.g. train.steps=1000")
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        value = text
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise field_error(key, f"'{part}' is a value, not a table")
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
        raw = load_preset(preset or default_preset)
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
        name = preset or default_preset
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


def _is_disabled(section: object) -> bool:
    enabled = getattr(type(section), "enabled", None)
    return isinstance(enabled, property) and not enabled.__get__(section)


def canonical_dict(cfg: object) -> dict[str, Any]:
    """The form of a config that its hash is computed on (version :data:`HASH_VERSION`):
    :func:`to_dict`, less every nested section that has an ``enabled`` property which
    is false (today only ``record.hessian`` of the feed-forward model, off while both
    its ``every`` and ``log_points`` are 0), so that the settings of a switched-off
    section do not name a run, and switching it on does."""
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise TypeError(f"expected a config dataclass, got {type(cfg).__name__}")

    def walk(section: object) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(section):  # type: ignore[arg-type]
            if f.metadata.get("internal"):
                continue
            value = getattr(section, f.name)
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                if not _is_disabled(value):
                    out[f.name] = walk(value)
            else:
                out[f.name] = to_dict(value)
        return out

    return walk(cfg)


def config_digest(cfg: object) -> str:
    """The full config hash: the sha256 (64 hex digits) of the JSON of
    :func:`canonical_dict` with sorted keys.

    Every field not marked ``internal`` is hashed, defaults included, for both
    models (:class:`driftlab.config.RunConfig`, ``driftlab.hebbian.config.HebbianConfig``),
    less the switched-off sections. :data:`HASH_VERSION` changes only when this
    canonical form changes (what is left out, the serialisation, the hash
    function); version 1 gives the names runs had before it was introduced. A new
    field with a default is part of the form already, so it changes every hash
    without a new version: the hash names a config as the program of its time
    reads it. The sweep's store will key its results on this digest; run
    directories are named by its first 8 digits (:func:`config_hash`).
    """
    text = json.dumps(canonical_dict(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def config_hash(cfg: object) -> str:
    """Eight hex digits identifying a config: the start of :func:`config_digest`, the
    suffix of the default run directory (``runs/NAME-HASH``)."""
    return config_digest(cfg)[:8]
