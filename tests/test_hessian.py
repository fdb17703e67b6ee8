"""driftlab.hessian: closed forms, finite differences, Gauss-Newton, Lanczos, Hutchinson,
and the Hessian summaries a run records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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
    """Closed form: one unit, f = n relu(m x + b), active on every input (z = m x + b > 0).

    At n = 0 the loss mean (f - y)^2 has d2L/dn2 = 2 mean(z^2), d2L/dn dm =
    -2 mean(y x), d2L/dn db = -2 mean(y), and every other second derivative 0.
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
    eigs = np.array([-1e-12, 0.0, 1e-10, -0.5, 2.0, 4.0])
    s = hessian.summarise(eigs, rtol=1e-6)
    assert (s.n_params, s.n_nonzero, s.n_negative, s.n_positive) == (6, 3, 1, 2)
    assert s.frac_nonzero == pytest.approx(0.5)
    assert s.trace == pytest.approx(5.5, abs=1e-9)
    assert s.max == 4.0
    assert s.sum_log_nonzero == pytest.approx(np.log(0.5) + np.log(2.0) + np.log(4.0))
    assert s.sum_log_positive == pytest.approx(np.log(2.0) + np.log(4.0))
    with pytest.raises(ValueError, match="rtol"):
        hessian.summarise(eigs, rtol=0)
    broken = hessian.summarise(np.array([1.0, np.nan, 2.0]))
    assert np.isnan([broken.n_nonzero, broken.trace, broken.max, broken.sum_log_positive]).all()


def test_band_ends_equal_direct_counts_and_bracket_the_count() -> None:
    """n_nonzero_rtol_min / _max are the plain counts at RTOL_RANGE's two ends; every
    rtol inside gives a count between them."""
    rng = np.random.default_rng(2)
    eigs = rng.choice([-1.0, 1.0], 600) * 10 ** rng.uniform(-16, 1, 600)
    s = hessian.summarise(eigs)
    lo, hi = hessian.RTOL_RANGE
    assert (s.rtol_min, s.rtol_max) == (lo, hi)
    scale = np.abs(eigs).max()
    assert s.n_nonzero_rtol_min == np.count_nonzero(np.abs(eigs) > lo * scale)
    assert s.n_nonzero_rtol_max == np.count_nonzero(np.abs(eigs) > hi * scale)
    assert s.n_nonzero_rtol_max < s.n_nonzero < s.n_nonzero_rtol_min  # rtol 1e-7 inside
    for rtol in np.geomspace(lo, hi, 7):
        assert s.n_nonzero_rtol_max <= hessian.count_nonzero(eigs, rtol) <= s.n_nonzero_rtol_min
    wide = hessian.summarise(eigs, rtol_range=(1e-14, 1e-2))
    assert wide.n_nonzero_rtol_min == np.count_nonzero(np.abs(eigs) > 1e-14 * scale)
    with pytest.raises(ValueError, match="rtol_range"):
        hessian.summarise(eigs, rtol_range=(1e-6, 1e-12))
    with pytest.raises(ValueError, match="min_gap_decades"):
        hessian.summarise(eigs, min_gap_decades=0)


def test_a_clear_gap_gives_the_same_count_at_every_rtol_in_it() -> None:
    """80 eigenvalues (signed) from 1e-4 to 10 of the largest, 40 at round-off
    (1e-15): the gap covers the whole range, so its count, both band ends and the
    count at any rtol in the range are all 80, whatever the scale of H."""
    rng = np.random.default_rng(4)
    big = rng.choice([-1.0, 1.0], 80) * 10 ** rng.uniform(-4, 1, 80)
    big[0] = 10.0
    tiny = rng.normal(scale=1e-14, size=40)
    for scale in (1.0, 3e-5, 2e4):
        eigs = scale * np.concatenate([big, tiny])
        s = hessian.summarise(eigs)
        assert s.gap_n_nonzero == s.n_nonzero_rtol_min == s.n_nonzero_rtol_max == 80
        assert s.gap_decades == pytest.approx(6.0)  # the whole window: [1e-12, 1e-6]
        for rtol in np.geomspace(*hessian.RTOL_RANGE, 9):
            assert hessian.summarise(eigs, rtol=rtol).n_nonzero == 80


