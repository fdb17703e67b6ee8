"""The one-hidden-layer network of the paper (eq. 1) and its mean-squared loss (eq. 2).

    y_hat = act(x m^T + b) n^T

``m`` (H, d_in) is the input matrix, ``b`` (H,) the hidden bias, ``n`` (d_out, H)
the read-out; the read-out has no bias. Ratzon, Derdikman & Barak (2023), eq. 1-2.

Initialisation (the authors' code, docs/conventions.md, "Network"):
m, b ~ N(0, sd = sqrt(2 / d_in)); n ~ N(0, sd = sqrt(2 / H)) in the regime the
code calls ``"rich"`` and n ~ N(0, sd = 2 / H) in the one it calls ``"lazy"``.
Note that ``"lazy"`` therefore has the SMALLER read-out, the opposite of the
usual lazy/rich convention; driftlab keeps the paper's names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from driftlab import draws

Regime = Literal["rich", "lazy"]
REGIMES: tuple[str, ...] = ("rich", "lazy")

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "leaky_relu": lambda z: jax.nn.leaky_relu(z, negative_slope=0.01),
    "softplus": jax.nn.softplus,
}

# Matmuls run at full float32 (or float64) precision on every backend: JAX's
# default on GPUs uses TF32, which moved a converged loss by about 3%.
PRECISION = lax.Precision.HIGHEST


class Params(NamedTuple):
    """Network parameters: m (H, d_in), b (H,), n (d_out, H)."""

    m: jax.Array
    b: jax.Array
    n: jax.Array


def init_params(
    key: jax.Array,
    d_in: int,
    hidden: int,
    d_out: int,
    *,
    regime: Regime = "lazy",
    dtype: jnp.dtype | str = "float32",
) -> Params:
    """Draw initial parameters for the regime ``"rich"`` or ``"lazy"`` (see module doc)."""
    key_m, key_b, key_n = jax.random.split(key, 3)
    sd_in = np.sqrt(2.0 / d_in)
    sd_out = np.sqrt(2.0 / hidden) if regime == "rich" else 2.0 / hidden

    def draw(k: jax.Array, shape: tuple[int, ...], sd: float) -> jax.Array:
        # standard normals drawn in float32 whatever the run's precision, so a
        # float64 run starts from the same weights (rounded) as a float32 one; one
        # compiled program for every shape (driftlab.draws)
        w: jax.Array = jax.device_put(draws.scaled_normal(k, shape, sd, str(jnp.dtype(dtype))))
        return w

    return Params(
        m=draw(key_m, (hidden, d_in), sd_in),
        b=draw(key_b, (hidden,), sd_in),
        n=draw(key_n, (d_out, hidden), sd_out),
    )


def preactivation(params: Params, x: jax.Array) -> jax.Array:
    """z = x m^T + b: (samples, H)."""
    return jnp.matmul(x, params.m.T, precision=PRECISION) + params.b


def hidden_activity(params: Params, x: jax.Array, activation: str = "relu") -> jax.Array:
    """h = act(x m^T + b): (samples, H)."""
    return ACTIVATIONS[activation](preactivation(params, x))


def forward(params: Params, x: jax.Array, activation: str = "relu") -> jax.Array:
    """y_hat = act(x m^T + b) n^T: (samples, d_out). Paper eq. 1."""
    return jnp.matmul(hidden_activity(params, x, activation), params.n.T, precision=PRECISION)


def mse_loss(params: Params, x: jax.Array, y: jax.Array, activation: str = "relu") -> jax.Array:
    """f = mean over samples and outputs of (y_hat - y)^2. Paper eq. 2 (torch's MSELoss)."""
    return jnp.mean(jnp.square(forward(params, x, activation) - y))


def mse_grad(params: Params, x: jax.Array, y: jax.Array, activation: str = "relu") -> Params:
    """Hand-written gradient of :func:`mse_loss` (backpropagation through eq. 1).

        z = x m^T + b,  h = act(z),  e = 2 (h n^T - y) / (samples d_out)
        dL/dn = e^T h,  dz = (e n) * act'(z),  dL/dm = dz^T x,  dL/db = sum_samples dz

    For ReLU this is the paper's eq. 16 summed over samples. It equals
    ``jax.grad(mse_loss)`` (tests check it in float64), but orders each product so
    that XLA's CPU kernels run fastest: dL/dm is computed as (x^T dz)^T, twice as
    fast as the dz^T x that autodiff emits for the Figure 2 shape
    (benchmarks/RESULTS.md).
    """
    z = preactivation(params, x)
    h, act_vjp = jax.vjp(ACTIVATIONS[activation], z)
    err = jnp.matmul(h, params.n.T, precision=PRECISION) - y
    e = err * (2.0 / err.size)
    grad_n = jnp.matmul(e.T, h, precision=PRECISION)
    (dz,) = act_vjp(jnp.matmul(e, params.n, precision=PRECISION))
    grad_m = jnp.matmul(x.T, dz, precision=PRECISION).T
    return Params(m=grad_m, b=jnp.sum(dz, axis=0), n=grad_n)


def n_params(d_in: int, hidden: int, d_out: int) -> int:
    """Number of trainable parameters: H d_in + H + d_out H."""
    return hidden * d_in + hidden + d_out * hidden


def flops_per_step(samples: int, d_in: int, hidden: int, d_out: int) -> int:
    """Multiply-add FLOPs of one full-batch gradient step (forward + backward matmuls).

    Forward: x m^T (2 n d_in H), h n^T (2 n H d_out); backward: e^T h and e n
    (2 n H d_out each), dz^T x (2 n H d_in).
    """
    return 2 * samples * hidden * (2 * d_in + 3 * d_out)
