"""Learning rules: first steps against their formulas and references (optax, PyTorch)."""

from __future__ import annotations

import copy
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from driftlab import noise, rules
from driftlab.config import ConfigError, parse_config
from driftlab.model import Params, mse_loss
from driftlab.run import execute, load_run, prepare
from driftlab.simulate import make_chunk, perturb_data


def _cfg(raw: dict[str, Any], **train: Any) -> Any:
    raw = copy.deepcopy(raw)
    raw["noise"] = {}
    raw["train"].update(train)
    return parse_config(raw)


def _run(cfg: Any, steps: int) -> tuple[Any, Any]:
    batch = prepare(cfg)
    out = make_chunk(batch.spec)(
        batch.state0, batch.x, batch.y, batch.hyper, batch.streams, jnp.int32(steps)
    )
    return batch, out


def _one(tree: Any, i: int = 0) -> Any:
    return jax.tree.map(lambda a: a[i], tree)


@pytest.mark.parametrize(("rule", "reference"), [("adam", optax.adam), ("gd", optax.sgd)])
def test_optax_rules_match_optax(tiny_raw, rule: str, reference: Any) -> None:
    lr, steps = 1e-3 if rule == "adam" else 0.1, 5
    batch, out = _run(_cfg(tiny_raw, rule=rule, lr=lr), steps)
    params = _one(batch.state0.params)
    tx = reference(lr)
    state = tx.init(params)
    for _ in range(steps):
        grads = jax.grad(mse_loss)(params, batch.x[0], batch.y[0])
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    for a, b in zip(_one(out.params), params, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


def test_rmsprop_matches_pytorch_formula(tiny_raw) -> None:
    """nu <- 0.99 nu + 0.01 g^2; theta <- theta - lr g / (sqrt(nu) + 1e-8) (torch.optim.RMSprop)."""
    lr, steps = 1e-3, 4
    batch, out = _run(_cfg(tiny_raw, rule="rmsprop", lr=lr), steps)
    params = [np.asarray(a, np.float64) for a in _one(batch.state0.params)]
    nu = [np.zeros_like(a) for a in params]
    x, y = batch.x[0], batch.y[0]
    for _ in range(steps):
        grads = jax.grad(mse_loss)(Params(*(jnp.asarray(a, jnp.float32) for a in params)), x, y)
        for k, g in enumerate(grads):
            g = np.asarray(g, np.float64)
            nu[k] = 0.99 * nu[k] + 0.01 * g * g
            params[k] = params[k] - lr * g / (np.sqrt(nu[k]) + 1e-8)
    for a, b in zip(_one(out.params), params, strict=True):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("rule", ["sed", "sed_normalised"])
def test_sed_step_matches_eq5(tiny_raw, rule: str) -> None:
    lr, sigma = 0.9, 0.1
    batch, out = _run(_cfg(tiny_raw, rule=rule, lr=lr, sed_sigma=sigma), 1)
    p0 = _one(batch.state0.params)
    sizes = [a.size for a in p0]
    z = np.asarray(
        noise.normal("hash", batch.streams.rule[0], jnp.int32(0), (sum(sizes),)), np.float64
    )
    bounds = np.cumsum([0, *sizes])
    scales = [sigma / np.sqrt(a.shape[0]) for a in p0]
    xi = [
        s * z[lo:hi].reshape(a.shape)
        for s, lo, hi, a in zip(scales, bounds[:-1], bounds[1:], p0, strict=True)
    ]
    moved = Params(
        *(jnp.asarray(np.asarray(a) + d, jnp.float32) for a, d in zip(p0, xi, strict=True))
    )
    delta = float(mse_loss(moved, batch.x[0], batch.y[0]) - mse_loss(p0, batch.x[0], batch.y[0]))
    for a0, d, s, a1 in zip(p0, xi, scales, _one(out.params), strict=True):
        step = d / (s * s) if rule == "sed_normalised" else d
        # float32 loss differences cancel: allow their rounding (~1e-7 of the loss), scaled
        atol = 2e-5 if rule == "sed_normalised" else 1e-6
        np.testing.assert_allclose(
            np.asarray(a1), np.asarray(a0) - lr * delta * step, rtol=1e-4, atol=atol
        )


def test_sed_mean_update_is_parallel_to_the_gradient(tiny_raw) -> None:
    """E[(L(theta + xi) - L(theta)) xi / s^2] = grad + O(s^2). Each update is g.z z for
    z ~ N(0, I) (to first order), with covariance |g|^2 I + g g^T, so the mean of N
    updates over P parameters has cosine about 1 / sqrt(1 + P / N) with the gradient:
    0.978 for P = 864, N = 20,000. The bound leaves 0.02 for sampling and curvature."""
    batch = prepare(_cfg(tiny_raw))
    params, x, y = _one(batch.state0.params), batch.x[0], batch.y[0]
    grad = jax.grad(mse_loss)(params, x, y)
    tx = rules.sed_normalised(1.0, sed_sigma=0.01)

    def update(key: jax.Array) -> jax.Array:
        keys = jax.random.split(key, 3)
        pert = Params(*(jax.random.normal(k, a.shape) for k, a in zip(keys, params, strict=True)))
        upd, _ = tx.update(
            grad, tx.init(params), params, loss_fn=lambda p: mse_loss(p, x, y), perturbation=pert
        )
        return jnp.concatenate([u.ravel() for u in upd])

    mean = jnp.mean(jax.vmap(update)(jax.random.split(jax.random.key(0), 20_000)), axis=0)
    g = jnp.concatenate([a.ravel() for a in grad])
    cosine = float(jnp.dot(-mean, g) / (jnp.linalg.norm(mean) * jnp.linalg.norm(g)))
    n_params = g.size
    expected = 1 / np.sqrt(1 + n_params / 20_000)
    assert cosine > expected - 0.02


def test_sgd_minibatch_draws_distinct_samples(tiny_raw) -> None:
    cfg = _cfg(tiny_raw, rule="sgd", batch_size=8)
    batch = prepare(cfg)
    x, y = batch.x[0], batch.y[0]
    xs, ys = perturb_data(batch.spec, x, y, _one(batch.hyper), _one(batch.streams), jnp.int32(0))
    assert xs.shape == (8, x.shape[1]) and ys.shape == (8, y.shape[1])
    rows = {tuple(np.asarray(r)) for r in xs}
    assert len(rows) == 8
    assert rows <= {tuple(np.asarray(r)) for r in x}
    xs2, _ = perturb_data(batch.spec, x, y, _one(batch.hyper), _one(batch.streams), jnp.int32(1))
    assert not np.array_equal(np.asarray(xs), np.asarray(xs2))


def test_rule_config_errors(tiny_raw) -> None:
    raw = copy.deepcopy(tiny_raw)
    raw["train"]["rule"] = "sed"
    with pytest.raises(ConfigError, match=r"noise\.update\.form"):
        parse_config(raw)  # tiny has gradient noise, which SED would ignore
    raw["noise"] = {}
    raw["train"]["batch_size"] = 4
    with pytest.raises(ConfigError, match=r"train\.batch_size"):
        parse_config(raw)
    raw["train"].update(rule="sgd", batch_size=1000)
    with pytest.raises(ConfigError, match=r"train\.batch_size"):
        parse_config(raw)


def test_user_rule_plugin_from_the_docs(tiny_raw, tmp_path) -> None:
    """The example of driftlab.rules' docstring: register sign-GD and train with it."""

    def sign_gd(lr: Any, **_: Any) -> optax.GradientTransformationExtraArgs:
        return rules.ignore_extra_args(
            optax.chain(optax.scale_by_sign(), optax.scale_by_learning_rate(lr))
        )

    rules.register_rule("sign_gd", sign_gd)
    try:
        cfg = _cfg(tiny_raw, rule="sign_gd", lr=1e-3)
        batch, out = _run(cfg, 1)
        p0 = _one(batch.state0.params)
        grads = jax.grad(mse_loss)(p0, batch.x[0], batch.y[0])
        for a0, g, a1 in zip(p0, grads, _one(out.params), strict=True):
            np.testing.assert_allclose(
                np.asarray(a1), np.asarray(a0) - 1e-3 * np.sign(np.asarray(g)), atol=1e-6
            )
        execute(cfg, tmp_path / "run", progress=False)
        assert load_run(tmp_path / "run")["timeseries"].sizes["time"] == 4
    finally:
        del rules.RULES["sign_gd"]
