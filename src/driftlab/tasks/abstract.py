"""The abstract tasks of the random simulations (Table 1 "task"; Figure 3A).

Ratzon, Derdikman & Barak (2023) replaced the corridor with simpler tasks to
show that sparsification does not depend on it (Table 1: "abstract predictive,
random, random smoothed"; docs/conventions.md, "The abstract tasks"). ``kind`` picks one
(raw values, before the final ``scale`` below):

``"random"``
    inputs X ~ U[0, 1) of shape (n, d_in), targets Y ~ U[0, 1) of shape (n, d_out).
``"smoothed"`` (random smoothed)
    the same white arrays Gaussian-filtered across samples and dimensions:
    X = G * X_white, Y = G * Y_white with sd n/5 along samples and d_out/5 along
    dimensions, for BOTH arrays (the authors' code uses d_out/5
    for the input array too, not d_in/5); scipy's default "reflect" edges.
``"predictive"`` (abstract predictive)
    a ring texture tex of ``ring`` units (U[0, 1) smoothed periodically with sd
    ``texture_sd`` units, min-max scaled to [0, 1], read by periodic linear
    interpolation); positions advance by random steps,
    s_t = sum_{k <= t} u_k * step_scale * ring / n  (mod ring),  u_k ~ U[0, 1),
    and sample t sees X_t[j] = tex(s_t + j * field_of_view / (d_in - 1)),
    j = 0..d_in-1 (d_in points spread evenly over the field of view, both ends
    included, starting at the position). The target is the next sample's view,
    Y_t = X_{t+1}, so the output dimension is d_in and ``d_out`` is ignored. No
    velocity input.
``"random_autoencoder"`` / ``"smoothed_autoencoder"``
    inputs as ``"random"`` / ``"smoothed"`` (same key, same inputs), target = input,
    so the output dimension is d_in. The smoothed autoencoder's inputs are
    smoothed with d_out/5 along dimensions, as the smoothed task's (the authors'
    code kept the nominal d_out there).

Step size: the paper does not pin it. ``step_scale = 20`` is the
authors' code (step = U[0, 1) * ring / n * 20): the mean step, 10 ring / n
units, is 240 units (two laps) for n = 5, so successive positions are nearly
independent points of the ring. The field of view of 30 units and texture sd of
4 units are docs/conventions.md's (the code's sd is ring / field of view = 4).

Scale (``scale``), applied last, to every kind:

``"authors"`` (default)
    the authors' data code, which their sweep ran on: X and Y are min-max
    scaled, each array as a whole (all samples and dimensions together), by
    x <- x - (min(x) + 1e-5); x <- x / (max(x) + 1e-5); x <- 2 (x - 0.5),
    in that order on the same array (the max is taken after the first
    subtraction). With R = max - min of the raw array the result spans
    [-1 - 2e-5 / R, 1 - 2e-5 / R], i.e. about [-1, 1], whatever the kind: the
    smoothed kinds, whose raw values keep only the small variance smoothing
    leaves, are stretched to the same span as the random ones. The autoencoders'
    target is the scaled input (one array, so target = input exactly); the
    predictive kind's X and Y are scaled apart, as two arrays, so Y_t = X_{t+1}
    holds up to an affine map (their ranges differ by one sample). An array
    with R = 0 (constant) becomes zeros.
``"unit"``
    no rescaling: the U[0, 1)-based values described above (the smoothed kinds
    inside [0, 1) with a small spread; the predictive views in [0, 1]).

The corridor task is different: it has its own ``scale`` (see
:mod:`driftlab.tasks.corridor`), and its stored Figure 2 data is in [0, 1].

Departure from the authors' code, by design: the texture is periodic (their
121-point texture was smoothed with reflecting edges, so its ends did not meet).

Example:

>>> import jax
>>> d = abstract_task(jax.random.key(0), AbstractParams(kind="predictive"))
>>> d.inputs.shape, d.targets.shape, d.positions.shape
((5, 20), (5, 20), (5, 2))
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jax
import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from driftlab import draws
from driftlab.tasks.base import TaskData
from driftlab.tasks.corridor import read_texture

ABSTRACT_KINDS: tuple[str, ...] = (
    "random",
    "smoothed",
    "predictive",
    "random_autoencoder",
    "smoothed_autoencoder",
)

ABSTRACT_SCALINGS: tuple[str, ...] = ("authors", "unit")
"""Values of :attr:`AbstractParams.scale`: the authors' min-max to about [-1, 1], or none."""

MINMAX_EPS: float = 1e-5
"""The offset of the authors' min-max scaling (added to the min and to the max)."""

