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
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftlab.config.schema import (
    DTYPES,
    MAX_STEPS,
    build_section,
    field_error,
    layered_mapping,
    load_named_preset,
)
from driftlab.noise import GENERATORS

INPUT_KINDS: tuple[str, ...] = ("ring", "place")
HEBBIAN_PRESETS: tuple[str, ...] = ("hebbian_ring", "hebbian_place")


def _pos() -> dict[str, Any]:
    return {"min": 0.0, "strict": True}


def _nonneg() -> dict[str, Any]:
    return {"min": 0.0}


@dataclass(frozen=True)
class RingInputs:
    """``n_inputs`` points evenly spaced on a circle of radius ``radius`` (the authors'
    ``generate_ring_input`` uses 1,000; 628, a spacing of about 0.01 rad, makes the
    fixed points of every input at each record 1.6 times cheaper)."""

    n_inputs: int = field(default=628, metadata={"min": 3})
    radius: float = field(default=1.0, metadata=_pos())


@dataclass(frozen=True)
class PlaceInputs:
    """A 1-D track of ``n_positions`` positions read by grid cells: 1-D slices (at
    ``slice_angle`` radians) of 2-D hexagonal grid fields of ``n_scales`` spacings
    (``base_spacing`` times powers of ``scale_factor``), ``n_orientations``
    orientations and ``phases_x`` x ``phases_y`` spatial phases."""

    n_positions: int = field(default=200, metadata={"min": 2})
    n_scales: int = field(default=5, metadata={"min": 1})
    n_orientations: int = field(default=6, metadata={"min": 1})
    phases_x: int = field(default=3, metadata={"min": 1})
    phases_y: int = field(default=3, metadata={"min": 1})
    base_spacing: float = field(default=0.2, metadata=_pos())
    scale_factor: float = field(default=1.42, metadata=_pos())
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

    neurons: int = field(default=100, metadata={"min": 1})
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
    max_iter: int = field(default=10_000, metadata={"min": 1})


@dataclass(frozen=True)
class HebbTrainConfig:
    """Plasticity rate(s) eta of the local update (no gradient), synaptic-noise level(s)
    sigma (the noise on W and M has sd sqrt(eta) sigma), number of plasticity steps."""

    eta: tuple[float, ...] = field(
        default=(0.02,), metadata={"batch": True, "min": 0.0, "max": 1.0}
    )
    sigma: tuple[float, ...] = field(default=(0.001,), metadata={"batch": True, "min": 0.0})
    steps: int = field(default=20_000, metadata={"min": 1, "max": MAX_STEPS})


@dataclass(frozen=True)
class MeasureConfig:
    """A neuron is active when its rate exceeds ``threshold`` for at least ``min_inputs``
    inputs (ring model 0.05 and 1; place model 0.1, and 4 as the authors' place-cell code)."""

    threshold: float = field(default=0.05, metadata=_nonneg())
    min_inputs: int = field(default=1, metadata={"min": 1})


@dataclass(frozen=True)
class HebbRecordConfig:
    """Record points: the union of ``log_points`` log-spaced steps and every ``every``
    steps (either may be 0; both 0 means 100 evenly spaced), always 0 and the last
    step. ``chunk``: most steps per compiled chunk (a checkpoint after each).
    ``activity``: store every neuron's rate for every input at every record."""

    every: int = field(default=0, metadata={"min": 0})
    log_points: int = field(default=0, metadata={"min": 0})
    chunk: int = field(default=2_000, metadata={"min": 1, "max": MAX_STEPS})
    activity: bool = True


@dataclass(frozen=True)
class HebbianConfig:
    """Everything that defines a Hebbian run; equal configs give bit-identical results."""

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

    def batch(self) -> list[dict[str, float]]:
        """One dict per network (seed, eta, sigma): the Cartesian product, in that order."""
        axes = {"seed": self.seed, "eta": self.train.eta, "sigma": self.train.sigma}
        return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def parse_hebbian_config(raw: Mapping[str, Any]) -> HebbianConfig:
    """Validate a nested mapping into a :class:`HebbianConfig`; raises :class:`ConfigError`."""
    cfg: HebbianConfig = build_section(HebbianConfig, raw, "")
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
