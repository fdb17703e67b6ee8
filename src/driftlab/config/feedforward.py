"""The feed-forward model's run configuration (:class:`RunConfig`, eq. 1 of the paper).

Its sections, :func:`parse_config` (with the checks across fields), the presets
(``quick``, ``fig2``, ...) and :func:`resolve`; the machinery it is built on
(field checks, layers, the config hash) is :mod:`driftlab.config.schema`.

Batch fields (``seed``, ``train.lr``, ``noise.update.sd``, ``noise.label.sd``,
``noise.label.width``, ``noise.input.sd``) take one value or a list; the run
trains one network for every combination (their Cartesian product), all in one
compiled program; at most :data:`~driftlab.config.schema.MAX_NETWORKS` of them.

Every numeric field has a lower and an upper bound (its ``metadata``): generous
(a learning rate or noise level up to :data:`~driftlab.config.schema.MAX_SCALE`,
up to :data:`~driftlab.config.schema.MAX_UNITS` hidden units), so that a config
that passes cannot crash the run inside JAX or numpy. What the bounds allow
together is then estimated by :func:`estimate_resources` (memory and disk,
before anything is allocated) and refused by :func:`~driftlab.config.resources.check_resources`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from driftlab.config.layers import (
    layered_mapping,
    load_named_preset,
    preset_layers,
)
from driftlab.config.resources import (
    Part,
    Resources,
    combine,
    count_records,
)
from driftlab.config.schema import (
    DTYPES,
    MAX_RECORDS,
    MAX_SAMPLES,
    MAX_SCALE,
    MAX_STEPS,
    MAX_UNITS,
    Batched,
    build_section,
    check_networks,
    field_error,
)
from driftlab.divergence import RULES as DIVERGENCE_RULES
from driftlab.model import ACTIVATIONS, REGIMES
from driftlab.noise import GENERATORS
from driftlab.rules import RULES
from driftlab.runner.schedule import record_steps, tail_steps
from driftlab.tasks.abstract import ABSTRACT_KINDS, AbstractParams
from driftlab.tasks.corridor import CorridorParams


def _choice(*values: str) -> dict[str, Any]:
    return {"choices": values}


def _positive(hi: float = MAX_SCALE) -> dict[str, Any]:
    return {"min": 0.0, "strict": True, "max": hi}


def _amplitude() -> dict[str, Any]:
    return {"min": 0.0, "max": MAX_SCALE}


def _count(hi: int) -> dict[str, Any]:
    return {"min": 0, "max": hi}


def _batch(**meta: Any) -> dict[str, Any]:
    return {"batch": True, **meta}


TASKS: tuple[str, ...] = ("corridor", *ABSTRACT_KINDS)
UPDATE_FORMS: tuple[str, ...] = ("gradient", "parameter")
LABEL_KINDS: tuple[str, ...] = ("gaussian", "uniform")
HESSIAN_METHODS: tuple[str, ...] = ("auto", "dense", "lanczos")


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

    hidden: int = field(default=500, metadata={"min": 1, "max": MAX_UNITS})
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
    lr: tuple[float, ...] = field(default=(0.1,), metadata=_batch(**_positive()))
    steps: int = field(default=1_000_000, metadata={"min": 1, "max": MAX_STEPS})
    batch_size: int = field(default=0, metadata=_count(MAX_SAMPLES))
    sed_sigma: float = field(default=0.1, metadata=_positive())
    divergence: str = field(default="persistent", metadata=_choice(*DIVERGENCE_RULES))
    divergence_window: int = field(default=1000, metadata={"min": 1, "max": MAX_STEPS})


@dataclass(frozen=True)
class UpdateNoise:
    """Update noise of sd ``sd``: on the gradient before the step (the authors' code)
    or on the parameters after it (paper eq. 3)."""

    form: str = field(default="gradient", metadata=_choice(*UPDATE_FORMS))
    sd: tuple[float, ...] = field(default=(0.0,), metadata=_batch(**_amplitude()))


@dataclass(frozen=True)
class LabelNoise:
    """Label noise redrawn every step: Gaussian of sd ``sd`` (paper eq. 6) or uniform
    (U[0,1) - 1/2) * ``width`` (the authors' code; variance width^2 / 12)."""

    kind: str = field(default="gaussian", metadata=_choice(*LABEL_KINDS))
    sd: tuple[float, ...] = field(default=(0.0,), metadata=_batch(**_amplitude()))
    width: tuple[float, ...] = field(default=(0.0,), metadata=_batch(**_amplitude()))


@dataclass(frozen=True)
class InputNoise:
    """Gaussian input noise of sd ``sd`` redrawn every step (the authors' code; off by default)."""

    sd: tuple[float, ...] = field(default=(0.0,), metadata=_batch(**_amplitude()))


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

    every: int = field(default=0, metadata=_count(MAX_STEPS))
    log_points: int = field(default=0, metadata=_count(MAX_RECORDS))
    method: str = field(default="auto", metadata=_choice(*HESSIAN_METHODS))
    dense_max: int = field(default=5000, metadata={"min": 1, "max": MAX_UNITS})
    rtol: float = field(
        default=1e-7, metadata={"min": 0.0, "strict": True, "max": 1.0, "strict_max": True}
    )
    spectrum: bool = True
    lanczos_steps: int = field(default=80, metadata={"min": 2, "max": 10_000})
    hutchinson_samples: int = field(default=100, metadata={"min": 2, "max": 10_000})

    @property
    def enabled(self) -> bool:
        return bool(self.every or self.log_points)


@dataclass(frozen=True)
class TailRecord:
    """Extra records packed into the end of the run: ``points`` records spaced
    ``span * steps / points`` apart, the last one ``span * steps / points`` before the
    final step (which is always recorded); off when ``points`` is 0.

    The authors recorded 10,000 evenly spaced points and summarised a run's end by
    the mean of its last ten records but the very last: ten records spanning the
    final 0.1% of the run. ``points: 10, span: 0.001`` gives a log-spaced run the same
    ten records, so the sweep's ratios average over the same stretch of training
    (:mod:`driftlab.sweep.summary`)."""

    points: int = field(default=0, metadata=_count(MAX_RECORDS))
    span: float = field(
        default=0.001, metadata={"min": 0.0, "strict": True, "max": 1.0, "strict_max": True}
    )

    @property
    def enabled(self) -> bool:
        return self.points > 0


@dataclass(frozen=True)
class RecordConfig:
    """When the host records, how many steps one compiled chunk runs at most, and
    what is stored. Records: every ``every`` steps when ``every`` > 0 (it wins),
    else ``log_points`` log-spaced times when > 0, else 100 evenly spaced times;
    always at step 0 and at the last step. Place units by a shuffle test: a unit
    whose spatial information beats the ``place_percentile``-th percentile of
    ``place_shuffles`` circular shifts of its activity (0: not recorded)."""

    every: int = field(default=0, metadata=_count(MAX_STEPS))
    log_points: int = field(default=0, metadata=_count(MAX_RECORDS))
    chunk: int = field(default=10_000, metadata={"min": 1, "max": MAX_STEPS})
    hidden: bool = True
    params: bool = False
    place_shuffles: int = field(default=100, metadata={"min": 0, "max": 10_000})
    place_percentile: float = field(
        default=95.0, metadata={"min": 0.0, "strict": True, "max": 100.0, "strict_max": True}
    )
    hessian: HessianRecord = field(default_factory=HessianRecord)
    tail: TailRecord = field(default_factory=TailRecord)

    def steps(self, total: int) -> np.ndarray:
        """The record points of a run of ``total`` steps: ``every`` / ``log_points``
        (:func:`~driftlab.runner.schedule.record_steps`) and the ``tail``'s."""
        steps = record_steps(total, self.every, self.log_points)
        if self.tail.enabled:
            steps = np.union1d(steps, tail_steps(total, self.tail.points, self.tail.span))
        return steps


BATCH_FIELDS: tuple[tuple[str, str], ...] = (
    ("seed", "seed"),
    ("lr", "train.lr"),
    ("update_sd", "noise.update.sd"),
    ("label_sd", "noise.label.sd"),
    ("label_width", "noise.label.width"),
    ("input_sd", "noise.input.sd"),
)
"""The batch fields: (key in :meth:`RunConfig.batch`'s dicts, dotted config field)."""


@dataclass(frozen=True)
class RunConfig(Batched):
    """Everything that defines a run; two equal configs give bit-identical results."""

    BATCH_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = BATCH_FIELDS

    seed: tuple[int, ...] = field(default=(0,), metadata=_batch(min=0, max=2**31 - 1))
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    record: RecordConfig = field(default_factory=RecordConfig)

    def resources(self) -> Resources:
        """What the run would take (:func:`estimate_resources`)."""
        return estimate_resources(self)


MAX_TILES = 1_000_000
"""Most samples of the corridor's wall texture, n_tiles = round(2 (L_x + L_y) L_vis)
(Figure 2: 510): smoothing it costs time in proportion to K_smooth n_tiles^2."""


def _check_consistency(cfg: RunConfig) -> None:
    corridor = cfg.task.corridor
    if corridor.n_tiles > MAX_TILES:
        raise field_error(
            "task.corridor",
            f"the wall texture has n_tiles = round(2 (L_x + L_y) L_vis) = {corridor.n_tiles:,} "
            f"samples, more than {MAX_TILES:,}: shrink L_x + L_y or L_vis",
        )
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
    check_networks({path: len(values) for path, values in cfg.batch_axes().items()})
    if cfg.task.name != "corridor":  # the abstract task's kind is the task's name
        abstract = dataclasses.replace(cfg.task.abstract, kind=cfg.task.name)
        cfg = dataclasses.replace(cfg, task=dataclasses.replace(cfg.task, abstract=abstract))
    _check_consistency(cfg)
    return cfg


PRESETS: tuple[str, ...] = ("quick", "fig2", "fig2_authors", "fig4_update", "fig4_label")


def load_preset(name: str) -> dict[str, Any]:
    """The mapping of a named preset (``quick``: the default main job; ``fig2``: Figure 2)."""
    return load_named_preset(name, PRESETS)


def config_layers(
    config_file: str | Path | None = None,
    *,
    preset: str | None = None,
    overrides: Sequence[str] = (),
) -> list[tuple[str, dict[str, Any]]]:
    """The layers :func:`resolve` merges, last wins: (name, mapping) for the preset
    (``preset NAME``), the file (``file NAME``) and each ``--set`` (``--set``)."""
    return preset_layers(
        config_file,
        preset=preset,
        overrides=overrides,
        load_preset=load_preset,
        default_preset="quick",
    )


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
    raw = layered_mapping(
        config_file,
        preset=preset,
        overrides=overrides,
        load_preset=load_preset,
        default_preset="quick",
    )
    return parse_config(raw)


# --------------------------------------------------------------------------- resources

RULE_STATE_COPIES: dict[str, int] = {
    "gd": 0,
    "sgd": 0,
    "adam": 2,
    "rmsprop": 1,
    "sed": 0,
    "sed_normalised": 0,
}
"""Copies of the parameters each built-in rule keeps as its state (a registered rule
is taken to keep 2, as Adam)."""


def _task_dims(task: TaskConfig) -> tuple[int, int]:
    """Input and output size of the task's samples."""
    if task.name == "corridor":
        return task.corridor.d_in, task.corridor.d_out
    return task.abstract.effective_d_in, task.abstract.effective_d_out


def _task_build_bytes(task: TaskConfig) -> float:
    """Peak memory of building one network's task data (the networks are built one
    after another): the corridor's texture, its smoothing kernel (4 sd either side,
    scipy's) and some 16 (samples, rays) arrays of the ray casting; an abstract task's
    arrays, their smoothing and the predictive kind's ring and views."""
    if task.name == "corridor":
        c = task.corridor
        radius = 4 * c.K_smooth * c.n_tiles
        return c.n_tiles * 4 + (c.n_tiles + 4 * radius) * 8 * 2 + c.n_samples * c.L_vis * 8 * 16
    a = task.abstract
    ring = a.ring * 8 * 4 + (8 * a.texture_sd + 1) * 8
    return a.n_samples * (a.d_in + a.effective_d_out) * 8 * 4 + ring + a.n_samples * a.d_in * 8 * 8


def estimate_resources(cfg: RunConfig) -> Resources:
    """Memory and disk of the run of ``cfg`` (:class:`~driftlab.config.resources.Resources`),
    from its sizes alone, as ``driftlab.run`` and its recorders allocate: every
    network's task data (float64 on the host, three copies, and the run's float type
    on the device), parameters and rule state (three copies: the start, the current
    state and the next) and a chunk's gradient, noise and update stay for the whole
    run; in turn, the task of one network is built, a chunk holds the batch's hidden
    activity four times over (vmapped), a record point holds it on the device and
    copies it to the host (float64 for the measures, float32 for the snapshot),
    the end gathers every snapshot into ``activity.nc`` (and ``params.nc``) in
    memory, twice, and a dense Hessian (``record.hessian``) of P parameters takes
    8 P^2 bytes three times over, one network at a time.

    Disk: the snapshots of every record point beside the files they are gathered
    into, the task data, the checkpoint and the time series."""
    B, N, H = cfg.n_networks, cfg.task.n_samples, cfg.model.hidden
    d_in, d_out = _task_dims(cfg.task)
    s = 4 if cfg.model.dtype == "float32" else 8
    n_params = H * (d_in + 1 + d_out)
    rec, hess, steps = cfg.record, cfg.record.hessian, cfg.train.steps
    records = count_records(steps, rec.every, rec.log_points) + rec.tail.points
    hess_records = count_records(steps, hess.every, hess.log_points) if hess.enabled else 0
    dense = hess.method == "dense" or (hess.method == "auto" and n_params <= hess.dense_max)
    state = B * n_params * s * (1 + RULE_STATE_COPIES.get(cfg.train.rule, 2))
    data = B * N * (d_in + d_out + 3) * 8
    activity = B * N * H
    shape = f"{B:,} network{'s' if B != 1 else ''} x hidden {H:,} x {N:,} samples"
    snapshot = activity * 4 * rec.hidden + B * n_params * s * rec.params
    spectrum = B * n_params * 8 * (hess.enabled and dense and hess.spectrum)
    series = (records * 12 + hess_records * 16) * (B * 8 + 112) + (records + hess_records) * 32
    resident: list[Part] = [
        (
            f"parameters and rule state of {B:,} networks x {n_params:,} parameters",
            3 * state + 3 * B * n_params * s,
            "model.hidden or the batch",
        ),
        (
            f"task data of {B:,} networks x {N:,} samples",
            3 * data + B * N * (d_in + d_out) * s,
            "the samples or the batch",
        ),
        (f"{records + hess_records:,} record points", series, "record.every or record.log_points"),
    ]
    activity_advice = "model.hidden, the samples or the batch"
    phases: list[Part] = [
        ("building one network's task data", _task_build_bytes(cfg.task), "the task's sizes"),
        (f"a chunk of {shape}", activity * 4 * s, activity_advice),
        (f"a record of {shape}", activity * (2 * s + 12) + N * H * 8 * 6, activity_advice),
        (
            f"{records:,} records of {shape}, gathered at the end",
            2 * records * snapshot + 2 * hess_records * spectrum,
            "record.log_points or record.every, or record.hidden false",
        ),
    ]
    if hess.enabled:
        hessian = 3 * 8 * n_params**2 if dense else (hess.lanczos_steps + 1) * n_params * 8
        phases.append(
            (
                f"a {'dense ' if dense else ''}Hessian of {n_params:,} parameters",
                hessian + min(256 if dense else 1, n_params) * 6 * N * H * 8,
                "model.hidden, or record.hessian.method lanczos",
            )
        )
    disk = 2 * records * snapshot + 2 * hess_records * spectrum + data + state + series
    return combine(resident, phases, disk)