SMOOTH_DIVISOR: float = 5.0
"""The smoothed task's sds are n / 5 along samples and d_out / 5 along dimensions."""


@dataclass(frozen=True)
class AbstractParams:
    """Parameters of the abstract tasks, with the noise-scan shapes (Figure 3B) as defaults.

    ``d_in``, ``d_out`` and ``n_samples`` are the requested sizes (Table 1's input
    dimension, output dimension and number of samples). ``d_out`` is ignored by the
    predictive and autoencoder kinds, whose output dimension is ``d_in`` (see
    :attr:`effective_d_out`), except that it sets the smoothed autoencoder's
    smoothing sd along dimensions. ``ring``, ``texture_sd``, ``field_of_view``
    (all in texture units) and ``step_scale`` (a step is U[0, 1) * step_scale *
    ring / n_samples units) are used by the predictive kind only. ``scale``
    (:data:`ABSTRACT_SCALINGS`) is the final scaling of X and Y: ``"authors"``
    (default, min-max to about [-1, 1]) or ``"unit"`` (none, U[0, 1)-based).

    Each field's ``metadata`` holds its allowed values (``min``, ``max``, ``strict``,
    ``choices``), which the config (driftlab.config) checks; ``kind`` is
    ``internal``, set from the config's ``task.name``. Every number has both bounds,
    generous: sizes up to 100,000, samples and ring units up to 10^6, a texture sd up
    to 100,000 units, a field of view and a step scale up to 10^6.
    """

    kind: str = field(default="random", metadata={"internal": True})  # set from task.name
    d_in: int = field(default=20, metadata={"min": 1, "max": 100_000})
    d_out: int = field(default=5, metadata={"min": 1, "max": 100_000})
    n_samples: int = field(default=5, metadata={"min": 2, "max": 1_000_000})
    ring: int = field(default=120, metadata={"min": 2, "max": 1_000_000})
    texture_sd: float = field(default=4.0, metadata={"min": 0.0, "strict": True, "max": 100_000.0})
    field_of_view: float = field(
        default=30.0, metadata={"min": 0.0, "strict": True, "max": 1_000_000.0}
    )
    step_scale: float = field(default=20.0, metadata={"min": 0.0, "max": 1_000_000.0})
    scale: str = field(default="authors", metadata={"choices": ABSTRACT_SCALINGS})

    @property
    def effective_d_in(self) -> int:
        """Dimension of the inputs the task returns: d_in for every kind."""
        return self.d_in

    @property
    def effective_d_out(self) -> int:
        """Dimension of the targets: d_in for predictive and autoencoders, else d_out."""
        return self.d_out if self.kind in ("random", "smoothed") else self.d_in

    @property
    def step(self) -> float:
        """Largest step of the predictive kind's position, in units: step_scale * ring / n."""
        return self.step_scale * self.ring / self.n_samples


def uniform(key: jax.Array, shape: tuple[int, ...]) -> np.ndarray:
    """U[0, 1) draws of ``shape`` from ``key``, drawn in float32 and returned as float64."""
    # float32 whatever JAX's precision mode, so the data never depend on it; one
    # compiled program for every shape (driftlab.draws)
    return np.asarray(draws.uniform(key, shape, "float32"), np.float64)


def smooth(white: np.ndarray, n_samples: int, d_out: int) -> np.ndarray:
    """Gaussian filter of a (samples, dims) array, sd (n/5, d_out/5) (docs/conventions.md).

    scipy.ndimage.gaussian_filter with its default "reflect" edges, as the authors' code.
    """
    sd = (n_samples / SMOOTH_DIVISOR, d_out / SMOOTH_DIVISOR)
    return np.asarray(gaussian_filter(white, sigma=sd))


def authors_minmax(a: np.ndarray) -> np.ndarray:
    """The authors' min-max scaling of a whole array to about [-1, 1] (float64).

    x <- x - (min(x) + eps); x <- x / (max(x) + eps); x <- 2 (x - 0.5), eps =
    1e-5, sequentially (the max is the shifted array's). With R = max - min of
    ``a`` the result spans [-1 - 2 eps / R, 1 - 2 eps / R]; a constant array
    (R = 0, where the formula divides by zero) becomes zeros.
    """
    x = np.asarray(a, np.float64)
    if x.max() == x.min():
        return np.zeros_like(x)
    x = x - (x.min() + MINMAX_EPS)
    x = x / (x.max() + MINMAX_EPS)
    return np.asarray(2.0 * (x - 0.5))


