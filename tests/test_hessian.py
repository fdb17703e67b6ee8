"""driftlab.hessian: closed forms, finite differences, Gauss-Newton, Lanczos, Hutchinson,
and the Hessian summaries a run records."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from driftlab import hessian
from driftlab.config import parse_config
from driftlab.model import Params, forward, hidden_activity, init_params, mse_loss
from driftlab.run import execute, load_run


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


def _net(
    hidden: int, d_in: int, d_out: int, n: int, seed: int = 0
) -> tuple[Params, jax.Array, jax.Array]:
    rng = np.random.default_rng(seed)
    x = jnp.asarray(rng.uniform(size=(n, d_in)))
    y = jnp.asarray(rng.uniform(size=(n, d_out)))
    p = init_params(jax.random.key(seed), d_in, hidden, d_out, regime="rich", dtype=jnp.float64)
    return p, x, y


def test_hessian_of_a_quadratic_form_is_its_matrix() -> None:
    """L = 1/2 theta^T A theta + c . theta over a two-leaf pytree: H = A exactly."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=(7, 7))
    a = a + a.T
    c = rng.normal(size=7)

    def loss(p: dict[str, jax.Array]) -> jax.Array:
        theta = jnp.concatenate([p["u"], p["v"].ravel()])
        return 0.5 * theta @ jnp.asarray(a) @ theta + jnp.asarray(c) @ theta

    params = {"u": jnp.ones(3), "v": jnp.zeros((2, 2))}
    h = hessian.dense_hessian(loss, params)
    np.testing.assert_allclose(np.asarray(h), a, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(hessian.eigenvalues(h), np.linalg.eigvalsh(a), rtol=1e-12)


def test_dense_hessian_matches_finite_differences_of_the_gradient() -> None:
    """Column j of H = (g(theta + eps e_j) - g(theta - eps e_j)) / (2 eps), O(eps^2)."""
    p, x, y = _net(hidden=6, d_in=3, d_out=2, n=8)
    flat_loss, theta = hessian.flatten(lambda q: mse_loss(q, x, y), p)
    grad = jax.jit(jax.grad(flat_loss))
    h = np.asarray(hessian.dense_hessian(lambda q: mse_loss(q, x, y), p))
    eps = 1e-5
    fd = np.stack(
        [
            (np.asarray(grad(theta.at[j].add(eps))) - np.asarray(grad(theta.at[j].add(-eps))))
            / (2 * eps)
            for j in range(theta.size)
        ],
        axis=1,
    )
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-8)


def test_two_layer_hessian_at_a_known_point() -> None:
    """Closed form: one linear-regime unit, f = n relu(m x + b), all inputs active.

    At m = b = 0+ with n = 0, the loss (f - y)^2 has d2L/dn2 = 2 mean(z^2) and
    every other second derivative 0 except d2L/dn dm, d2L/dn db = -2 mean(y x), -2 mean(y).
    """
    x = jnp.asarray([[1.0], [2.0], [3.0]])
    y = jnp.asarray([[1.0], [0.5], [2.0]])
    p = Params(m=jnp.asarray([[0.5]]), b=jnp.asarray([0.25]), n=jnp.asarray([[0.0]]))
    z = np.asarray(x[:, 0]) * 0.5 + 0.25
    yy = np.asarray(y[:, 0])
    xx = np.asarray(x[:, 0])
    # theta order (ravel_pytree): m, b, n
    expected = np.zeros((3, 3))
    expected[2, 2] = 2 * np.mean(z**2)
    expected[0, 2] = expected[2, 0] = -2 * np.mean(yy * xx)
    expected[1, 2] = expected[2, 1] = -2 * np.mean(yy)
    h = hessian.dense_hessian(lambda q: mse_loss(q, x, y), p)
    np.testing.assert_allclose(np.asarray(h), expected, rtol=1e-12, atol=1e-12)


def test_summaries_of_a_known_spectrum() -> None:
    eigs = np.array([-1e-12, 0.0, 1e-10, -0.5, 1.0, 4.0])
    s = hessian.summarise(eigs, rtol=1e-6)
    assert (s.n_params, s.n_nonzero, s.n_negative) == (6, 3, 1)
    assert s.frac_nonzero == pytest.approx(0.5)
    assert s.trace == pytest.approx(4.5, abs=1e-9)
    assert s.max == 4.0
    assert s.sum_log_nonzero == pytest.approx(np.log(0.5) + np.log(1.0) + np.log(4.0))
    with pytest.raises(ValueError, match="rtol"):
        hessian.summarise(eigs, rtol=0)


