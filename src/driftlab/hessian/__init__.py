"""The Hessian of the training loss: dense spectra, Lanczos, Hutchinson, Gauss-Newton.

Flatness is measured by the eigenvalues of the Hessian H = d^2 L / d theta^2 of
the training loss at the current parameters (paper, "Flatness" and Figure 4;
Methods eq. 12-17). Near the zero-loss manifold, update noise lowers the sum of
the log nonzero eigenvalues and label noise their sum (trace) (Blanc et al.
2020; Li, Wang & Arora 2021); every unit silent for all inputs adds a block of
zero rows, hence zero eigenvalues (Methods, "Hessian and sparseness").

Every function here takes a scalar ``loss_fn(params)`` (or ``outputs_fn``) over
a parameter pytree and works on its flattened vector theta (``ravel_pytree``
order), so it serves any model. Three ways to look at H:

* ``dense_hessian`` + ``eigenvalues`` + ``summarise``: the exact spectrum with a
  symmetric solver (``eigvalsh``), for up to a few thousand parameters (time
  P^3: 2,600 parameters take about a second; memory 8 P^2 bytes for H in
  float64 and about as much again for the solver: 0.1 GB at P = 3,600, 2.6 GB
  for H alone at Figure 2's 18,000).
* ``lanczos`` on Hessian-vector products (``hvp``, forward-over-reverse, never
  forming H): the top of the spectrum of networks of any size;
  ``hutchinson_trace``: an unbiased trace estimate with its standard error.
* ``gauss_newton`` (eq. 16-17): at an exact zero of the loss H equals
  (2 / (N d_out)) J^T J, J the Jacobian of the N x d_out outputs; its nonzero
  eigenvalues are those of the small Gram matrix J J^T (``gauss_newton_eigenvalues``).

Compute in float64 (``jax.enable_x64``): a float32 Hessian has eigenvalue
noise of about 1e-7 of the largest, which hides the small eigenvalues.

Counting nonzero eigenvalues needs a tolerance. The only exact zeros are the
(d_in + 1 + d_out) per silent ReLU unit (``zero_eigenvalues_from_silent_units``);
the rest of a trained network's spectrum can fall smoothly through many decades
(the corridor networks of Figure 4 have 40 to 130 eigenvalues per decade from
1e-6 to 1e-12 of the largest, and no gap wider than 0.3 decade), so the count
depends on where it is cut. ``summarise`` therefore reports the count at one ``rtol`` together with
the counts at both ends of a range of tolerances (``RTOL_RANGE``) and the widest
spectral gap inside that range (``spectral_gap``): a count is tolerance-free
only when it sits above a gap of at least ``MIN_GAP_DECADES``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

# the summaries of a spectrum are numpy only (driftlab.metrics.spectrum), re-exported here
from driftlab.metrics.spectrum import DEFAULT_RTOL as DEFAULT_RTOL
from driftlab.metrics.spectrum import MIN_GAP_DECADES as MIN_GAP_DECADES
from driftlab.metrics.spectrum import RTOL_RANGE as RTOL_RANGE
from driftlab.metrics.spectrum import HessianSummary as HessianSummary
from driftlab.metrics.spectrum import count_nonzero as count_nonzero
from driftlab.metrics.spectrum import format_rtol as format_rtol
from driftlab.metrics.spectrum import spectral_gap as spectral_gap
from driftlab.metrics.spectrum import summarise as summarise
from driftlab.metrics.spectrum import (
    zero_eigenvalues_from_silent_units as zero_eigenvalues_from_silent_units,
)

LossFn = Callable[[Any], jax.Array]
MatVec = Callable[[jax.Array], jax.Array]


def flatten(loss_fn: LossFn, params: Any) -> tuple[Callable[[jax.Array], jax.Array], jax.Array]:
    """(loss of the flat vector, the flat vector theta) for a loss over a pytree."""
    theta, unravel = ravel_pytree(params)

    def flat_loss(t: jax.Array) -> jax.Array:
        return loss_fn(unravel(t))

    return flat_loss, theta


HESSIAN_COLUMNS_PER_PASS = 256  # columns of H computed together: bounds the memory of autodiff


def hessian_from_hvp(hvp_fn: Callable[[jax.Array], jax.Array], n: int) -> jax.Array:
    """H (n, n) column by column, H e_i = hvp_fn(e_i), in passes of 256 columns.

    Forming all n columns at once (``jax.hessian``) holds n copies of the
    network's intermediate activity: gigabytes for a few thousand parameters.
    Symmetrised, since autodiff's two halves differ in the last bit.
    """

    def column(i: jax.Array) -> jax.Array:
        return hvp_fn(jax.nn.one_hot(i, n, dtype=jnp.result_type(float)))

    cols: jax.Array = jax.lax.map(
        column, jnp.arange(n), batch_size=min(HESSIAN_COLUMNS_PER_PASS, n)
    )
    return 0.5 * (cols + cols.T)


def dense_hessian(loss_fn: LossFn, params: Any) -> jax.Array:
    """H_ij = d^2 L / d theta_i d theta_j, shape (P, P), by autodiff (columns H e_i)."""
    flat_loss, theta = flatten(loss_fn, params)
    product = flat_hvp(flat_loss)

    @jax.jit
    def hessian(t: jax.Array) -> jax.Array:
        return hessian_from_hvp(lambda v: product(t, v), t.size)

    h: jax.Array = hessian(theta)
    return h


def eigenvalues(hessian: jax.Array | np.ndarray) -> np.ndarray:
    """The spectrum of a symmetric matrix, ascending (LAPACK ``eigvalsh``)."""
    return np.linalg.eigvalsh(np.asarray(hessian, np.float64))


# --------------------------------------------------------------------------- matrix-free


def hvp(loss_fn: LossFn, params: Any) -> tuple[MatVec, int]:
    """(v -> H v, P): the Hessian-vector product by forward-over-reverse autodiff.

    Costs about two gradient evaluations; H is never formed.
    """
    flat_loss, theta = flatten(loss_fn, params)
    product = flat_hvp(flat_loss)

    @jax.jit
    def matvec(v: jax.Array) -> jax.Array:
        return product(theta, v)

    return matvec, int(theta.size)


def flat_hvp(flat_loss: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """``(theta, v, *data) -> H(theta) v`` for a loss ``flat_loss(theta, *data)`` of the
    flat parameter vector: forward-over-reverse autodiff (a JVP of the gradient),
    about two gradient evaluations, H never formed. Unjitted: callers jit it with
    their data as arguments, so one compilation serves every point and data set of
    a shape (:func:`hvp`, :func:`dense_hessian`, :mod:`driftlab.hessian.recorder`).
    """
    grad = jax.grad(flat_loss)

    def product(theta: jax.Array, v: jax.Array, *data: jax.Array) -> jax.Array:
        tangent: jax.Array = jax.jvp(lambda t: grad(t, *data), (theta,), (v.astype(theta.dtype),))[
            1
        ]
        return tangent

    return product


def lanczos(
    matvec: MatVec, n: int, *, k: int = 80, key: jax.Array, dtype: Any = None
) -> np.ndarray:
    """Ritz values of a symmetric operator after ``k`` Lanczos steps, ascending.

    The Krylov basis q_1..q_k from a random start with full reorthogonalisation
    (twice, classical Gram-Schmidt); T = Q^T A Q is tridiagonal (alpha, beta) and
    its eigenvalues approximate the extremes of A's spectrum first (Golub & Van
    Loan, Matrix Computations, ch. 10). The largest few converge in far fewer than
    n steps; for a Hessian, ``ritz[-1]`` estimates lambda_max. Stops early if the
    Krylov space is exhausted (rank-deficient A), returning fewer values.
    """
    if not 1 <= k <= n:
        raise ValueError(f"k: expected an integer in [1, {n}] (the operator's size), got {k}")
    dtype = dtype or jnp.result_type(float)
    start = jax.random.normal(key, (n,), dtype)
    q = np.asarray(start / jnp.linalg.norm(start), np.float64)
    basis = np.zeros((k + 1, n), np.float64)
    basis[0] = q
    alpha, beta = np.zeros(k), np.zeros(k)
    steps = k
    for j in range(k):
        w = np.array(matvec(jnp.asarray(basis[j], dtype)), np.float64)  # a writable copy
        alpha[j] = w @ basis[j]
        for _ in range(2):
            w -= basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta[j] = np.linalg.norm(w)
        if beta[j] <= 1e-10 * max(abs(alpha[: j + 1]).max(), 1e-300):
            steps = j + 1
            break
        basis[j + 1] = w / beta[j]
    t = np.diag(alpha[:steps]) + np.diag(beta[: steps - 1], 1) + np.diag(beta[: steps - 1], -1)
    return np.linalg.eigvalsh(t)


def hutchinson_trace(
    matvec: MatVec, n: int, *, samples: int = 100, key: jax.Array, dtype: Any = None
) -> tuple[float, float]:
    """(estimate, standard error) of tr(A) = E[z^T A z], z with independent +-1 entries.

    Hutchinson (1989). One sample's variance is 2 (||A||_F^2 - sum_i A_ii^2), so the
    error falls as 1/sqrt(samples); the standard error returned is the samples'
    standard deviation over sqrt(samples). One ``matvec`` call per probe (so a
    jitted ``matvec`` compiles once).
    """
    if samples < 2:
        raise ValueError(f"samples: expected an integer >= 2, got {samples}")
    dtype = dtype or jnp.result_type(float)
    z = jax.random.rademacher(key, (samples, n), dtype)
    quad = np.asarray([float(v @ matvec(v)) for v in z], np.float64)
    return float(quad.mean()), float(quad.std(ddof=1) / np.sqrt(samples))


# --------------------------------------------------------------------------- Gauss-Newton


def output_jacobian(outputs_fn: LossFn, params: Any) -> jax.Array:
    """J = d vec(f(X)) / d theta, shape (N d_out, P), for outputs f(X) of shape (N, d_out)."""
    theta, unravel = ravel_pytree(params)
    jac: jax.Array = jax.jit(jax.jacrev(lambda t: outputs_fn(unravel(t)).reshape(-1)))(theta)
    return jac


def gauss_newton(outputs_fn: LossFn, params: Any) -> jax.Array:
    """The Gauss-Newton matrix of the mean squared error, (2 / (N d_out)) J^T J, (P, P).

    Methods eq. 16-17 (there without the 2 / (N d_out) of the mean): the Hessian of
    L = mean (f - y)^2 is G + (2 / (N d_out)) sum_k r_k d^2 f_k, r the residuals,
    so at an exact zero of the loss H = G.
    """
    jac = output_jacobian(outputs_fn, params)
    return (2.0 / jac.shape[0]) * (jac.T @ jac)


def gauss_newton_eigenvalues(outputs_fn: LossFn, params: Any) -> np.ndarray:
    """The eigenvalues of G through its Gram form (2 / (N d_out)) J J^T, (N d_out,), ascending.

    J^T J and J J^T share their nonzero eigenvalues, so this gives G's whole
    nonzero spectrum at the cost of an (N d_out)^2 matrix: the rest of G's P
    eigenvalues are zero. Cheap for the Figure 2 network (2,550 vs 18,000).
    """
    jac = output_jacobian(outputs_fn, params)
    return eigenvalues((2.0 / jac.shape[0]) * (jac @ jac.T))


def flatness_report(
    loss_fn: LossFn,
    outputs_fn: LossFn,
    params: Any,
    hidden: np.ndarray,
    *,
    d_in: int,
    rtol: float = DEFAULT_RTOL,
) -> dict[str, float]:
    """Figure 4B's relation on one network: the Hessian's zero eigenvalues against
    those the silent units imply and the Gauss-Newton rank bound.

    Returns the dense summaries plus ``zeros`` (P - nonzero), ``zeros_from_silent``
    (``zero_eigenvalues_from_silent_units``), ``gn_rank_bound`` (N d_out: at zero
    loss at most that many nonzero eigenvalues; hidden (N, H) is the activity and
    d_in the input dimension of the one-hidden-layer network), ``gn_nonzero`` (nonzero Gauss-Newton
    eigenvalues at the same relative tolerance) and ``residual_norm`` ||H - G||_F /
    ||H||_F (0 at an exact zero of the loss).
    """
    h = dense_hessian(loss_fn, params)
    summary = summarise(eigenvalues(h), rtol=rtol)
    g = gauss_newton(outputs_fn, params)
    out_shape = jax.eval_shape(outputs_fn, params).shape
    n_out = int(np.prod(out_shape))
    d_out = int(out_shape[-1])
    gn = summarise(gauss_newton_eigenvalues(outputs_fn, params), rtol=rtol)
    h_np, g_np = np.asarray(h, np.float64), np.asarray(g, np.float64)
    return {
        **{k: float(v) for k, v in summary.__dict__.items()},
        "zeros": float(summary.n_params - summary.n_nonzero),
        "zeros_from_silent": float(zero_eigenvalues_from_silent_units(hidden, d_in, d_out)),
        "gn_rank_bound": float(n_out),
        "gn_nonzero": float(gn.n_nonzero),
        "residual_norm": float(np.linalg.norm(h_np - g_np) / np.linalg.norm(h_np)),
    }
