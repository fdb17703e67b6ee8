"""Two-dimensional landscapes: closed forms, the (x y)^2 drift against its theory, Figure 4A.

Ratzon, Derdikman & Barak (2023), Figure 4A and Methods eq. 7-10. The statistical
tests draw their tolerances from the number of samples (standard errors), plus
the stated model error of the approximation where there is one.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from driftlab.experiments.landscapes import run_valley, run_xy_drift, valley_trajectory
from driftlab.landscapes import (
    FlatFloor,
    control_theory,
    flat_floor,
    floor_drift_rate,
    noisy_gd,
    stationary_variance_y,
    valley,
    valley_curvature,
    valley_drift_rate,
    xy_drift_rate,
    xy_drift_theory,
    xy_squared,
)
from driftlab.plots.landscapes import draw_stored_valley
from driftlab.storage import read_npz


def _starts(n: int, x0: float = 1.0, y0: float = 0.0) -> np.ndarray:
    return np.tile(np.asarray([x0, y0], np.float32), (n, 1))


# ------------------------------------------------------------------ closed forms

_grad_xy = jax.jit(jax.grad(xy_squared))
_hessian_xy = jax.jit(jax.hessian(xy_squared))


@pytest.mark.parametrize("x0", [0.5, 1.0, -2.0])
def test_xy_gradient_and_hessian_closed_form(x0: float) -> None:
    """At (x0, 0): gradient 0, Hessian 2 diag(0, x0^2) (eq. 9), eigenvalues 0 and 2 x0^2.

    Off the floor, at (x0, dy), the gradient is 2 x0 (dy^2, x0 dy) (eq. 8).
    """
    with jax.enable_x64(True):
        point = jnp.asarray([x0, 0.0], jnp.float64)
        grad = np.asarray(_grad_xy(point))
        hess = np.asarray(_hessian_xy(point))
        np.testing.assert_array_equal(grad, [0.0, 0.0])
        np.testing.assert_allclose(hess, [[0.0, 0.0], [0.0, 2 * x0**2]], atol=1e-14)
        np.testing.assert_allclose(np.linalg.eigvalsh(hess), [0.0, 2 * x0**2], atol=1e-14)
        dy = 0.03
        off = np.asarray(_grad_xy(jnp.asarray([x0, dy], jnp.float64)))
        np.testing.assert_allclose(off, 2 * x0 * np.asarray([dy**2, x0 * dy]), rtol=1e-12)


def test_valley_floor_walls_and_control() -> None:
    """The valley is zero on y = 0, its walls (2 c(x)) steepen with x; the control is flat."""
    with jax.enable_x64(True):
        xs = np.linspace(-3.0, 3.0, 13)
        floor = jnp.stack([jnp.asarray(xs), jnp.zeros(13)], axis=-1)  # (13, 2)
        np.testing.assert_array_equal(np.asarray(valley(floor)), np.zeros(13))
        hess = np.asarray(jax.jit(jax.vmap(jax.hessian(valley)))(floor))  # (13, 2, 2)
        curvatures = np.asarray(valley_curvature(jnp.asarray(xs)))
        expected = np.zeros((13, 2, 2))
        expected[:, 1, 1] = 2 * curvatures
        np.testing.assert_allclose(hess, expected, atol=1e-12)
        control = np.asarray(jax.jit(jax.vmap(jax.hessian(flat_floor)))(floor))
        np.testing.assert_allclose(control, np.broadcast_to([[0.0, 0.0], [0.0, 2.0]], (13, 2, 2)))
        assert np.all(np.diff(curvatures) > 0)  # flatter toward -x
        assert curvatures[-1] / curvatures[0] > 100


def test_one_noise_free_step_is_the_gd_formula() -> None:
    """sd 0: one step is theta - lr (2 x y^2, 2 x^2 y) (eq. 3 without noise)."""
    theta = np.asarray([[1.0, 0.5], [-2.0, 0.1], [0.3, -1.0]], np.float32)
    out = noisy_gd(xy_squared, theta, lr=0.05, sd=0.0, steps=1, key=jax.random.key(0))
    x, y = theta[:, 0], theta[:, 1]
    expected = theta - 0.05 * np.stack([2 * x * y**2, 2 * x**2 * y], axis=-1)
    np.testing.assert_allclose(out.theta[-1], expected, rtol=1e-6)
    np.testing.assert_array_equal(out.theta[0], theta)


def test_theory_closed_forms() -> None:
    """xy_drift_theory solves dx/dt = -s^2 / (2 x (1 - lr x^2)); small lr: x^2 = x0^2 - s^2 t."""
    t = np.linspace(0, 8_000, 9)
    small = xy_drift_theory(1.0, lr=1e-12, sd=0.01, steps=t)
    np.testing.assert_allclose(small, np.sqrt(1 - 1e-4 * t), rtol=1e-9)
    lr, sd = 0.3, 0.01
    ode = solve_ivp(
        lambda _, x: xy_drift_rate(x, lr=lr, sd=sd),
        (0, 5_000),
        [1.0],
        t_eval=t[:6],
        rtol=1e-10,
        atol=1e-12,
    )
    np.testing.assert_allclose(xy_drift_theory(1.0, lr=lr, sd=sd, steps=t[:6]), ode.y[0], rtol=1e-7)
    # (1 - lr x^2) matters: the drift at lr x^2 = 0.3 is 1/0.7 times the small-lr one
    assert xy_drift_rate(1.0, lr=0.3, sd=sd) == pytest.approx(-(sd**2) / 2 / 0.7)
    assert stationary_variance_y(1.0, lr=0.3, sd=sd) == pytest.approx(sd**2 / (4 * 0.3 * 0.7))
    assert np.isnan(stationary_variance_y(2.0, lr=0.3, sd=sd))  # lr x^2 > 1: unstable
    assert np.isnan(xy_drift_theory(1.0, lr=0.1, sd=0.01, steps=20_000))  # past the crossing
    assert xy_drift_theory(-1.0, lr=0.1, sd=0.01, steps=100) < 0  # keeps the sign of x0
    np.testing.assert_array_equal(control_theory(1.5, steps=t), np.full(9, 1.5))
    assert floor_drift_rate(np.ones(3), np.zeros(3), lr=0.1, sd=0.01).tolist() == [0.0] * 3
    rates = valley_drift_rate(np.linspace(-4, 4, 17), lr=0.1, sd=0.02)
    assert np.all(rates < 0)  # toward the flat side everywhere
    assert rates[0] == pytest.approx(-(0.02**2) / (4 * 0.5), rel=1e-3)  # deep on the flat side


# ------------------------------------------------------------------ statistics


@pytest.mark.parametrize("lr", [0.1, 0.4])
def test_y_variance_is_the_stationary_ou_variance(lr: float) -> None:
    """Var y near (x, 0) is s^2 / (4 lr x^2 (1 - lr x^2)) (an AR(1) process in y).

    n = 20,000 runs from (1, 0), s = 0.01, recorded at steps 20, 40, ..., 200 (y has
    relaxed: its variance reaches 1 - (1 - 2 lr x^2)^40 > 0.9998 of the stationary
    value by step 20; records 20 steps apart have y^2 correlated by
    (1 - 2 lr)^40 < 2e-4, so the N = 200,000 samples are independent). Each
    y^2 / V(x), V the formula at that run's x, is chi-square(1): mean 1, variance
    2, so the mean's standard error is sqrt(2 / N) = 0.0032. Model error: y
    follows x with a lag of ~1 / (2 lr x^2) steps, in which x moves by ~s sqrt(5):
    a relative error in V of ~1e-3 (and of either sign). Tolerance: 4 standard
    errors + 0.002. At lr = 0.4 the factor 1 / (1 - lr x^2) = 1.67 must show.
    """
    n, sd = 20_000, 0.01
    out = noisy_gd(
        xy_squared, _starts(n), lr=lr, sd=sd, steps=200, key=jax.random.key(3), record_every=20
    )
    x = out.theta[1:, :, 0].astype(np.float64).ravel()
    y = out.theta[1:, :, 1].astype(np.float64).ravel()
    ratio = y**2 / stationary_variance_y(x, lr=lr, sd=sd)
    se = math.sqrt(2 / ratio.size)
    assert abs(ratio.mean() - 1) < 4 * se + 0.002, (ratio.mean(), se)
    # without (1 - lr x^2) the formula would be off by 1 / (1 - lr x^2) - 1 = 0.11 or 0.67
    naive = y**2 / (sd**2 / (4 * lr * x**2))
    assert naive.mean() - 1 > 0.08


@pytest.mark.parametrize("lr", [0.1, 0.3])
def test_xy_mean_drift_matches_theory(lr: float) -> None:
    """The mean x of n runs from (1, 0) follows xy_drift_theory within its tolerance.

    n = 50,000 runs, s = 0.01, t = 500 steps. Standard error of the mean:
    sd(x across runs) / sqrt(n), about s sqrt(t) / sqrt(n) = 0.001 (x diffuses by
    s per step). Model error of the theory (its docstring): relative
    (k / 4) s^2 t / x0^2 from the spread of x (k = 1.9 at lr 0.1, 2.6 at lr 0.3),
    at most s^2 t / x0^2 = 5% of the drift, and a lag of ~3 steps of drift while
    y relaxes from 0 (< 1%). Tolerance: 4 standard errors + 6% of the predicted
    drift, about 0.006. The drift itself (0.028 at lr 0.1, 0.036 at lr 0.3)
    must be over 20 standard errors from 0, and dropping the factor
    1 / (1 - lr x^2) (drift 0.025) would miss by about 0.010 at lr 0.3.
    """
    n, sd, steps = 50_000, 0.01, 500
    out = noisy_gd(xy_squared, _starts(n), lr=lr, sd=sd, steps=steps, key=jax.random.key(7))
    x = out.theta[-1, :, 0].astype(np.float64)
    se = x.std(ddof=1) / math.sqrt(n)
    predicted = float(xy_drift_theory(1.0, lr=lr, sd=sd, steps=steps))
    drift = 1.0 - predicted
    tolerance = 4 * se + 0.06 * drift
    assert abs(x.mean() - predicted) < tolerance, (x.mean(), predicted, se)
    assert (1.0 - x.mean()) / se > 20
    naive = math.sqrt(1 - sd**2 * steps)  # the small-lr theory, no 1 / (1 - lr x^2)
    if lr >= 0.3:
        assert abs(x.mean() - naive) > tolerance


def test_control_has_no_drift() -> None:
    """On L = y^2 (curvature independent of x) the mean x stays at x0 within 4 s.e.

    Same runs as the (x y)^2 test at lr 0.1, so the same standard error (0.001)
    against a drift of 0.028 there.
    """
    n, sd, steps = 50_000, 0.01, 500
    out = noisy_gd(flat_floor, _starts(n), lr=0.1, sd=sd, steps=steps, key=jax.random.key(7))
    x = out.theta[-1, :, 0].astype(np.float64)
    se = x.std(ddof=1) / math.sqrt(n)
    assert abs(x.mean() - 1.0) < 4 * se
    assert 0.028 / se > 20  # the (x y)^2 drift would be resolved


def test_valley_runs_drift_toward_the_flat_side() -> None:
    """From a start up the wall, noisy runs end left of where noise-free GD stops.

    n = 1,000 runs of 2,000 steps, s = 0.02. Standard error of the mean end x:
    sd across runs / sqrt(n) (~0.03). The theory (valley_drift_rate) gives
    -s^2 / (4 w) = -2e-4 a step on the flat side, so a displacement of order
    -0.2 to -0.4; assert it is negative by more than 4 standard errors.
    """
    n, sd, steps = 1_000, 0.02, 2_000
    start = _starts(n, x0=0.5, y0=1.0)
    noisy = noisy_gd(valley, start, lr=0.1, sd=sd, steps=steps, key=jax.random.key(11))
    clean = noisy_gd(valley, start[:1], lr=0.1, sd=0.0, steps=steps, key=jax.random.key(11))
    stop = float(clean.theta[-1, 0, 0])
    assert abs(float(clean.theta[-1, 0, 1])) < 1e-6  # noise-free GD reached the floor
    ends = noisy.theta[-1, :, 0].astype(np.float64)
    se = ends.std(ddof=1) / math.sqrt(n)
    assert ends.mean() < stop - 4 * se, (ends.mean(), stop, se)
    # control: on a floor of constant curvature the runs do not move on average
    flat = FlatFloor(curvature=float(valley_curvature(jnp.asarray(stop))))
    ctl = noisy_gd(flat, start, lr=0.1, sd=sd, steps=steps, key=jax.random.key(11))
    ctl_stop = noisy_gd(flat, start[:1], lr=0.1, sd=0.0, steps=steps, key=jax.random.key(11))
    ctl_ends = ctl.theta[-1, :, 0].astype(np.float64)
    ctl_se = ctl_ends.std(ddof=1) / math.sqrt(n)
    assert abs(ctl_ends.mean() - float(ctl_stop.theta[-1, 0, 0])) < 4 * ctl_se


# ------------------------------------------------------------------ engineering


def test_same_key_same_runs_and_records() -> None:
    run = functools.partial(
        noisy_gd, xy_squared, _starts(64), lr=0.1, sd=0.01, steps=300, record_every=100
    )
    a, b, c = run(key=jax.random.key(5)), run(key=jax.random.key(5)), run(key=jax.random.key(6))
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, c.theta)
    assert a.theta.shape == (4, 64, 2)
    np.testing.assert_array_equal(a.step, [0, 100, 200, 300])
    assert a.theta.dtype == np.float32
    # the runs are independent: different noise per trajectory
    assert np.unique(a.theta[-1, :, 0]).size == 64


def test_gradient_noise_is_parameter_noise_times_lr() -> None:
    """theta - lr (g + sd xi) is theta - lr g + (lr sd) (-xi): parameter noise of sd lr sd.

    (x y)^2 is even and its gradient odd, so the run from -theta0 with noise -xi is
    minus the run from theta0 with noise xi.
    """
    start = _starts(32) + np.asarray([0.0, 0.05], np.float32)
    kw = {"lr": 0.1, "steps": 200, "record_every": 50, "key": jax.random.key(2)}
    grad_form = noisy_gd(xy_squared, -start, sd=0.1, noise_kind="gradient", **kw)  # type: ignore[arg-type]
    param_form = noisy_gd(xy_squared, start, sd=0.01, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(grad_form.theta, -param_form.theta, rtol=1e-5, atol=1e-6)


def test_float64_on_request() -> None:
    """float64 starts run in float64 and agree with float32 on the same noise."""
    run = functools.partial(
        noisy_gd, xy_squared, lr=0.1, sd=0.01, steps=100, key=jax.random.key(4), record_every=50
    )
    single = run(_starts(16))
    with jax.enable_x64(True):
        double = run(_starts(16).astype(np.float64))
    assert double.theta.dtype == np.float64
    np.testing.assert_allclose(double.theta, single.theta, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -0.1}, "lr"),
        ({"lr": math.nan}, "lr"),
        ({"sd": -0.01}, "sd"),
        ({"steps": -5}, "steps"),
        ({"steps": 2.5}, "steps"),
        ({"record_every": 0}, "record_every"),
        ({"record_every": 7}, "record_every"),
        ({"noise_kind": "label"}, "noise_kind"),
        ({"generator": "mt19937"}, "generator"),
        ({"theta0": np.zeros((4, 3))}, "theta0"),
    ],
)
def test_bad_arguments_raise_one_line(kwargs: dict[str, object], name: str) -> None:
    args: dict[str, object] = {
        "theta0": _starts(4),
        "lr": 0.1,
        "sd": 0.01,
        "steps": 100,
        "key": jax.random.key(0),
        "record_every": 10,
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=f"^{name} must") as err:
        noisy_gd(xy_squared, **args)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("bad", [{"lr": -1.0}, {"sd": -0.5}])
def test_theory_rejects_negative_rates(bad: dict[str, float]) -> None:
    kw = {"lr": 0.1, "sd": 0.01, **bad}
    with pytest.raises(ValueError, match=f"^{next(iter(bad))} must"):
        xy_drift_theory(1.0, steps=10, **kw)


# ------------------------------------------------------------------ experiments and plots


def test_run_xy_drift_stores_arrays_and_draws(tmp_path) -> None:
    paths = run_xy_drift(tmp_path, n_trajectories=2_000, steps=400, sd=0.01, record_every=40)
    assert [p.name for p in paths] == ["xy_drift.png", "xy_drift.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)
    data = read_npz(tmp_path / "xy_drift.npz")
    assert data["step"].tolist() == list(range(0, 401, 40))
    assert data["xy_x_mean"][-1] < 1.0 < data["xy_x_mean"][0] + 1e-6
    for name in ("xy", "control"):
        assert data[f"{name}_bin_x"].shape == data[f"{name}_bin_y_var"].shape
        assert np.all(np.isfinite(data[f"{name}_bin_y_var_theory"]))
    assert int(data["n_trajectories"]) == 2_000


def test_valley_trajectory_and_figure(tmp_path) -> None:
    arrays = valley_trajectory(n_trajectories=5, steps=500, record_every=10, seed=1)
    assert arrays["theta"].shape == (51, 5, 2)
    assert arrays["noise_free"].shape == (51, 2)
    np.testing.assert_array_equal(arrays["theta"][0, 0], arrays["noise_free"][0])
    again = valley_trajectory(n_trajectories=5, steps=500, record_every=10, seed=1)
    np.testing.assert_array_equal(arrays["theta"], again["theta"])
    paths = run_valley(tmp_path, n_trajectories=5, steps=500)
    assert [p.name for p in paths] == ["valley.png", "valley.pdf"]
    assert set(read_npz(tmp_path / "valley.npz")) >= {"theta", "noise_free", "step", "lr", "sd"}
    # a panel of someone else's figure: drawn on a given axis from the stored arrays
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    stored = draw_stored_valley(ax, tmp_path, colorbar=False)
    assert stored["theta"].shape == (51, 5, 2)
    assert len(ax.collections) > 0
    plt.close(fig)
