"""The model-independent config machinery: typed sections, bounds, the config hash.

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
:func:`to_dict` is the inverse, as stored in a run directory. The mapping is
assembled from layers (a preset, a file, ``--set``): :mod:`driftlab.config.layers`;
what a run would take is estimated and checked by :mod:`driftlab.config.resources`.
Every value or key an error message echoes goes through :func:`show` or
:func:`clip`: escaped, and cut to :data:`SHOW_CHARS` characters. A batch of more
than :data:`MAX_NETWORKS` networks is refused by :func:`check_networks`.

The config hash (:func:`config_hash`, :func:`config_digest`) names a config:
its first 8 hex digits are the default run directory's suffix, and the sweep's
store will key its results on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import math
import operator
import sys
import typing
from collections.abc import Mapping, Sequence
from dataclasses import fields
from typing import Any

from driftlab.errors import ConfigError as ConfigError  # re-exported

MAX_STEPS = 2**31 - 1  # the step counter is an int32
DTYPES: tuple[str, ...] = ("float32", "float64")

MAX_SCALE = 1e6
"""Upper bound of every amplitude that has no natural ceiling (a learning rate, a
noise sd, a regulariser): a million times the unit scale of the models' data, far
beyond any run that learns, and small enough that its square stays finite in float32."""
MAX_SAMPLES = 1_000_000
"""Upper bound of a task's samples (and of the Hebbian model's inputs)."""
MAX_UNITS = 100_000
"""Upper bound of a layer's units: hidden units, Hebbian neurons, input and output sizes."""
MAX_RECORDS = 1_000_000
"""Upper bound of every ``log_points`` (log-spaced record points)."""
MAX_NETWORKS = 100_000
"""Most networks one run trains: the Cartesian product of its batch fields. A larger
sweep is several runs (and listing 10^8 networks alone would take tens of GiB)."""
SHOW_CHARS = 60
"""Most characters of a user's value or key an error message echoes."""

HASH_VERSION = 1
"""Version of :func:`canonical_dict`, the form the config hash is computed on."""


# --------------------------------------------------------------------------- echoing input


def _escaped(text: str, limit: int) -> tuple[str, bool]:
    """At most ``limit`` characters of ``text`` with every non-printable character
    escaped as Python writes it (``\\n``, ``\\x00``, ``\\u2028``), and whether it was cut."""
    head = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: limit + 1])
    return head[:limit], len(head) > limit or len(text) > limit


def clip(text: str, limit: int = SHOW_CHARS, *, tail: bool = False) -> str:
    """Text that a message echoes without quotes of its own (a key, a field path, a
    file name): escaped and cut (:func:`_escaped`), then ``...`` and its length; with
    ``tail``, ``...`` and its last ``limit`` characters (a path's file name)."""
    if tail and len(text) > limit:
        return f"...{_escaped(text[-limit:], limit)[0]}"
    head, cut = _escaped(text, limit)
    return f"{head}... ({len(text):,} characters)" if cut else head


