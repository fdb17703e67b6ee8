"""Run configuration: validated once, at the edge, into frozen typed objects.

A config is a nested mapping (YAML or TOML file, preset, ``--set key=value``
overrides) turned into :class:`RunConfig` by :func:`parse_config`. Every error
names the field and what is allowed, as one line (:class:`ConfigError`).

Batch fields (``seed``, ``train.lr``, ``noise.update.sd``, ``noise.label.sd``,
``noise.label.width``, ``noise.input.sd``) take one value or a list; the run
trains one network for every combination (their Cartesian product), all in one
compiled program.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from driftlab.divergence import RULES as DIVERGENCE_RULES
from driftlab.model import ACTIVATIONS, REGIMES
from driftlab.noise import GENERATORS
from driftlab.rules import RULES
from driftlab.tasks.abstract import ABSTRACT_KINDS, ABSTRACT_SCALINGS, AbstractParams
from driftlab.tasks.corridor import (
    SCALINGS,
    TEXTURE_MAPPINGS,
    VELOCITY_INPUTS,
    CorridorParams,
)


class ConfigError(ValueError):
    """A configuration value is not allowed; the message names the field."""


def _choice(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _positive() -> dict[str, Any]:
    return {"min": 0.0, "strict": True}


def _nonneg() -> dict[str, Any]:
    return {"min": 0.0}


def _batch(**meta: Any) -> dict[str, Any]:
    return {"batch": True, **meta}


TASKS: tuple[str, ...] = ("corridor", *ABSTRACT_KINDS)
MAX_STEPS = 2**31 - 1  # the step counter is an int32
UPDATE_FORMS: tuple[str, ...] = ("gradient", "parameter")
LABEL_KINDS: tuple[str, ...] = ("gaussian", "uniform")
DTYPES: tuple[str, ...] = ("float32", "float64")
HESSIAN_METHODS: tuple[str, ...] = ("auto", "dense", "lanczos")

_CORRIDOR_META: dict[str, dict[str, Any]] = {
    "L_x": _positive(),
    "L_y": _positive(),
    "L_vis": {"min": 2},
    "theta_vis": {"min": 0.0, "strict": True, "max": math.pi / 2},
    "V0": _positive(),
    "speed_sd": _nonneg(),
    "sigma_theta": _nonneg(),
    "K_smooth": _positive(),
    "buffer_x": {"min": 0.0, "max": 0.5},
    "buffer_y": {"min": 0.0, "max": 0.5, "strict_max": True},
    "n_samples": {"min": 2},
    "texture_mapping": _choice(*TEXTURE_MAPPINGS),
    "velocity_input": _choice(*VELOCITY_INPUTS),
    "scale": _choice(*SCALINGS),
}


_ABSTRACT_META: dict[str, dict[str, Any]] = {
    "kind": {"internal": True},  # set from task.name
    "d_in": {"min": 1},
    "d_out": {"min": 1},
    "n_samples": {"min": 2},
    "ring": {"min": 2},
    "texture_sd": _positive(),
    "field_of_view": _positive(),
    "step_scale": _nonneg(),
    "scale": _choice(*ABSTRACT_SCALINGS),
}


@dataclass(frozen=True)
class TaskConfig:
    """Which task, and its parameters: ``corridor`` (Figure 2 defaults) for the
    corridor task, ``abstract`` (d_in, d_out, n_samples, ...) for the others."""

    name: str = field(default="corridor", metadata=_choice(*TASKS))
    corridor: CorridorParams = field(default_factory=CorridorParams)
    abstract: AbstractParams = field(default_factory=AbstractParams)

    @property
    def n_samples(self) -> int:
        """Number of samples of the chosen task."""
        return self.corridor.n_samples if self.name == "corridor" else self.abstract.n_samples


@dataclass(frozen=True)
class ModelConfig:
    """The network of eq. 1: hidden size, activation, initialisation regime, float type."""

    hidden: int = field(default=500, metadata={"min": 1})
    activation: str = field(default="relu", metadata=_choice(*ACTIVATIONS))
    init: str = field(default="lazy", metadata=_choice(*REGIMES))
    dtype: str = field(default="float32", metadata=_choice(*DTYPES))


@dataclass(frozen=True)
class TrainConfig:
    """Learning rule (driftlab.rules), learning rate(s), number of steps; the
    mini-batch size of rule ``sgd`` (0: every sample) and the perturbation scale of
    the ``sed`` rules; when a network counts as diverged (driftlab.divergence:
    ``persistent``, a loss above 10 var(y) or all units silent must last
    ``divergence_window`` steps, or ``authors``, at once)."""

    rule: str = field(default="gd", metadata={"choices": lambda: tuple(RULES)})
    lr: tuple[float, ...] = field(default=(0.1,), metadata=_batch(min=0.0, strict=True))
    steps: int = field(default=1_000_000, metadata={"min": 1, "max": MAX_STEPS})
    batch_size: int = field(default=0, metadata={"min": 0})
    sed_sigma: float = field(default=0.1, metadata=_positive())
    divergence: str = field(default="persistent", metadata=_choice(*DIVERGENCE_RULES))
    divergence_window: int = field(default=1000, metadata={"min": 1, "max": MAX_STEPS})


@dataclass(frozen=True)
class UpdateNoise:
    """Update noise of sd ``sd``: on the gradient before the step (the authors' code)
    or on the parameters after it (paper eq. 3)."""

    form: str = field(default="gradient", metadata=_choice(*UPDATE_FORMS))
    sd: tuple[float, ...] = field(default=(0.0,), metadata=_batch(min=0.0))


@dataclass(frozen=True)
class LabelNoise:
    """Label noise redrawn every step: Gaussian of sd ``sd`` (paper eq. 6) or uniform
    (U[0,1) - 1/2) * ``width`` (the authors' code; variance width^2 / 12)."""

    kind: str = field(default="gaussian", metadata=_choice(*LABEL_KINDS))
    sd: tuple[float, ...] = field(default=(0.0,), metadata=_batch(min=0.0))
    width: tuple[float, ...] = field(default=(0.0,), metadata=_batch(min=0.0))


@dataclass(frozen=True)
class InputNoise:
    """Gaussian input noise of sd ``sd`` redrawn every step (the authors' code; off by default)."""

    sd: tuple[float, ...] = field(default=(0.0,), metadata=_batch(min=0.0))


@dataclass(frozen=True)
class NoiseConfig:
    update: UpdateNoise = field(default_factory=UpdateNoise)
    label: LabelNoise = field(default_factory=LabelNoise)
    input: InputNoise = field(default_factory=InputNoise)
    generator: str = field(default="hash", metadata=_choice(*GENERATORS))


@dataclass(frozen=True)
class HessianRecord:
    """Hessian summaries (driftlab.hessian) at a schedule of their own: every
    ``every`` steps, else ``log_points`` log-spaced times; off when both are 0.

    ``method``: ``dense`` (the exact spectrum: count of eigenvalues with |lambda|
    above ``rtol`` times the largest, trace, max, sum of log nonzero; O(P^3)),
    ``lanczos`` (max by ``lanczos_steps`` Lanczos steps, trace by Hutchinson with
    ``hutchinson_samples`` probes; no count), or ``auto`` (dense up to ``dense_max``
    parameters). ``spectrum``: also store every dense spectrum (hessian.nc).
    Always computed in float64."""

    every: int = field(default=0, metadata={"min": 0})
    log_points: int = field(default=0, metadata={"min": 0})
    method: str = field(default="auto", metadata=_choice(*HESSIAN_METHODS))
    dense_max: int = field(default=5000, metadata={"min": 1})
    rtol: float = field(
        default=1e-7, metadata={"min": 0.0, "strict": True, "max": 1.0, "strict_max": True}
    )
    spectrum: bool = True
    lanczos_steps: int = field(default=80, metadata={"min": 2})
    hutchinson_samples: int = field(default=100, metadata={"min": 2})

    @property
    def enabled(self) -> bool:
        return bool(self.every or self.log_points)


@dataclass(frozen=True)
class RecordConfig:
    """When the host records, how many steps one compiled chunk runs at most, and
    what is stored. Records: every ``every`` steps when ``every`` > 0 (it wins),
    else ``log_points`` log-spaced times when > 0, else 100 evenly spaced times;
    always at step 0 and at the last step. Place units by a shuffle test: a unit
    whose spatial information beats the ``place_percentile``-th percentile of
    ``place_shuffles`` circular shifts of its activity (0: not recorded)."""

    every: int = field(default=0, metadata={"min": 0})
    log_points: int = field(default=0, metadata={"min": 0})
    chunk: int = field(default=10_000, metadata={"min": 1, "max": MAX_STEPS})
    hidden: bool = True
    params: bool = False
    place_shuffles: int = field(default=100, metadata={"min": 0, "max": 10_000})
    place_percentile: float = field(
        default=95.0, metadata={"min": 0.0, "strict": True, "max": 100.0, "strict_max": True}
    )
    hessian: HessianRecord = field(default_factory=HessianRecord)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run; two equal configs give bit-identical results."""

    seed: tuple[int, ...] = field(default=(0,), metadata=_batch(min=0, max=2**31 - 1))
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    record: RecordConfig = field(default_factory=RecordConfig)

    def batch(self) -> list[dict[str, float]]:
        """One dict per network: the Cartesian product of the batch fields, in a fixed order."""
        axes = {
            "seed": self.seed,
            "lr": self.train.lr,
            "update_sd": self.noise.update.sd,
            "label_sd": self.noise.label.sd,
            "label_width": self.noise.label.width,
            "input_sd": self.noise.input.sd,
        }
        names = list(axes)
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


_META_OVERRIDES: dict[type, dict[str, dict[str, Any]]] = {
    CorridorParams: _CORRIDOR_META,
    AbstractParams: _ABSTRACT_META,
}


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
    overrides = _META_OVERRIDES.get(cls, {})
    known = {
        f.name: f for f in fields(cls) if not overrides.get(f.name, f.metadata).get("internal")
    }
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise field_error(f"{prefix}{unknown[0]}", f"unknown; allowed: {', '.join(known)}")
    kwargs: dict[str, Any] = {}
    for name, value in raw.items():
        f = known[name]
        path = f"{prefix}{name}"
        meta = overrides.get(name, f.metadata)
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


def _check_consistency(cfg: RunConfig) -> None:
    corridor = cfg.task.corridor
    if corridor.n_tiles < corridor.L_vis:
        raise field_error(
            "task.corridor",
            f"the wall texture has n_tiles = round(2 (L_x + L_y) L_vis) = {corridor.n_tiles} "
            f"samples, fewer than the L_vis = {corridor.L_vis} rays: enlarge L_x + L_y",
        )
    update = cfg.noise.update
    if (
        not RULES[cfg.train.rule].uses_gradient
        and update.form == "gradient"
        and any(v != 0 for v in update.sd)
    ):
        raise field_error(
            "noise.update.form",
            f"gradient noise has no effect with train.rule {cfg.train.rule!r}, which uses no "
            "gradient; use form 'parameter'",
        )
    if cfg.train.batch_size and cfg.train.rule != "sgd":
        raise field_error("train.batch_size", "applies to train.rule 'sgd' only; leave it 0")
    if cfg.train.batch_size > cfg.task.n_samples:
        raise field_error(
            "train.batch_size",
            f"must be <= the number of samples ({cfg.task.n_samples}), got {cfg.train.batch_size}",
        )
    label = cfg.noise.label
    unused = "width" if label.kind == "gaussian" else "sd"
    if any(v != 0 for v in getattr(label, unused)):
        raise field_error(
            f"noise.label.{unused}",
            f"must be 0 when noise.label.kind is {label.kind!r} "
            f"(gaussian uses noise.label.sd, uniform uses noise.label.width)",
        )


def parse_config(raw: Mapping[str, Any]) -> RunConfig:
    """Validate a nested mapping into a :class:`RunConfig`; raises :class:`ConfigError`."""
    cfg: RunConfig = build_section(RunConfig, raw, "")
    if cfg.task.name != "corridor":  # the abstract task's kind is the task's name
        abstract = dataclasses.replace(cfg.task.abstract, kind=cfg.task.name)
        cfg = dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, abstract=abstract))
    _check_consistency(cfg)
    return cfg


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """The first field where two plain config dicts differ, as ``field 'x.y': A there, B here``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if a[key] != b.get(key):
                return first_difference(a[key], b.get(key), f"{path}.{key}" if path else key)
    return f"field '{path}': {a!r} there, {b!r} here"


def to_dict(cfg: Any) -> Any:
    """The plain nested dict of a config (tuples as lists), as stored in a run directory."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        overrides = _META_OVERRIDES.get(type(cfg), {})
        return {
            f.name: to_dict(getattr(cfg, f.name))
            for f in fields(cfg)
            if not overrides.get(f.name, f.metadata).get("internal")
        }
    if isinstance(cfg, tuple):
        return [to_dict(v) for v in cfg]
    return cfg


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


PRESETS: tuple[str, ...] = ("quick", "fig2", "fig2_authors", "fig4_update", "fig4_label")


def load_preset(name: str) -> dict[str, Any]:
    """The mapping of a named preset (``quick``: the default main job; ``fig2``: Figure 2)."""
    if name not in PRESETS:
        raise ConfigError(f"preset '{name}': unknown; allowed: {', '.join(PRESETS)}")
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


def config_layers(
    config_file: str | Path | None = None,
    *,
    preset: str | None = None,
    overrides: Sequence[str] = (),
) -> list[tuple[str, dict[str, Any]]]:
    """The layers :func:`resolve` merges, last wins: (name, mapping) for the preset
    (``preset NAME``), the file (``file NAME``) and each ``--set`` (``--set``)."""
    layers: list[tuple[str, dict[str, Any]]] = []
    if preset is not None or config_file is None:
        layers.append((f"preset {preset or 'quick'}", load_preset(preset or "quick")))
    if config_file is not None:
        layers.append((f"file {Path(config_file).name}", load_file(config_file)))
    for assignment in overrides:
        raw: dict[str, Any] = {}
        apply_override(raw, assignment)
        layers.append(("--set", raw))
    return layers


def field_source(path: str, layers: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Which of :func:`config_layers`'s layers set the field ``path`` (dotted) last:
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


def describe_noise(cfg: RunConfig, source: Callable[[str], str] | None = None) -> str:
    """The noise in effect, one line: kind, form, level(s) and, with ``source``
    (e.g. :func:`field_source` bound to :func:`config_layers`), the layer each level came from;
    the layer of a form or kind is named too where it differs from its level's."""

    def origin(path: str, like: str | None = None) -> str:
        if source is None:
            return ""
        where = source(path)
        return "" if like is not None and where == source(like) else f" [{where}]"

    def levels(path: str, values: tuple[float, ...]) -> str:
        return ", ".join(f"{v:g}" for v in values) + origin(path)

    parts = []
    update = cfg.noise.update
    if any(v > 0 for v in update.sd):
        form = f"{update.form} form{origin('noise.update.form', 'noise.update.sd')}"
        parts.append(f"update noise ({form}) sd {levels('noise.update.sd', update.sd)}")
    else:
        parts.append("update noise off")
    label = cfg.noise.label
    name = "sd" if label.kind == "gaussian" else "width"
    values = getattr(label, name)
    if any(v > 0 for v in values):
        kind = f"{label.kind}{origin('noise.label.kind', f'noise.label.{name}')}"
        parts.append(f"label noise ({kind}) {name} {levels(f'noise.label.{name}', values)}")
    else:
        parts.append("label noise off")
    if any(v > 0 for v in cfg.noise.input.sd):
        parts.append(f"input noise sd {levels('noise.input.sd', cfg.noise.input.sd)}")
    else:
        parts.append("input noise off")
    return "; ".join(parts)


def resolve(
    config_file: str | Path | None = None,
    *,
    preset: str | None = None,
    overrides: Sequence[str] = (),
) -> RunConfig:
    """Preset (default ``quick`` when no file is given), then file, then overrides."""
    raw: dict[str, Any] = {}
    if preset is not None or config_file is None:
        raw = load_preset(preset or "quick")
    if config_file is not None:
        raw = merge(raw, load_file(config_file))
    for assignment in overrides:
        apply_override(raw, assignment)
    return parse_config(raw)