def scale_data(data: TaskData, scale: str) -> TaskData:
    """Apply the final scaling ``scale`` (:data:`ABSTRACT_SCALINGS`) to inputs and targets.

    ``"authors"``: :func:`authors_minmax` on the inputs and on the targets, apart;
    ``"unit"``: the data unchanged.
    """
    if scale == "unit":
        return data
    if scale != "authors":
        raise ValueError(
            f"unknown abstract task scale {scale!r}; expected one of {ABSTRACT_SCALINGS}"
        )
    return data._replace(inputs=authors_minmax(data.inputs), targets=authors_minmax(data.targets))


def ring_texture(white: np.ndarray, texture_sd: float) -> np.ndarray:
    """The ring's texture: periodic Gaussian smoothing (sd in units), min-max scaled to [0, 1].

    One value per unit of the ring; ``white`` is U[0, 1) of length ``ring``.
    """
    smooth_tex = gaussian_filter1d(white, texture_sd, mode="wrap")
    span = smooth_tex.max() - smooth_tex.min()
    if span == 0:
        return np.zeros_like(white)
    return np.asarray((smooth_tex - smooth_tex.min()) / span)


def read_ring(texture: np.ndarray, units: np.ndarray) -> np.ndarray:
    """Periodic linear interpolation of the texture at positions in units (any real value).

    tex(u) = (1 - f) tex[i mod ring] + f tex[(i + 1) mod ring], i = floor(u), f = u - i.
    """
    return read_texture(texture, np.asarray(units, np.float64) / texture.size, periodic=True)


def ring_views(
    texture: np.ndarray, positions: np.ndarray, d_in: int, field_of_view: float
) -> np.ndarray:
    """Views (T, d_in): X_t[j] = tex(s_t + j * field_of_view / (d_in - 1)).

    With d_in = 1 the one point is at the position.
    """
    offsets = np.linspace(0.0, field_of_view, d_in)
    return read_ring(texture, positions[:, None] + offsets[None, :])


def predictive_task(key: jax.Array, p: AbstractParams) -> TaskData:
    """The abstract predictive task: inputs X_t, targets X_{t+1}, both (n, d_in).

    ``positions`` (n, 2) has the corridor's (x, y) layout: column 0 is zero and
    column 1 the ring position s_t in [0, ring) at which X_t was seen;
    ``headings`` (n,) are zero (the position always advances, toward +y in the
    corridor's convention that heading 0 points to +y).
    """
    key_tex, key_step = jax.random.split(key)
    n = p.n_samples
    texture = ring_texture(uniform(key_tex, (p.ring,)), p.texture_sd)
    # n + 1 positions: the target of the last sample is the view at the next one
    s = np.mod(np.cumsum(uniform(key_step, (n + 1,)) * p.step), p.ring)
    view = ring_views(texture, s, p.d_in, p.field_of_view)
    positions = np.zeros((n, 2))
    positions[:, 1] = s[:n]
    return TaskData(inputs=view[:n], targets=view[1:], positions=positions, headings=np.zeros(n))


def abstract_task(key: jax.Array, p: AbstractParams | None = None) -> TaskData:
    """One data set of the abstract task ``p.kind``: inputs (n, d_in), targets (n, d_out').

    d_out' = :attr:`AbstractParams.effective_d_out`. All random numbers come from
    ``key``: split into an input and a target key for the random and smoothed
    kinds (the autoencoders use the input key, so they share the inputs of their
    non-autoencoder kind), into a texture and a step key for the predictive kind.
    Only the predictive kind has positions and headings; the others return None.
    The arrays are then scaled as ``p.scale`` says (:func:`scale_data`).
    """
    p = p or AbstractParams()
    if p.kind not in ABSTRACT_KINDS:
        raise ValueError(f"unknown abstract task kind {p.kind!r}; expected one of {ABSTRACT_KINDS}")
    if p.scale not in ABSTRACT_SCALINGS:
        raise ValueError(
            f"unknown abstract task scale {p.scale!r}; expected one of {ABSTRACT_SCALINGS}"
        )
    if p.kind == "predictive":
        return scale_data(predictive_task(key, p), p.scale)
    key_in, key_out = jax.random.split(key)
    n = p.n_samples
    smoothed = p.kind.startswith("smoothed")
    inputs = uniform(key_in, (n, p.d_in))
    if smoothed:
        inputs = smooth(inputs, n, p.d_out)
    if p.kind.endswith("_autoencoder"):
        if p.scale == "authors":
            inputs = authors_minmax(inputs)
        return TaskData(inputs=inputs, targets=inputs.copy())  # target = the scaled input
    targets = uniform(key_out, (n, p.d_out))
    if smoothed:
        targets = smooth(targets, n, p.d_out)
    return scale_data(TaskData(inputs=inputs, targets=targets), p.scale)
