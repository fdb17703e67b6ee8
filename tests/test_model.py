"""The network of eq. 1: initialisation, gradient (float64 references), activations."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from driftlab.model import ACTIVATIONS, Params, forward, init_params, mse_loss, n_params


def _numpy_loss_and_grad(m: np.ndarray, b: np.ndarray, n: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Hand-written ReLU network loss and gradient in float64 (paper eq. 1-2, eq. 16)."""
    z = x @ m.T + b
    h = np.maximum(z, 0)
    err = h @ n.T - y
    loss = np.mean(err**2)
    e = 2 * err / err.size
    grad_n = e.T @ h
    dz = (e @ n) * (z > 0)
    return loss, (dz.T @ x, dz.sum(0), grad_n)


@pytest.fixture
def problem() -> tuple[Params, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(30, 6))
    y = rng.uniform(size=(30, 4))
    p = Params(m=rng.normal(size=(12, 6)), b=rng.normal(size=12), n=rng.normal(size=(4, 12)) * 0.3)
    return p, x, y


def test_hand_gradient_matches_finite_differences(problem) -> None:
    p, x, y = problem
    _, grads = _numpy_loss_and_grad(p.m, p.b, p.n, x, y)
    eps = 1e-6
    for idx, arr in enumerate(p):
        flat = arr.ravel()
        for j in range(0, flat.size, max(1, flat.size // 17)):
            plus, minus = [a.copy() for a in p], [a.copy() for a in p]
            plus[idx].ravel()[j] += eps
            minus[idx].ravel()[j] -= eps
            fd = (_numpy_loss_and_grad(*plus, x, y)[0] - _numpy_loss_and_grad(*minus, x, y)[0]) / (
                2 * eps
            )
            assert fd == pytest.approx(grads[idx].ravel()[j], rel=1e-6, abs=1e-9)


def test_autodiff_gradient_float64_matches_hand_gradient(problem) -> None:
    p, x, y = problem
    loss_ref, grads_ref = _numpy_loss_and_grad(p.m, p.b, p.n, x, y)
    with jax.enable_x64(True):
        params = Params(*(jnp.asarray(a, jnp.float64) for a in p))
        loss, grads = jax.value_and_grad(mse_loss)(params, jnp.asarray(x), jnp.asarray(y))
        assert loss.dtype == jnp.float64
        assert float(loss) == pytest.approx(loss_ref, rel=1e-13)
        for g, ref in zip(grads, grads_ref, strict=True):
            np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-11, atol=1e-14)


@pytest.mark.parametrize(("regime", "expected"), [("rich", np.sqrt(2 / 400)), ("lazy", 2 / 400)])
def test_initialisation_scales(regime: str, expected: float) -> None:
    p = init_params(jax.random.key(0), 50, 400, 60, regime=regime)  # type: ignore[arg-type]

    # sample sd of k normals has relative sd ~ 1/sqrt(2k): allow 5 of those
    def check(a: jax.Array, sd: float) -> None:
        k = a.size
        assert abs(float(jnp.std(a)) / sd - 1) < 5 / np.sqrt(2 * k)

    check(p.m, np.sqrt(2 / 50))
    check(p.b, np.sqrt(2 / 50))
    check(p.n, expected)
    assert p.m.shape == (400, 50) and p.b.shape == (400,) and p.n.shape == (60, 400)
    assert n_params(50, 400, 60) == sum(a.size for a in p)


def test_float64_on_request() -> None:
    with jax.enable_x64(True):
        p = init_params(jax.random.key(0), 3, 5, 2, dtype="float64")
        assert all(a.dtype == jnp.float64 for a in p)
    p32 = init_params(jax.random.key(0), 3, 5, 2)
    assert all(a.dtype == jnp.float32 for a in p32)


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "leaky_relu", "softplus"])
def test_activations(name: str) -> None:
    z = jnp.linspace(-3, 3, 7)
    ref = {
        "relu": np.maximum(z, 0),
        "tanh": np.tanh(z),
        "sigmoid": 1 / (1 + np.exp(-z)),
        "leaky_relu": np.where(z > 0, z, 0.01 * z),
        "softplus": np.log1p(np.exp(z)),
    }[name]
    np.testing.assert_allclose(np.asarray(ACTIVATIONS[name](z)), ref, rtol=1e-6, atol=1e-7)


def test_forward_has_hidden_bias_and_no_output_bias() -> None:
    p = Params(m=jnp.zeros((3, 2)), b=jnp.array([1.0, -1.0, 2.0]), n=jnp.ones((1, 3)))
    out = forward(p, jnp.zeros((4, 2)))
    np.testing.assert_allclose(np.asarray(out), 3.0)  # relu(1) + relu(-1) + relu(2)
    assert float(forward(p._replace(b=jnp.zeros(3)), jnp.zeros((1, 2)))[0, 0]) == 0.0


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "softplus"])
def test_hand_written_engine_gradient_equals_autodiff_float64(problem, activation: str) -> None:
    from driftlab.model import mse_grad

    p, x, y = problem
    with jax.enable_x64(True):
        params = Params(*(jnp.asarray(a, jnp.float64) for a in p))
        manual = mse_grad(params, jnp.asarray(x), jnp.asarray(y), activation)
        auto = jax.grad(mse_loss)(params, jnp.asarray(x), jnp.asarray(y), activation)
        for g_manual, g_auto in zip(manual, auto, strict=True):
            assert g_manual.shape == g_auto.shape
            np.testing.assert_allclose(
                np.asarray(g_manual), np.asarray(g_auto), rtol=1e-12, atol=1e-15
            )
