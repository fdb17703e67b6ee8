"""Configuration of a Hebbian/anti-Hebbian run (Figure 3C), validated at the edge.

The same machinery as the feed-forward model's :mod:`driftlab.config`
(:mod:`driftlab.config.schema`): a nested mapping (preset, YAML or TOML file,
``--set key=value`` overrides) becomes a frozen :class:`HebbianConfig`;
every error is one line naming the field and what is allowed. Batch fields
(``seed``, ``train.eta``, ``train.sigma``) take one value or a list; the run
trains one network for every combination, in one compiled program.

The defaults are the ring model of docs/conventions.md ("The Hebbian /
anti-Hebbian network"; Qin et al. 2023): 100 neurons, inputs on the unit circle, W0 = 0.1
N(0, 1), M0 = I, lambda1 = 0, lambda2 = 0.01, alpha = 0, eta = 0.02,
sigma = 0.001, active threshold 0.05. Presets: ``hebbian_ring`` (Figure 3C) and
``hebbian_place`` (the 1-D place-cell model: 200 positions, 270 grid cells, 200
neurons, eta 0.02, sigma 0.005, lambda1 0.02, lambda2 0.05, alpha 35, threshold
0.1). A config's name is :func:`driftlab.config.config_hash`, as for the
feed-forward model; why some keys differ from that model's (``train.eta``,
``train.sigma``, the record schedule): README.md, "Configuration keys of the two
models".

Every numeric field has a lower and an upper bound (its ``metadata``), generous:
amplitudes up to :data:`~driftlab.config.schema.MAX_SCALE`, up to
:data:`~driftlab.config.schema.MAX_UNITS` neurons and input dimensions, 10^6
inputs, at most :data:`~driftlab.config.schema.MAX_NETWORKS` networks; what they
allow together is estimated by :func:`estimate_hebbian_resources` before anything
is allocated (and refused by :func:`~driftlab.config.resources.check_resources`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from driftlab.config.layers import (
    layered_mapping,
    load_named_preset,
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
from driftlab.noise import GENERATORS

INPUT_KINDS: tuple[str, ...] = ("ring", "place")
HEBBIAN_PRESETS: tuple[str, ...] = ("hebbian_ring", "hebbian_place")


def _pos(hi: float = MAX_SCALE) -> dict[str, Any]:
    return {"min": 0.0, "strict": True, "max": hi}


def _nonneg() -> dict[str, Any]:
    return {"min": 0.0, "max": MAX_SCALE}


def _from(lo: int, hi: int) -> dict[str, Any]:
    return {"min": lo, "max": hi}


@dataclass(frozen=True)
class RingInputs:
    """``n_inputs`` points evenly spaced on a circle of radius ``radius`` (the authors'
    ``generate_ring_input`` uses 1,000; 628, a spacing of about 0.01 rad, makes the
    fixed points of every input at each record 1.6 times cheaper)."""

    n_inputs: int = field(default=628, metadata=_from(3, MAX_SAMPLES))
    radius: float = field(default=1.0, metadata=_pos(1000.0))


@dataclass(frozen=True)
class PlaceInputs:
    """A 1-D track of ``n_positions`` positions read by grid cells: 1-D slices (at
    ``slice_angle`` radians) of 2-D hexagonal grid fields of ``n_scales`` spacings
    (``base_spacing`` times powers of ``scale_factor``), ``n_orientations``
    orientations and ``phases_x`` x ``phases_y`` spatial phases. Their product, the
    number of grid cells (the input dimension), is at most
    :data:`~driftlab.config.schema.MAX_UNITS`; a spacing grows at most tenfold a
    scale, from at most 1,000 track lengths."""

    n_positions: int = field(default=200, metadata=_from(2, MAX_SAMPLES))
    n_scales: int = field(default=5, metadata=_from(1, 100))
    n_orientations: int = field(default=6, metadata=_from(1, 360))
    phases_x: int = field(default=3, metadata=_from(1, 100))
    phases_y: int = field(default=3, metadata=_from(1, 100))
    base_spacing: float = field(default=0.2, metadata=_pos(1000.0))
    scale_factor: float = field(default=1.42, metadata=_pos(10.0))
    slice_angle: float = field(
        default=math.pi / 6, metadata={"min": 0.0, "max": math.pi / 2, "strict_max": True}
    )

    @property
    def n_grid(self) -> int:
        """Number of grid cells (the input dimension)."""
        return self.n_scales * self.n_orientations * self.phases_x * self.phases_y


@dataclass(frozen=True)
class InputsConfig:
    """Which inputs (``ring`` or ``place``) and their parameters."""

    kind: str = field(default="ring", metadata={"choices": INPUT_KINDS})
    ring: RingInputs = field(default_factory=RingInputs)
    place: PlaceInputs = field(default_factory=PlaceInputs)


@dataclass(frozen=True)
class NetworkConfig:
    """Neurons, the regularisers lambda1 (threshold) and lambda2 (> 0: the rate's gain is
    1 / (lambda2 + M_ii)), the bias strength alpha, the sd of W0, and the float type."""

    neurons: int = field(default=100, metadata=_from(1, MAX_UNITS))
    lambda1: float = field(default=0.0, metadata=_nonneg())
    lambda2: float = field(default=0.01, metadata=_pos())
    alpha: float = field(default=0.0, metadata=_nonneg())
    w0_sd: float = field(default=0.1, metadata=_nonneg())
    dtype: str = field(default="float32", metadata={"choices": DTYPES})


@dataclass(frozen=True)
class DynamicsConfig:
    """Fixed-point loop of the neural dynamics: step ``dt``, relative tolerance ``tol``
    of the fixed-point equation, iteration cap ``max_iter`` (hits are counted)."""

    dt: float = field(default=0.05, metadata={"min": 0.0, "strict": True, "max": 1.0})
    tol: float = field(default=1e-4, metadata=_pos())
    max_iter: int = field(default=10_000, metadata=_from(1, 10_000_000))


@dataclass(frozen=True)
class HebbTrainConfig:
    """Plasticity rate(s) eta of the local update (no gradient), synaptic-noise level(s)
    sigma (the noise on W and M has sd sqrt(eta) sigma), number of plasticity steps."""

    eta: tuple[float, ...] = field(
        default=(0.02,), metadata={"batch": True, "min": 0.0, "max": 1.0}
    )
    sigma: tuple[float, ...] = field(default=(0.001,), metadata={"batch": True, **_nonneg()})
    steps: int = field(default=20_000, metadata={"min": 1, "max": MAX_STEPS})


@dataclass(frozen=True)
class MeasureConfig:
    """A neuron is active when its rate exceeds ``threshold`` for at least ``min_inputs``
    inputs (ring model 0.05 and 1; place model 0.1, and 4 as the authors' place-cell code)."""

    threshold: float = field(default=0.05, metadata=_nonneg())
    min_inputs: int = field(default=1, metadata=_from(1, MAX_SAMPLES))


@dataclass(frozen=True)
class HebbRecordConfig:
    """Record points: the union of ``log_points`` log-spaced steps and every ``every``
    steps (either may be 0; both 0 means 100 evenly spaced), always 0 and the last
    step. ``chunk``: most steps per compiled chunk (a checkpoint after each).
    ``activity``: store every neuron's rate for every input at every record."""

    every: int = field(default=0, metadata=_from(0, MAX_STEPS))
    log_points: int = field(default=0, metadata=_from(0, MAX_RECORDS))
    chunk: int = field(default=2_000, metadata={"min": 1, "max": MAX_STEPS})
    activity: bool = True


HEBBIAN_BATCH_FIELDS: tuple[tuple[str, str], ...] = (
    ("seed", "seed"),
    ("eta", "train.eta"),
    ("sigma", "train.sigma"),
)
"""The batch fields: (key in :meth:`HebbianConfig.batch`'s dicts, dotted config field)."""


@dataclass(frozen=True)
class HebbianConfig(Batched):
    """Everything that defines a Hebbian run; equal configs give bit-identical results."""

    BATCH_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = HEBBIAN_BATCH_FIELDS

    seed: tuple[int, ...] = field(
        default=(0,), metadata={"batch": True, "min": 0, "max": 2**31 - 1}
    )
    inputs: InputsConfig = field(default_factory=InputsConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    dynamics: DynamicsConfig = field(default_factory=DynamicsConfig)
    train: HebbTrainConfig = field(default_factory=HebbTrainConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    record: HebbRecordConfig = field(default_factory=HebbRecordConfig)
    generator: str = field(default="hash", metadata={"choices": GENERATORS})

    @property
    def n_inputs(self) -> int:
        """Number of inputs T (ring points or track positions)."""
        if self.inputs.kind == "ring":
            return self.inputs.ring.n_inputs
        return self.inputs.place.n_positions

    @property
    def n_dims(self) -> int:
        """Dimension d of an input (2 on the ring, the grid cells on the track)."""
        return 2 if self.inputs.kind == "ring" else self.inputs.place.n_grid

    def resources(self) -> Resources:
        """What the run would take (:func:`estimate_hebbian_resources`)."""
        return estimate_hebbian_resources(self)


def parse_hebbian_config(raw: Mapping[str, Any]) -> HebbianConfig:
    """Validate a nested mapping into a :class:`HebbianConfig`; raises :class:`ConfigError`."""
    cfg: HebbianConfig = build_section(HebbianConfig, raw, "")
    check_networks({path: len(values) for path, values in cfg.batch_axes().items()})
    if cfg.inputs.kind == "place" and cfg.n_dims > MAX_UNITS:
        raise field_error(
            "inputs.place",
            f"n_scales x n_orientations x phases_x x phases_y = {cfg.n_dims:,} grid cells, "
            f"more than {MAX_UNITS:,}",
        )
    n_inputs = cfg.n_inputs
    if cfg.measure.min_inputs > n_inputs:
        raise field_error(
            "measure.min_inputs",
            f"must be <= the number of inputs ({n_inputs}), got {cfg.measure.min_inputs}",
        )
    return cfg


def load_hebbian_preset(name: str) -> dict[str, Any]:
    """The mapping of a named preset: ``hebbian_ring`` (Figure 3C) or ``hebbian_place``."""
    return load_named_preset(name, HEBBIAN_PRESETS)


def resolve_hebbian(
    config_file: str | Path | None = None,
    *,
    preset: str | None = None,
    overrides: Sequence[str] = (),
) -> HebbianConfig:
    """Preset (default ``hebbian_ring`` when no file is given), then file, then overrides."""
    raw = layered_mapping(
        config_file,
        preset=preset,
        overrides=overrides,
        load_preset=load_hebbian_preset,
        default_preset="hebbian_ring",
    )
    return parse_hebbian_config(raw)


def estimate_hebbian_resources(cfg: HebbianConfig) -> Resources:
    """Memory and disk of the run of ``cfg`` (:class:`~driftlab.config.resources.Resources`),
    from its sizes alone, as ``driftlab.hebbian.run`` and its recorders allocate:
    the inputs X (T, d) (built column by column, float64, and on the device) and
    every network's synapses W (n, d), M (n, n), b (three copies, and a step's noise
    and outer products) stay for the whole run; in turn, a record point finds the
    fixed points of every input for every network (B, T, n) on the device, copies
    the rates to the host (float64, and float32 twice: the snapshot and the previous
    record's), and measures the similarity loss of each network with two T x T
    matrices and their difference; the end gathers every snapshot into
    ``activity.nc`` in memory, twice.

    Disk: the snapshots of every record point beside ``activity.nc``, the inputs,
    the checkpoint (synapses and the last rates) and the time series."""
    B, T, n, d = cfg.n_networks, cfg.n_inputs, cfg.network.neurons, cfg.n_dims
    s = 4 if cfg.network.dtype == "float32" else 8
    rec, steps = cfg.record, cfg.train.steps
    records = count_records(steps, rec.every) if rec.every or not rec.log_points else 0
    if rec.log_points:
        records += count_records(steps, 0, rec.log_points)
    synapses = B * (n * d + n * n + n) * s
    rates = B * T * n
    shape = f"{B:,} network{'s' if B != 1 else ''} x {T:,} inputs x {n:,} neurons"
    snapshot = rates * 4 * cfg.record.activity
    series = records * 10 * (B * 8 + 112) + records * 32
    resident: list[Part] = [
        (
            f"synapses of {B:,} networks x {n:,} neurons",
            6 * synapses,
            "network.neurons or the batch",
        ),
        (f"the inputs ({T:,} x {d:,})", T * d * (3 * 8 + s), "the inputs"),
        (f"{records:,} record points", series, "record.every or record.log_points"),
    ]
    phases: list[Part] = [
        (f"a record of {shape}", rates * (6 * s + 16), "network.neurons, the inputs or the batch"),
        (f"the similarity of {T:,} inputs", 4 * T * T * 8 + 2 * T * n * 8, "the inputs"),
        (
            f"{records:,} records of {shape}, gathered at the end",
            2 * records * snapshot,
            "record.log_points or record.every, or record.activity false",
        ),
    ]
    disk = 2 * records * snapshot + T * (d + 1) * 8 + synapses + rates * 4 + series
    return combine(resident, phases, disk)