def test_gauss_newton_equals_hessian_at_an_exact_zero_of_the_loss() -> None:
    """Targets made by the network itself: residuals 0, so H = (2 / N d_out) J^T J."""
    p, x, _ = _net(hidden=10, d_in=4, d_out=3, n=12)
    y_exact = forward(p, x)
    h = np.asarray(hessian.dense_hessian(lambda q: mse_loss(q, x, y_exact), p))
    g = np.asarray(hessian.gauss_newton(lambda q: forward(q, x), p))
    assert np.linalg.norm(h - g) <= 1e-12 * np.linalg.norm(h)
    # away from the zero, the residual term is there (the test can fail)
    _, _, y_other = _net(hidden=10, d_in=4, d_out=3, n=12, seed=5)
    h_other = np.asarray(hessian.dense_hessian(lambda q: mse_loss(q, x, y_other), p))
    assert np.linalg.norm(h_other - g) > 1e-3 * np.linalg.norm(h_other)
    # the Gram form gives G's whole nonzero spectrum; the rest of G's spectrum is 0
    gram = hessian.gauss_newton_eigenvalues(lambda q: forward(q, x), p)
    full = hessian.eigenvalues(g)
    top = full[-gram.size :]
    np.testing.assert_allclose(top, gram, rtol=1e-9, atol=1e-12 * full.max())
    assert np.all(np.abs(full[: -gram.size]) < 1e-10 * full.max())


def test_silent_units_give_at_least_the_predicted_zero_eigenvalues() -> None:
    """Units with m <= 0 and b < 0 on inputs in [0, 1] are silent for every input:
    (d_in + 1 + d_out) zero eigenvalues each (Methods, "Hessian and sparseness")."""
    d_in, d_out = 5, 3
    p, x, y = _net(hidden=12, d_in=d_in, d_out=d_out, n=10)
    silent = np.array([0, 3, 4, 9])
    m = np.asarray(p.m).copy()
    b = np.asarray(p.b).copy()
    m[silent] = -np.abs(m[silent])
    b[silent] = -1.0
    p = Params(jnp.asarray(m), jnp.asarray(b), p.n)
    h_act = np.asarray(hidden_activity(p, x))
    predicted = hessian.zero_eigenvalues_from_silent_units(h_act, d_in, d_out)
    n_silent = int(np.all(h_act == 0, axis=0).sum())  # ours, and any silent by chance
    assert n_silent >= silent.size
    assert predicted == n_silent * (d_in + 1 + d_out)
    report = hessian.flatness_report(
        lambda q: mse_loss(q, x, y), lambda q: forward(q, x), p, h_act, d_in=d_in
    )
    assert report["zeros_from_silent"] == predicted
    assert report["zeros"] >= predicted
    # without the silencing there are fewer zeros (the count measures something)
    p0, _, _ = _net(hidden=12, d_in=d_in, d_out=d_out, n=10)
    s0 = hessian.summarise(
        hessian.eigenvalues(hessian.dense_hessian(lambda q: mse_loss(q, x, y), p0))
    )
    assert s0.n_params - s0.n_nonzero < report["zeros"]


@pytest.fixture(scope="module")
def mid_sized() -> tuple[jax.Array, hessian.MatVec, int]:
    """A sweep-shaped network (H 60, d_in 20, d_out 5, 10 samples): 1,560 parameters."""
    with jax.enable_x64(True):
        p, x, y = _net(hidden=60, d_in=20, d_out=5, n=10, seed=3)

        def loss(q: Params) -> jax.Array:
            return mse_loss(q, x, y)

        matvec, n = hessian.hvp(loss, p)
        return hessian.dense_hessian(loss, p), matvec, n


def test_hvp_equals_dense_product(mid_sized) -> None:
    h, matvec, n = mid_sized
    v = jax.random.normal(jax.random.key(0), (n,), jnp.float64)
    np.testing.assert_allclose(np.asarray(matvec(v)), np.asarray(h @ v), rtol=1e-10, atol=1e-12)


def test_lanczos_top_of_the_spectrum_matches_dense(mid_sized) -> None:
    """80 steps with full reorthogonalisation: the top 5 eigenvalues to 1e-8 relative."""
    h, matvec, n = mid_sized
    dense = hessian.eigenvalues(h)
    ritz = hessian.lanczos(matvec, n, k=80, key=jax.random.key(1))
    np.testing.assert_allclose(ritz[-5:], dense[-5:], rtol=1e-8)
    with pytest.raises(ValueError, match="k: expected"):
        hessian.lanczos(matvec, n, k=0, key=jax.random.key(1))