def test_a_gap_inside_the_range_is_found_and_sized() -> None:
    """A continuum 10 per decade from 1 down to 1e-8, nothing down to 1e-11, a continuum
    again below: the widest gap in [1e-12, 1e-6] is the 3 decades between 1e-8 and
    1e-11; every rtol in it gives its count, while the band's ends differ."""
    upper = np.logspace(0, -8, 81)
    lower = np.logspace(-11, -16, 51)
    eigs = np.concatenate([upper, -lower[::2], lower[1::2]])
    s = hessian.summarise(eigs)
    assert s.gap_decades == pytest.approx(3.0)
    assert s.gap_n_nonzero == 81
    for rtol in np.geomspace(1.01e-11, 0.99e-8, 11):
        assert hessian.count_nonzero(eigs, rtol) == 81
    assert s.n_nonzero_rtol_max < 81 < s.n_nonzero_rtol_min
    assert hessian.spectral_gap(eigs) == (81, pytest.approx(3.0))
    # demanding a wider gap than there is: no gap count
    assert np.isnan(hessian.summarise(eigs, min_gap_decades=3.5).gap_n_nonzero)


def test_a_spectrum_without_a_gap_reports_none() -> None:
    """|lambda| spread evenly over 16 decades, 100 per decade, as on the Figure 4
    networks: the widest step inside the range is about 0.01 decade, below
    MIN_GAP_DECADES, so there is no gap count, and the band is wide."""
    eigs = np.logspace(0, -16, 1601)
    s = hessian.summarise(eigs)
    assert s.gap_decades == pytest.approx(0.01)
    assert s.gap_decades < hessian.MIN_GAP_DECADES
    assert np.isnan(s.gap_n_nonzero)
    assert s.n_nonzero_rtol_min - s.n_nonzero_rtol_max == 600  # 6 decades
    # degenerate spectra: an empty window, and all zero
    assert hessian.spectral_gap(np.array([0.0, 2.0, 1e-14])) == (1, pytest.approx(6.0))
    zero = hessian.summarise(np.zeros(5))
    assert (zero.n_nonzero, zero.n_nonzero_rtol_min, zero.gap_n_nonzero) == (0, 0, 0)
    broken = hessian.summarise(np.array([1.0, np.nan]))
    assert np.isnan([broken.n_nonzero_rtol_min, broken.gap_decades, broken.gap_n_nonzero]).all()


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