def _brief(value: object, depth: int) -> str:
    """A bounded repr: a few items of a container, two levels deep; a huge integer by
    its number of digits (Python refuses to write one of more than 4,300)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        if value.bit_length() > 4 * SHOW_CHARS:
            return f"<an integer of about {int(value.bit_length() * math.log10(2)) + 1:,} digits>"
        return repr(value)
    if isinstance(value, str | bytes):
        return repr(value[: SHOW_CHARS + 1])
    if isinstance(value, Mapping):
        if depth >= 2:
            return "{...}"
        items = itertools.islice(value.items(), SHOW_CHARS // 4)
        inner = ", ".join(f"{_brief(k, depth + 1)}: {_brief(v, depth + 1)}" for k, v in items)
        return f"{{{inner}}}"
    if isinstance(value, list | tuple | set | frozenset):
        if depth >= 2:
            return "[...]"
        inner = ", ".join(_brief(v, depth + 1) for v in itertools.islice(value, SHOW_CHARS // 2))
        return f"[{inner}]"
    try:
        return repr(value)[: 4 * SHOW_CHARS]
    except Exception:  # a repr that fails is no reason for a traceback
        return f"<{type(value).__name__}>"


def show(value: object, limit: int = SHOW_CHARS) -> str:
    """A user's value as an error message echoes it: as Python writes it (strings
    quoted), control characters escaped, at most ``limit`` characters, then ``...``
    and its length, so that a message stays one short line whatever the input.

    >>> print(show("a\\nb"), show(1.5), show("x" * 70, limit=8))
    'a\\nb' 1.5 'xxxxxxxx'... (70 characters)
    """
    if isinstance(value, str):
        head, cut = _escaped(value, limit)
        return f"'{head}'... ({len(value):,} characters)" if cut else f"'{head}'"
    head, cut = _escaped(_brief(value, 0), limit)
    if not cut:
        return head
    size = len(value) if isinstance(value, Sequence | Mapping | set | frozenset) else None
    return f"{head}... ({size:,} items)" if size is not None else f"{head}..."


def show_bytes(n: float) -> str:
    """A size in binary units: ``53 GiB``, ``1.5 MiB``."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.3g} {unit}" if unit != "bytes" and n < 1000 else f"{n:.0f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def field_error(path: str, message: str) -> ConfigError:
    """The one-line error of a config field: ``config field 'PATH': MESSAGE``."""
    return ConfigError(f"config field '{clip(path)}': {message}")


# --------------------------------------------------------------------------- fields


