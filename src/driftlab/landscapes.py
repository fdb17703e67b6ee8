"""Two-dimensional loss landscapes: noisy GD drifts toward flatness (Figure 4A, Methods eq. 7-10).

Losses map ``theta[..., 2] = (x, y)`` to ``loss[...]``; every one is zero on a
floor and the noise-driven drift along that floor is known in closed form.

``xy_squared``
    ``L = (x y)^2`` (eq. 7): zero on both axes. At ``(x0, 0)`` the gradient is 0
    and the Hessian is ``2 diag(0, x0^2)`` (eq. 9): eigenvalues 0 (along the
    floor) and ``2 x0^2`` (eq. 10 prints ``x0^2``, dropping the factor 2).
``valley``
    ``L = c(x) y^2`` with ``c(x) = 1 / (1 / c_max + exp(-x / w))``: a straight
    zero-loss floor ``y = 0`` whose walls flatten exponentially toward ``-x`` (the
    flat side, Figure 4A's left) and saturate at curvature ``2 c_max`` toward ``+x``.
``flat_floor``
    ``L = k y^2``: a floor whose curvature does not depend on ``x``: the control.

(:class:`Valley` and :class:`FlatFloor` fix their parameters as losses equal by value.)

Noisy GD (eq. 3), ``theta <- theta - lr grad L(theta) + s xi``, is :func:`noisy_gd`.

Theory, for any ``L = c(x) y^2`` near its floor with parameter-noise sd ``s``
(Methods eq. 8 made quantitative; Blanc et al. 2020; Li, Wang & Arora 2021)::

    y_{t+1} = (1 - 2 lr c(x)) y_t + s xi_t          (x moves slowly: an AR(1) / OU process)
    Var y   = s^2 / (1 - (1 - 2 lr c)^2) = s^2 / (4 lr c (1 - lr c))     (stable if lr c < 1)
    x_{t+1} = x_t - lr c'(x) y_t^2 + s zeta_t
    E[dx]   = -lr c' Var y = -(s^2 / 4) (log c)'(x) / (1 - lr c)

For ``c = x^2``: ``E[dx] = -s^2 / (2 x (1 - lr x^2))``, about ``-s^2 / (2 x)`` when
``lr x^2`` is small; for constant ``c``: no drift. For small ``lr c`` the drift is
gradient descent on ``(s^2 / 4) log lambda(x)``, ``lambda = 2 c`` the nonzero
Hessian eigenvalue: the sum-of-log-eigenvalues regulariser that update noise
minimises (Blanc et al. 2020). Equivalently, the Gibbs density
``exp(-2 lr L / s^2)`` integrated over ``y`` is proportional to ``c(x)^(-1/2)``:
the flat side holds more volume, and noise finds it.

Approximations (sizes in :func:`xy_drift_theory`): the drift is evaluated at
the mean of ``x`` while each trajectory's ``x`` also diffuses (variance
``s^2 t``); the rate is convex in ``x``, so the simulated mean runs ahead of the
theory by a relative amount of order ``s^2 t / x^2`` (Jensen). ``y`` is assumed
equilibrated at the current ``x`` (it relaxes in ``1 / (2 lr c)`` steps, fast
against the drift's time scale ``x^2 / s^2``).

References: Ratzon, Derdikman & Barak (2023), Figure 4A and Methods eq. 7-10;
G. Blanc, N. Gupta, G. Valiant & P. Valiant (2020), COLT, "Implicit
regularization for deep neural networks driven by an Ornstein-Uhlenbeck like
process"; Z. Li, T. Wang & S. Arora (2021), arXiv:2110.06914, "What happens after
SGD reaches zero loss?".
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from numpy.typing import ArrayLike

from driftlab import noise

Loss = Callable[[jax.Array], jax.Array]
NoiseKind = Literal["parameter", "gradient"]
NOISE_KINDS: tuple[str, ...] = ("parameter", "gradient")

VALLEY_WIDTH = 0.5  # w: the walls' curvature falls by e every w toward -x
VALLEY_STEEPEST = 4.0  # c_max: the walls' curvature toward +x is 2 c_max


# ---------------------------------------------------------------------------- losses


def xy_squared(theta: jax.Array) -> jax.Array:
    """``L(x, y) = (x y)^2`` (eq. 7). ``theta``: (..., 2) -> (...)."""
    return (theta[..., 0] * theta[..., 1]) ** 2


def valley_curvature(
    x: jax.Array, *, width: float = VALLEY_WIDTH, steepest: float = VALLEY_STEEPEST
) -> jax.Array:
    """``c(x) = 1 / (1 / c_max + exp(-x / w)) = c_max sigmoid(x / w - log c_max)``.

    Half the Hessian eigenvalue across :func:`valley`'s floor: about ``exp(x / w)``
    on the flat side (``x`` well below ``w log c_max``), ``c_max`` on the steep side.
    """
    return steepest * jax.nn.sigmoid(x / width - math.log(steepest))


def valley(
    theta: jax.Array, *, width: float = VALLEY_WIDTH, steepest: float = VALLEY_STEEPEST
) -> jax.Array:
    """Figure 4A's valley ``L = c(x) y^2`` (:func:`valley_curvature`). (..., 2) -> (...).

    The floor ``y = 0`` has zero loss everywhere; its walls flatten toward ``-x``.
    GD is stable everywhere when ``lr c_max < 1``.
    """
    c = valley_curvature(theta[..., 0], width=width, steepest=steepest)
    return c * theta[..., 1] ** 2


def flat_floor(theta: jax.Array, *, curvature: float = 1.0) -> jax.Array:
    """The control ``L = k y^2``: its floor's curvature ``2 k`` does not depend on ``x``."""
    return curvature * theta[..., 1] ** 2