def test_lanczos_stops_when_the_krylov_space_is_exhausted() -> None:
    """A rank-5 operator: the Krylov space has at most 6 dimensions (5 + the null
    direction of the start), so Lanczos stops early with the 5 eigenvalues exact."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(40, 5)))
    lam = np.array([0.5, 1.0, 2.0, 3.0, 7.0])
    a = jnp.asarray((q * lam) @ q.T)
    ritz = hessian.lanczos(lambda v: a @ v, 40, k=20, key=jax.random.key(0))
    assert ritz.size <= 6
    np.testing.assert_allclose(ritz[-5:], lam, rtol=1e-9)


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
    # the tolerance-free summaries, recorded from the same spectra, with their range named
    for i, e in enumerate(spectra.eigenvalues.values[:, 0]):
        s = hessian.summarise(e)
        for name in ("n_nonzero_rtol_min", "n_nonzero_rtol_max", "gap_decades"):
            assert ts[f"hessian_{name}"].values[i, 0] == getattr(s, name)
        np.testing.assert_equal(ts.hessian_gap_n_nonzero.values[i, 0], s.gap_n_nonzero)
    assert "1e-12" in ts.hessian_n_nonzero_rtol_min.attrs["long_name"]
    assert "1e-6" in ts.hessian_n_nonzero_rtol_max.attrs["long_name"]
    assert "rtol" in ts.hessian_n_nonzero.attrs["long_name"]
    assert ts.attrs["hessian_rtol"] == 1e-7
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


def test_lanczos_method_in_a_run_agrees_with_dense(tmp_path: Path, tiny_raw) -> None:
    """method lanczos on the tiny run (864 parameters): the max equals the dense run's to
    1e-6 and the Hutchinson trace lies within 4 of its standard errors; counts are NaN."""
    runs = {}
    for method in ("lanczos", "dense"):
        hess = {"every": 600, "method": method, "lanczos_steps": 60, "hutchinson_samples": 50}
        raw = {**tiny_raw, "record": {**tiny_raw["record"], "hessian": hess}}
        execute(parse_config(raw), tmp_path / method, progress=False)
        runs[method] = load_run(tmp_path / method)
    assert "hessian" not in runs["lanczos"] and "hessian" in runs["dense"]
    lz, dn = runs["lanczos"]["timeseries"], runs["dense"]["timeseries"]
    assert np.isnan(lz.hessian_n_nonzero.values).all()
    assert np.isnan(lz.hessian_n_nonzero_rtol_min.values).all()
    assert np.isnan(lz.hessian_gap_decades.values).all()
    np.testing.assert_allclose(lz.hessian_max.values, dn.hessian_max.values, rtol=1e-6)
    se = lz.hessian_trace_se.values
    assert np.all(se > 0)
    assert np.all(np.abs(lz.hessian_trace.values - dn.hessian_trace.values) < 4 * se)


def test_hessian_records_compile_once_and_handle_diverged_and_non_relu_networks() -> None:
    """A second record of the same shapes compiles nothing; a NaN network records NaN
    throughout; a tanh network gets no silent-unit count (it holds for ReLU only)."""
    from driftlab.hessian import recorder as flatness

    opts = flatness.HessianOptions()
    p, x, y = _net(hidden=8, d_in=3, d_out=2, n=6)
    batch = Params(*(jnp.stack([leaf, leaf.at[0].set(jnp.nan)]) for leaf in p))
    xb, yb = np.stack([np.asarray(x)] * 2), np.stack([np.asarray(y)] * 2)
    key = jax.random.key(0)
    first = flatness.hessian_record(batch, xb, yb, activation="relu", key=key, options=opts)
    dense_fn, _ = flatness._compiled("relu", 8, 3, 2)
    compiled = dense_fn._cache_size()
    moved = Params(*(leaf * 1.01 for leaf in batch))
    flatness.hessian_record(moved, xb, yb, activation="relu", key=key, options=opts)
    assert dense_fn._cache_size() == compiled == 1
    ok, broken = (np.array([v[i] for v in first.values.values()]) for i in (0, 1))
    assert np.all(np.isfinite(ok)) and np.all(np.isnan(broken))
    assert first.spectra is not None and np.isnan(first.spectra[1]).all()
    tanh = flatness.hessian_record(batch, xb, yb, activation="tanh", key=key, options=opts)
    assert np.isnan(tanh.values["zeros_from_silent"]).all()
    assert np.isfinite(tanh.values["trace"][0])


def test_every_recorded_summary_is_described_with_its_tolerance() -> None:
    """Each recorded name has a long_name; those counted at rtol say so, and
    ``long_name`` writes the run's rtol in."""
    from driftlab.hessian import recorder as flatness

    assert set(flatness.LONG_NAMES) == set(flatness.HESSIAN_RECORDED)
    for name in ("n_nonzero", "frac_nonzero", "n_positive", "sum_log_positive"):
        assert "rtol = record.hessian.rtol" in flatness.LONG_NAMES[name]
        assert "rtol = 1e-07" in flatness.long_name(name, 1e-7)
    assert "1e-12 .. 1e-6" in flatness.LONG_NAMES["gap_decades"]
    assert flatness.long_name("trace", 1e-7) == flatness.LONG_NAMES["trace"]


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
    _assert_same_hessian_records(tmp_path / "a", tmp_path / "b")


def test_crash_between_a_hessian_record_and_its_checkpoint(
    tmp_path: Path, tiny_raw, monkeypatch
) -> None:
    """The checkpoint after the step-400 Hessian record fails to write: the record was
    computed (and its spectrum written) but not checkpointed; the rerun recomputes it."""
    from driftlab.runner import loop as run_module  # where the run writes its files

    raw = {**tiny_raw, "record": {**tiny_raw["record"], "hessian": {"every": 200}}}
    cfg = parse_config(raw)
    execute(cfg, tmp_path / "a", progress=False)
    real = run_module.write_npz

    spectrum_400 = tmp_path / "b" / "snapshots" / "hessian_000000000400.npz"

    def failing(path: Path, arrays: Any) -> None:
        if path.name == "checkpoint.npz" and spectrum_400.is_file():
            raise OSError("disk full (injected)")
        real(path, arrays)

    monkeypatch.setattr(run_module, "write_npz", failing)
    with pytest.raises(OSError, match="injected"):
        execute(cfg, tmp_path / "b", progress=False)
    monkeypatch.setattr(run_module, "write_npz", real)
    assert json.loads((tmp_path / "b" / "status.json").read_text())["step"] == 300
    execute(cfg, tmp_path / "b", progress=False)
    _assert_same_hessian_records(tmp_path / "a", tmp_path / "b")


def _assert_same_hessian_records(dir_a: Path, dir_b: Path) -> None:
    a, b = load_run(dir_a), load_run(dir_b)
    names = (
        "hessian_n_nonzero",
        "hessian_trace",
        "hessian_sum_log_positive",
        "hessian_step",
        "loss",
    )
    for name in names:
        np.testing.assert_array_equal(a["timeseries"][name].values, b["timeseries"][name].values)
    np.testing.assert_array_equal(a["hessian"].eigenvalues.values, b["hessian"].eigenvalues.values)