def _check_range(path: str, value: float, meta: Mapping[str, Any], got: Any = None) -> None:
    """Check ``value`` against the bounds of ``meta``; an error shows ``got`` (the
    value as the user wrote it) when given, else ``value``."""
    shown = show(value if got is None else got)
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value <= lo if meta.get("strict") else value < lo):
        raise field_error(path, f"must be {'>' if meta.get('strict') else '>='} {lo}, got {shown}")
    if hi is not None and (value >= hi if meta.get("strict_max") else value > hi):
        raise field_error(
            path, f"must be {'<' if meta.get('strict_max') else '<='} {hi}, got {shown}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise field_error(path, f"must be finite, got {shown}")


def _number(path: str, value: Any, kind: type) -> int | float:
    """``value`` as a number of ``kind`` (int or float), not yet range-checked: a
    string that Python reads as a float is one (YAML 1.1 reads 1e-2 and 1e5 as
    strings), a bool is not, an int field takes a float only if it is integral."""
    number = value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            number = float(value)
    if isinstance(number, bool) or not isinstance(number, int | float):
        wanted = "an integer" if kind is int else "a number"
        raise field_error(path, f"expected {wanted}, got {show(value)}")
    if kind is int and isinstance(number, float) and not number.is_integer():
        raise field_error(path, f"expected an integer, got {show(value)}")
    return number


def _scalar(path: str, value: Any, kind: type, meta: Mapping[str, Any]) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise field_error(path, f"expected true or false, got {show(value)}")
        return value
    if kind is str:
        if not isinstance(value, str):
            raise field_error(path, f"expected a string, got {show(value)}")
        choices = meta.get("choices")
        if callable(choices):  # a registry that can grow (driftlab.rules.register_rule)
            choices = choices()
        if choices and value not in choices:
            raise field_error(path, f"got {show(value)}; allowed: {', '.join(choices)}")
        return value
    number = _number(path, value, kind)
    got = value if isinstance(value, str) else None  # "1e400", not the inf it reads as
    if kind is int:
        _check_range(path, number, meta, got)
        return int(number)
    try:
        converted = float(number)
    except OverflowError:  # an integer beyond every float: out of any range
        _check_range(path, number, meta, got)
        raise field_error(path, f"must be finite, got {show(number)}") from None
    _check_range(path, converted, meta, got)
    return converted + 0.0  # -0.0 becomes 0.0: one value, one config hash


def _field_type(cls: type, name: str) -> Any:
    return typing.get_type_hints(cls)[name]


def build_section(cls: type, raw: Mapping[str, Any], prefix: str) -> Any:
    """A frozen config dataclass ``cls`` from a mapping, every field checked against its
    metadata (choices, ranges, batch lists); nested dataclasses recursively. Errors
    name the field by its dotted path under ``prefix``."""
    where = prefix.rstrip(".")
    if not isinstance(raw, Mapping):
        if not where:
            raise ConfigError(f"config: expected a table of fields at the top, got {show(raw)}")
        raise field_error(where, f"expected a table of fields, got {show(raw)}")
    odd = [key for key in raw if not isinstance(key, str)]
    if odd:
        place = f"in '{clip(where)}'" if where else "at the top"
        raise ConfigError(
            f"config: key {show(odd[0])} {place} is not a string; keys are field names"
        )
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
    return f"field '{clip(path)}': {show(a)} there, {show(b)} here"


class Batched:
    """What a config whose batch fields train one network per combination has:
    its batch fields are the class's ``BATCH_FIELDS``, pairs (key in the dicts of
    :meth:`batch`, dotted config field), in a fixed order."""

    BATCH_FIELDS: typing.ClassVar[tuple[tuple[str, str], ...]] = ()

    def batch_axes(self) -> dict[str, tuple[float, ...]]:
        """The values of each batch field, by its dotted name, in ``BATCH_FIELDS`` order."""
        return {path: operator.attrgetter(path)(self) for _, path in self.BATCH_FIELDS}

    @property
    def n_networks(self) -> int:
        """Number of networks of the batch (the length of :meth:`batch`, not built)."""
        return math.prod(len(values) for values in self.batch_axes().values())

    def batch(self) -> list[dict[str, float]]:
        """One dict per network: the Cartesian product of the batch fields, in order."""
        names = [name for name, _ in self.BATCH_FIELDS]
        axes = self.batch_axes().values()
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def check_networks(axes: Mapping[str, int]) -> None:
    """Refuse a batch of more than :data:`MAX_NETWORKS` networks from the lengths of its
    batch fields (``axes``: dotted field -> number of values), before any list of the
    networks (their Cartesian product) is built."""
    total = math.prod(axes.values())
    if total <= MAX_NETWORKS:
        return
    entry = sys.getsizeof(dict.fromkeys(range(len(axes)))) + 8  # one dict in the list
    sizes = " x ".join(f"{path} {n:,}" for path, n in axes.items() if n > 1)
    raise ConfigError(
        f"config: the batch fields make {total:,} networks ({sizes}), more than the "
        f"{MAX_NETWORKS:,} one run may train (listing them alone would take about "
        f"{show_bytes(total * entry)} of memory); split the sweep into several runs"
    )


def _is_disabled(section: object) -> bool:
    enabled = getattr(type(section), "enabled", None)
    return isinstance(enabled, property) and not enabled.__get__(section)


def canonical_dict(cfg: object) -> dict[str, Any]:
    """The form of a config that its hash is computed on (version :data:`HASH_VERSION`):
    :func:`to_dict`, less every nested section that has an ``enabled`` property which
    is false (``record.hessian`` of the feed-forward model, off while both its
    ``every`` and ``log_points`` are 0, and ``record.tail``, off while its ``points``
    is 0), so that the settings of a switched-off
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
    reads it. A sweep names each run by its first 12 digits; run
    directories are named by its first 8 digits (:func:`config_hash`).
    """
    text = json.dumps(canonical_dict(cfg), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def config_hash(cfg: object) -> str:
    """Eight hex digits identifying a config: the start of :func:`config_digest`, the
    suffix of the default run directory (``runs/NAME-HASH``)."""
    return config_digest(cfg)[:8]