@dataclass(frozen=True)
class Valley:
    """:func:`valley` with fixed ``width`` and ``steepest``, as a loss equal by value.

    :func:`noisy_gd` compiles once per loss object; equal instances share it
    (a new ``functools.partial`` would compile again).
    """

    width: float = VALLEY_WIDTH
    steepest: float = VALLEY_STEEPEST

    def __call__(self, theta: jax.Array) -> jax.Array:
        return valley(theta, width=self.width, steepest=self.steepest)


@dataclass(frozen=True)
class FlatFloor:
    """:func:`flat_floor` with a fixed ``curvature``, as a loss equal by value."""

    curvature: float = 1.0

    def __call__(self, theta: jax.Array) -> jax.Array:
        return flat_floor(theta, curvature=self.curvature)


# ---------------------------------------------------------------------------- dynamics


@dataclass(frozen=True)
class Trajectories:
    """Recorded states of many noisy-GD trajectories.

    ``step``: (r,) the step count of each record (0 = the start);
    ``theta``: (r, n, 2) the parameters ``(x, y)`` of each of ``n`` trajectories.
    """

    step: np.ndarray
    theta: np.ndarray


def _check_number(name: str, value: float) -> None:
    """Raise ValueError unless ``value`` is a finite real number >= 0."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not (real and math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def _check_count(name: str, value: int, *, low: int) -> None:
    """Raise ValueError unless ``value`` is an integer >= ``low``."""
    integral = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not (integral and value >= low):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


@partial(jax.jit, static_argnames=("loss", "records", "every", "noise_kind", "generator"))
def _simulate(
    loss: Loss,
    theta0: jax.Array,  # (2, n): coordinate-major, 6-7 times faster on a CPU than (n, 2)
    stream: jax.Array,
    lr: jax.Array,
    sd: jax.Array,
    *,
    records: int,
    every: int,
    noise_kind: NoiseKind,
    generator: noise.Generator,
) -> jax.Array:  # (records, 2, n)
    # the trajectories' losses are separate terms, so the gradient of the sum is per trajectory
    grad = jax.grad(lambda th: jnp.sum(loss(jnp.moveaxis(th, 0, -1))))

    def step(t: jax.Array, theta: jax.Array) -> jax.Array:
        xi = noise.normal(generator, stream, t, theta.shape).astype(theta.dtype)
        g: jax.Array = grad(theta)
        if noise_kind == "parameter":
            return theta - lr * g + sd * xi  # eq. 3
        return theta - lr * (g + sd * xi)

    def chunk(theta: jax.Array, r: jax.Array) -> tuple[jax.Array, jax.Array]:
        theta = lax.fori_loop(r * every, (r + 1) * every, step, theta)
        return theta, theta

    _, thetas = lax.scan(chunk, theta0, jnp.arange(records, dtype=jnp.int32))
    return thetas


def noisy_gd(
    loss: Loss,
    theta0: ArrayLike,
    *,
    lr: float,
    sd: float,
    steps: int,
    key: jax.Array,
    record_every: int | None = None,
    noise_kind: NoiseKind = "parameter",
    generator: noise.Generator = "hash",
) -> Trajectories:
    """Noisy gradient descent on ``loss`` for many independent trajectories at once.

    ``noise_kind="parameter"`` (eq. 3): ``theta <- theta - lr grad L(theta) + sd xi``;
    ``"gradient"``: ``theta <- theta - lr (grad L(theta) + sd xi)``, i.e. parameter
    noise ``-lr sd xi``, of sd ``lr * sd`` (the theory's ``s``). ``xi`` of step
    ``t`` (counted from 0 in each call) are standard normals of ``(key, t)``
    (:mod:`driftlab.noise`); the trajectories' noises are independent.

    ``theta0``: (n, 2) starts (its float dtype is kept: float32, or float64 under
    ``jax.enable_x64``). Records ``theta`` at step 0 and every ``record_every``
    steps (default: only the start and the end), which must divide ``steps``.
    One jitted program per ``loss`` object and recording shape; ``lr`` and ``sd``
    are traced (changing them does not recompile). Divergence (``lr c >= 1``)
    is not caught: it shows as inf or NaN.
    """
    _check_number("lr", lr)
    _check_number("sd", sd)
    _check_count("steps", steps, low=0)
    every = steps if record_every is None else record_every
    if record_every is not None:
        _check_count("record_every", record_every, low=1)
    if steps and steps % every:
        raise ValueError(f"record_every must divide steps ({steps}), got {record_every!r}")
    if noise_kind not in NOISE_KINDS:
        raise ValueError(f"noise_kind must be one of {NOISE_KINDS}, got {noise_kind!r}")
    if generator not in noise.GENERATORS:
        raise ValueError(f"generator must be one of {noise.GENERATORS}, got {generator!r}")
    start = jnp.asarray(theta0)
    if not jnp.issubdtype(start.dtype, jnp.floating):
        start = start.astype(jnp.float32)
    if start.ndim != 2 or start.shape[1] != 2 or start.shape[0] < 1:
        raise ValueError(f"theta0 must have shape (n, 2) with n >= 1, got {start.shape}")
    records = steps // every if steps else 0
    thetas = _simulate(
        loss,
        start.T,
        noise.make_stream(generator, key),
        jnp.asarray(lr, start.dtype),
        jnp.asarray(sd, start.dtype),
        records=records,
        every=max(every, 1),
        noise_kind=noise_kind,
        generator=generator,
    )
    theta = np.concatenate([np.asarray(start)[None], np.moveaxis(np.asarray(thetas), 1, 2)])
    return Trajectories(step=np.arange(records + 1, dtype=np.int64) * every, theta=theta)


# ---------------------------------------------------------------------------- theory


def floor_variance(curvature: ArrayLike, *, lr: float, sd: float) -> np.ndarray:
    """Stationary variance of ``y`` across the floor of ``L = c y^2``.

    ``Var y = s^2 / (4 lr c (1 - lr c))``:
    ``y_{t+1} = (1 - 2 lr c) y_t + s xi_t`` is an AR(1) process (a discretised
    Ornstein-Uhlenbeck process) with variance ``s^2 / (1 - (1 - 2 lr c)^2)``.
    ``curvature``: ``c`` (half the Hessian eigenvalue across the floor); ``sd = s``
    the parameter-noise sd (``lr * sd`` for gradient noise). Valid for
    ``0 < lr c < 1``; NaN outside (no stationary state, or GD unstable).
    """
    _check_number("lr", lr)
    _check_number("sd", sd)
    a = lr * np.asarray(curvature, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        v = sd**2 / (4 * a * (1 - a))
    return np.where((a > 0) & (a < 1), v, np.nan)


def stationary_variance_y(x: ArrayLike, *, lr: float, sd: float) -> np.ndarray:
    """Stationary variance of ``y`` near ``(x, 0)`` on ``(x y)^2``.

    ``Var y = s^2 / (4 lr x^2 (1 - lr x^2))``: :func:`floor_variance` with
    ``c = x^2`` (``x`` held fixed: it moves far more slowly than ``y`` relaxes,
    in ``1 / (2 lr x^2)`` steps).
    """
    return floor_variance(np.asarray(x, np.float64) ** 2, lr=lr, sd=sd)


def floor_drift_rate(curvature: ArrayLike, slope: ArrayLike, *, lr: float, sd: float) -> np.ndarray:
    """Mean step along the floor of ``L = c(x) y^2``: ``-(s^2 / 4) c' / (c (1 - lr c))``.

    ``curvature``: ``c(x)``; ``slope``: ``c'(x)``; ``sd = s`` the parameter-noise
    sd. From ``E[dx] = -lr c'(x) Var y`` with :func:`stationary_variance_y`'s
    ``Var y`` (``x^2`` replaced by ``c``). Zero when ``c`` does not depend on ``x``.
    """
    _check_number("lr", lr)
    _check_number("sd", sd)
    c = np.asarray(curvature, np.float64)
    dc = np.asarray(slope, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(-(sd**2) / 4 * dc / (c * (1 - lr * c)))


def xy_drift_rate(x: ArrayLike, *, lr: float, sd: float) -> np.ndarray:
    """Mean step of ``x`` near ``(x, 0)`` on ``(x y)^2``: ``-s^2 / (2 x (1 - lr x^2))``."""
    xx = np.asarray(x, np.float64)
    return floor_drift_rate(xx**2, 2 * xx, lr=lr, sd=sd)


def valley_drift_rate(
    x: ArrayLike,
    *,
    lr: float,
    sd: float,
    width: float = VALLEY_WIDTH,
    steepest: float = VALLEY_STEEPEST,
) -> np.ndarray:
    """Mean step along :func:`valley`'s floor: ``-(s^2 / (4 w)) (1 - c / c_max) / (1 - lr c)``.

    Toward ``-x`` (the flat side) everywhere, about ``-s^2 / (4 w)`` deep on the flat side.
    """
    xx = np.asarray(x, np.float64)
    c = steepest / (1 + steepest * np.exp(-xx / width))
    return floor_drift_rate(c, c * (1 - c / steepest) / width, lr=lr, sd=sd)


def xy_drift_theory(x0: float, *, lr: float, sd: float, steps: ArrayLike) -> np.ndarray:
    """Predicted mean ``x(t)`` on ``(x y)^2`` from ``(x0, 0)``, at the step counts ``steps``.

    Integrates ``dx/dt = -s^2 / (2 x (1 - lr x^2))`` exactly: with ``u = x^2``,
    ``d(u - lr u^2 / 2) = -s^2 dt``, so ``u - lr u^2 / 2 = K(t) = x0^2 - lr x0^4 / 2 - s^2 t``
    and ``u = 2 K / (1 + sqrt(1 - 2 lr K))`` (the root through ``x0^2``; for small
    ``lr x^2``: ``x^2(t) = x0^2 - s^2 t``). ``x`` keeps the sign of ``x0``.

    Model error: the ODE follows the drift at the mean ``x``, while each
    trajectory's ``x`` also diffuses with variance ``s^2 t``; the rate is convex
    in ``x``, so the simulated mean moves further, by a relative amount of about
    ``(k / 4) s^2 t / x0^2`` with ``k = x0^2 f''(x0) / f(x0)`` for the rate ``f``
    (``k`` = 1.9, 2.6 and 8 at ``lr x0^2`` = 0.1, 0.3 and 0.5): below
    ``s^2 t / x0^2`` while ``lr x0^2 <= 0.3``. And ``y`` starts at 0: the drift
    builds up over about ``1 / (4 lr x0^2 (1 - lr x0^2))`` steps (2.8 at 0.1),
    which the simulation lags by. NaN once ``K <= 0`` (the theory has reached the
    crossing of the axes) and when ``lr x0^2 >= 1`` (GD unstable).
    """
    _check_number("lr", lr)
    _check_number("sd", sd)
    t = np.asarray(steps, np.float64)
    a0 = lr * x0**2
    if not 0 <= a0 < 1:
        return np.full_like(t, np.nan)
    k = x0**2 - lr * x0**4 / 2 - sd**2 * t
    with np.errstate(invalid="ignore", divide="ignore"):
        u = 2 * k / (1 + np.sqrt(1 - 2 * lr * k))
    return np.where(k > 0, math.copysign(1.0, x0) * np.sqrt(np.maximum(u, 0)), np.nan)


def control_theory(x0: float, *, steps: ArrayLike) -> np.ndarray:
    """Predicted mean ``x(t)`` on :func:`flat_floor` (the control): constant ``x0``."""
    return np.full_like(np.asarray(steps, np.float64), float(x0))
