"""Non-negative similarity matching with noisy Hebbian/anti-Hebbian plasticity.

The network of Qin, Farashahi, Lipshutz, Sengupta, Chklovskii & Pehlevan (2023),
"Coordinated drift of receptive fields in Hebbian/anti-Hebbian network models
during noisy representation learning", Nature Neuroscience 26:339-349, which
Ratzon, Derdikman & Barak (2023) simulate in Figure 3C. ``n`` neurons receive
an input ``x`` (``d`` entries) through feedforward weights ``W`` (n, d), inhibit
each other through lateral weights ``M`` (n, n) and carry a bias ``b`` (n,).

Neural dynamics for one input, iterated from u = 0 to a fixed point::

    u <- u + dt (-u + W x - sqrt(alpha) b - (M - diag M) y)
    y  = max((u - lambda1) / (lambda2 + diag M), 0)

(dt = 0.05). The loop stops when the relative residual of the fixed-point
equation at the current ``u``, ``||-u + W x - sqrt(alpha) b - (M - diag M) y|| / ||u||``
(the relative change per unit time that the next step would make,
``||u_next - u|| / (dt ||u||)``), falls below ``tol`` (1e-4), or after ``max_iter``
(10^4) iterations, which is reported. The authors' code (``nsmDynBatch``) measures
the relative change per unit time of ``y`` instead, ``||y_new - y_old|| /
(dt ||y_old||)``, and also stops when that error stagnates; measured on ``y`` the
test passes after one iteration whenever every neuron is still below threshold
then (``y`` = 0 twice), so ``u`` is used here (the fixed point is the same).

Plasticity, one input per step, learning rate eta, noise sd sigma::

    W <- (1 - eta) W + eta y x^T + sqrt(eta) sigma xi
    M <- max(0, (1 - eta) M + eta y y^T + sqrt(eta) sigma zeta)
    b <- (1 - eta) b + eta sqrt(alpha) y

xi, zeta standard normal. The authors' code writes the bias update with
``mean(y, 2)``, the mean over a mini-batch of inputs; with one input per step
that is ``y`` itself (a vector, not a mean over neurons).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

DT = 0.05
TOL = 1e-4
MAX_ITER = 10_000
_TINY = 1e-12


class HebbParams(NamedTuple):
    """Synapses of one network: feedforward ``W`` (n, d), lateral ``M`` (n, n), bias ``b`` (n,)."""

    W: jax.Array
    M: jax.Array
    b: jax.Array


class Hyper(NamedTuple):
    """Per-network scalars: learning rate, synaptic-noise sd, the two regularisers and
    the bias strength alpha (Qin et al. 2023, eq. 1)."""

    eta: jax.Array
    sigma: jax.Array
    lambda1: jax.Array
    lambda2: jax.Array
    alpha: jax.Array


class FixedPoint(NamedTuple):
    """Result of the neural dynamics: rates ``y`` and potentials ``u`` (shape of the
    input's batch, then n), the iterations run, and whether the cap was hit."""

    y: jax.Array
    u: jax.Array
    iterations: jax.Array
    capped: jax.Array


def init_params(key: jax.Array, n: int, d: int, *, w0_sd: float, dtype: jnp.dtype) -> HebbParams:
    """W0 = w0_sd N(0, 1), M0 = I, b0 = 0 (ring model: w0_sd = 0.1; place model: 0.5)."""
    W = w0_sd * jax.random.normal(key, (n, d), dtype)
    return HebbParams(W=W, M=jnp.eye(n, dtype=dtype), b=jnp.zeros((n,), dtype))


def rates(params: HebbParams, hyper: Hyper, u: jax.Array) -> jax.Array:
    """y = max((u - lambda1) / (lambda2 + diag M), 0) for potentials ``u`` (..., n)."""
    gain = hyper.lambda2 + jnp.diagonal(params.M)
    return jnp.maximum((u - hyper.lambda1) / gain, 0)


def drive(params: HebbParams, hyper: Hyper, x: jax.Array, y: jax.Array) -> jax.Array:
    """The input to the potentials: W x - sqrt(alpha) b - (M - diag M) y, for ``x`` (..., d)
    and ``y`` (..., n)."""
    lateral = params.M - jnp.diag(jnp.diagonal(params.M))
    return x @ params.W.T - jnp.sqrt(hyper.alpha) * params.b - y @ lateral.T


def fixed_point(
    params: HebbParams,
    hyper: Hyper,
    x: jax.Array,
    *,
    dt: float = DT,
    tol: float = TOL,
    max_iter: int = MAX_ITER,
) -> FixedPoint:
    """Iterate the neural dynamics from u = 0 for input(s) ``x`` (d,) or (T, d).

    With a batch of inputs every input is iterated until its own relative residual
    is below ``tol`` (the loop runs until the slowest has converged).
    """
    n = params.M.shape[0]
    u0 = jnp.zeros((*x.shape[:-1], n), params.W.dtype)
    ff = x @ params.W.T - jnp.sqrt(hyper.alpha) * params.b  # fixed during the loop
    lateral = params.M - jnp.diag(jnp.diagonal(params.M))
    dt_ = jnp.asarray(dt, params.W.dtype)

    def residual(u: jax.Array) -> jax.Array:
        return ff - rates(params, hyper, u) @ lateral.T - u

    def rel(u: jax.Array, r: jax.Array) -> jax.Array:
        return jnp.max(
            jnp.linalg.norm(r, axis=-1) / (jnp.linalg.norm(u, axis=-1) + _TINY), initial=0.0
        )

    def cond(carry: tuple[jax.Array, jax.Array, jax.Array, jax.Array]) -> jax.Array:
        _, _, err, k = carry
        return (err >= tol) & (k < max_iter)

    def body(
        carry: tuple[jax.Array, jax.Array, jax.Array, jax.Array],
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        u, r, _, k = carry
        u = u + dt_ * r
        r = residual(u)
        return u, r, rel(u, r), k + 1

    r0 = residual(u0)
    init = (u0, r0, rel(u0, r0), jnp.zeros((), jnp.int32))
    u, _, err, k = lax.while_loop(cond, body, init)
    return FixedPoint(y=rates(params, hyper, u), u=u, iterations=k, capped=err >= tol)


def plasticity(
    params: HebbParams,
    hyper: Hyper,
    x: jax.Array,
    y: jax.Array,
    xi: jax.Array,
    zeta: jax.Array,
) -> HebbParams:
    """One noisy plasticity step for input ``x`` (d,) and its fixed point ``y`` (n,);
    ``xi`` (n, d) and ``zeta`` (n, n) are standard normals (module docstring)."""
    eta, sigma = hyper.eta, hyper.sigma
    scale = jnp.sqrt(eta) * sigma
    W = (1 - eta) * params.W + eta * jnp.outer(y, x) + scale * xi
    M = jnp.maximum((1 - eta) * params.M + eta * jnp.outer(y, y) + scale * zeta, 0)
    b = (1 - eta) * params.b + eta * jnp.sqrt(hyper.alpha) * y
    return HebbParams(W=W, M=M, b=b)