def test_hutchinson_trace_within_its_theoretical_error(mid_sized) -> None:
    """One Rademacher probe has variance 2 (||H||_F^2 - sum H_ii^2): the mean of S probes
    lies within 4 standard errors of the trace (and the reported error is that one)."""
    h, matvec, n = mid_sized
    hn = np.asarray(h)
    exact = float(np.trace(hn))
    samples = 200
    sd_one = np.sqrt(2 * (np.sum(hn**2) - np.sum(np.diag(hn) ** 2)))
    se_theory = sd_one / np.sqrt(samples)
    for seed in range(3):
        est, se = hessian.hutchinson_trace(matvec, n, samples=samples, key=jax.random.key(seed))
        assert abs(est - exact) < 4 * se_theory
        assert 0.7 * se_theory < se < 1.3 * se_theory


def test_run_records_hessian_summaries_on_their_own_schedule(tmp_path: Path, tiny_raw) -> None:
    """A tiny corridor run (H 24: 24 x (18 + 1 + 17) = 864 parameters), Hessians every
    300 steps: summaries in timeseries.nc, spectra in hessian.nc, and the last record
    equals the dense spectrum computed from the final parameters."""
    raw = {**tiny_raw, "record": {**tiny_raw["record"], "params": True, "hessian": {"every": 300}}}
    execute(parse_config(raw), tmp_path / "r", progress=False)
    ds = load_run(tmp_path / "r")
    ts, spectra = ds["timeseries"], ds["hessian"]
    assert list(ts.hessian_step.values) == [0, 300, 600]
    assert list(ts.step.values) == [0, 200, 400, 600]
    assert spectra.eigenvalues.shape == (3, 1, 864)
    eigs = spectra.eigenvalues.values[-1, 0]
    assert ts.hessian_n_nonzero.values[-1, 0] == hessian.summarise(eigs).n_nonzero
    params = ds["params"].isel(time=-1, network=0)
    data = ds["data"].isel(network=0)
    p = Params(*(jnp.asarray(params[k].values, jnp.float64) for k in ("m", "b", "n")))
    # the float32 run trained on float32-rounded data
    x, y = (
        jnp.asarray(data[k].values.astype(np.float32), jnp.float64) for k in ("inputs", "targets")
    )
    direct = hessian.eigenvalues(hessian.dense_hessian(lambda q: mse_loss(q, x, y), p))
    np.testing.assert_allclose(eigs, direct, atol=1e-12 * np.abs(direct).max())
    assert float(ts.hessian_trace.values[-1, 0]) == pytest.approx(direct.sum(), rel=1e-12)
    h_act = np.asarray(hidden_activity(p, x))
    assert ts.hessian_zeros_from_silent.values[-1, 0] == hessian.zero_eigenvalues_from_silent_units(
        h_act, 18, 17
    )


def test_lanczos_method_in_a_run(tmp_path: Path, tiny_raw) -> None:
    """method lanczos: max and a Hutchinson trace; counts are NaN (not computed)."""
    hess = {"every": 600, "method": "lanczos", "lanczos_steps": 60, "hutchinson_samples": 50}
    raw = {**tiny_raw, "record": {**tiny_raw["record"], "hessian": hess}}
    execute(parse_config(raw), tmp_path / "r", progress=False)
    ds = load_run(tmp_path / "r")
    ts = ds["timeseries"]
    assert "hessian" not in ds
    assert np.isnan(ts.hessian_n_nonzero.values).all()
    assert np.all(ts.hessian_max.values > 0) and np.all(ts.hessian_trace_se.values > 0)


class _StopError(Exception):
    pass


def test_resume_with_hessian_records_equals_uninterrupted(tmp_path: Path, tiny_raw) -> None:
    raw = {**tiny_raw, "record": {**tiny_raw["record"], "hessian": {"every": 200}}}
    cfg = parse_config(raw)
    execute(cfg, tmp_path / "a", progress=False)

    def stop(step: int, total: int, speed: float) -> None:
        if step == 300:
            raise _StopError

    with pytest.raises(_StopError):
        execute(cfg, tmp_path / "b", progress=False, on_chunk=stop)
    execute(cfg, tmp_path / "b", progress=False)
    a, b = load_run(tmp_path / "a"), load_run(tmp_path / "b")
    for name in ("hessian_n_nonzero", "hessian_trace", "hessian_sum_log_nonzero", "loss"):
        np.testing.assert_array_equal(a["timeseries"][name].values, b["timeseries"][name].values)
    np.testing.assert_array_equal(a["hessian"].eigenvalues.values, b["hessian"].eigenvalues.values)
