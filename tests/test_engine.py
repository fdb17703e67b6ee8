"""The jitted chunk: one step against its formula, noise statistics, invariants."""

from __future__ import annotations

import copy
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from driftlab import noise
from driftlab.config import parse_config
from driftlab.model import Params, mse_loss
from driftlab.run import float_context, prepare
from driftlab.simulate import Hyper, make_chunk, perturb_data


def _cfg(raw: dict[str, Any], **sets: Any) -> Any:
    raw = copy.deepcopy(raw)
    for dotted, value in sets.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return parse_config(raw)


def _advance(cfg: Any, steps: int, batching: str | None = None) -> tuple[Any, Any]:
    batch = prepare(cfg)
    chunk = make_chunk(batch.spec, batching=batching)
    out = chunk(batch.state0, batch.x, batch.y, batch.hyper, batch.streams, jnp.int32(steps))
    return batch, out


def _unbatch(tree: Any, i: int = 0) -> Any:
    return jax.tree.map(lambda a: a[i], tree)


def _update_noise(batch: Any, i: int = 0, step: int = 0) -> list[np.ndarray]:
    p0 = _unbatch(batch.state0.params, i)
    sizes = [a.size for a in p0]
    z = np.asarray(noise.normal("hash", batch.streams.update[i], jnp.int32(step), (sum(sizes),)))
    bounds = np.cumsum([0, *sizes])
    return [
        z[lo:hi].reshape(a.shape) for lo, hi, a in zip(bounds[:-1], bounds[1:], p0, strict=True)
    ]


@pytest.mark.parametrize("form", ["none", "gradient", "parameter"])
def test_one_step_matches_the_formula(tiny_raw, form: str) -> None:
    sd = 0.0 if form == "none" else 0.05
    cfg = _cfg(tiny_raw, noise__update={"form": "gradient" if form == "none" else form, "sd": sd})
    batch, out = _advance(cfg, 1)
    p0 = _unbatch(batch.state0.params)
    grads = jax.grad(mse_loss)(p0, batch.x[0], batch.y[0])
    lr = 0.1
    z = _update_noise(batch) if sd else [0.0, 0.0, 0.0]
    for name, a0, g, zi, a1 in zip(Params._fields, p0, grads, z, _unbatch(out.params), strict=True):
        if form == "parameter":
            expected = np.asarray(a0) - lr * np.asarray(g) + sd * np.asarray(zi)
        else:
            expected = np.asarray(a0) - lr * (np.asarray(g) + sd * np.asarray(zi))
        np.testing.assert_allclose(np.asarray(a1), expected, rtol=1e-6, atol=1e-7, err_msg=name)
    assert int(out.step[0]) == 1


@pytest.mark.parametrize("form", ["gradient", "parameter"])
def test_update_noise_sd_is_the_configured_one(tiny_raw, form: str) -> None:
    """Residual of one step beyond the GD update: sd s (parameter) or lr s (gradient)."""
    sd, lr = 0.03, 0.1
    cfg = _cfg(tiny_raw, model__hidden=500, noise__update={"form": form, "sd": sd})
    batch, out = _advance(cfg, 1)
    p0 = _unbatch(batch.state0.params)
    grads = jax.grad(mse_loss)(p0, batch.x[0], batch.y[0])
    resid = np.concatenate(
        [
            (np.asarray(a1) - (np.asarray(a0) - lr * np.asarray(g))).ravel()
            for a0, g, a1 in zip(p0, grads, _unbatch(out.params), strict=True)
        ]
    )
    expected = sd if form == "parameter" else lr * sd
    k = resid.size  # sample sd has relative sd 1/sqrt(2k)
    assert abs(resid.std() / expected - 1) < 5 / np.sqrt(2 * k)
    assert abs(resid.mean()) < 5 * expected / np.sqrt(k)


def test_parameter_noise_accumulates_as_a_random_walk(tiny_raw) -> None:
    """With a negligible gradient step, T steps of parameter noise give sd s sqrt(T)."""
    sd, steps = 0.01, 64
    cfg = _cfg(
        tiny_raw, model__hidden=200, train__lr=1e-9, noise__update={"form": "parameter", "sd": sd}
    )
    batch, out = _advance(cfg, steps)
    delta = np.concatenate(
        [
            (np.asarray(a1) - np.asarray(a0)).ravel()
            for a0, a1 in zip(_unbatch(batch.state0.params), _unbatch(out.params), strict=True)
        ]
    )
    expected = sd * np.sqrt(steps)
    assert abs(delta.std() / expected - 1) < 5 / np.sqrt(2 * delta.size)


@pytest.mark.parametrize(
    ("label", "check"),
    [
        ({"kind": "gaussian", "sd": 0.2}, "gaussian"),
        ({"kind": "uniform", "width": 1.0}, "uniform"),
    ],
)
def test_label_noise_statistics(tiny_raw, label: dict[str, Any], check: str) -> None:
    cfg = _cfg(tiny_raw, task__corridor={"n_samples": 2000}, noise__label=label)
    batch = prepare(cfg)
    hyper = _unbatch(batch.hyper)
    streams = _unbatch(batch.streams)
    x, y = batch.x[0], batch.y[0]
    _, y1 = perturb_data(batch.spec, x, y, hyper, streams, jnp.int32(0))
    _, y2 = perturb_data(batch.spec, x, y, hyper, streams, jnp.int32(1))
    d1 = np.asarray(y1 - y, np.float64).ravel()
    d2 = np.asarray(y2 - y, np.float64).ravel()
    k = d1.size
    var = 0.2**2 if check == "gaussian" else 1.0 / 12
    assert abs(d1.mean()) < 5 * np.sqrt(var / k)
    assert abs(d1.var() / var - 1) < 5 * np.sqrt((2 if check == "gaussian" else 0.8) / k)
    if check == "uniform":
        assert np.abs(d1).max() <= 0.5
    assert abs(np.corrcoef(d1, d2)[0, 1]) < 5 / np.sqrt(k)  # redrawn every step


def test_input_noise_sd(tiny_raw) -> None:
    cfg = _cfg(tiny_raw, task__corridor={"n_samples": 2000}, noise__input={"sd": 0.1})
    batch = prepare(cfg)
    x, y = batch.x[0], batch.y[0]
    x1, y1 = perturb_data(
        batch.spec, x, y, _unbatch(batch.hyper), _unbatch(batch.streams), jnp.int32(3)
    )
    d = np.asarray(x1 - x, np.float64).ravel()
    assert abs(d.std() / 0.1 - 1) < 5 / np.sqrt(2 * d.size)
    np.testing.assert_array_equal(np.asarray(y1), np.asarray(y))


def test_same_seed_identical_results(tiny_raw) -> None:
    cfg = _cfg(tiny_raw)
    _, a = _advance(cfg, 50)
    _, b = _advance(cfg, 50)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_noise_level_leaves_weights_and_data_unchanged(tiny_raw) -> None:
    a = prepare(_cfg(tiny_raw, noise__update={"sd": 0.01}))
    b = prepare(_cfg(tiny_raw, noise__update={"sd": 0.07}))
    np.testing.assert_array_equal(np.asarray(a.x), np.asarray(b.x))
    for u, v in zip(jax.tree.leaves(a.state0), jax.tree.leaves(b.state0), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def test_vmap_equals_loop(tiny_raw) -> None:
    seeds, sds, lrs = [0, 1], [0.01, 0.04], [0.05, 0.1]
    cfg = _cfg(tiny_raw, seed=seeds, noise__update={"sd": sds}, train__lr=lrs)
    batch, out = _advance(cfg, 40, batching="vmap")
    assert out.params.m.shape[0] == 8
    for i, net in enumerate(batch.networks):
        single = _cfg(
            tiny_raw,
            seed=int(net["seed"]),
            noise__update={"sd": net["update_sd"]},
            train__lr=net["lr"],
        )
        _, alone = _advance(single, 40)
        for u, v in zip(_unbatch(out.params, i), _unbatch(alone.params), strict=True):
            np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=2e-5, atol=1e-6)


def test_make_chunk_is_shared_by_equal_specs(tiny_raw) -> None:
    batch = prepare(_cfg(tiny_raw))
    assert make_chunk(batch.spec) is make_chunk(batch.spec)


def test_no_recompilation_for_other_chunk_lengths(tiny_raw) -> None:
    batch = prepare(_cfg(tiny_raw))
    chunk = make_chunk(batch.spec)
    state = batch.state0
    sizes = []
    for n in (1, 7, 30):
        state = chunk(state, batch.x, batch.y, batch.hyper, batch.streams, jnp.int32(n))
        sizes.append(chunk._cache_size())  # type: ignore[attr-defined]
    # one compilation for every length (make_chunk is cached, so earlier tests'
    # shapes may already be in the count)
    assert sizes[0] == sizes[1] == sizes[2]
    assert int(state.step[0]) == 38


def test_float64_engine_matches_float32(tiny_raw) -> None:
    _, out32 = _advance(_cfg(tiny_raw), 30)
    cfg64 = _cfg(tiny_raw, model__dtype="float64")
    with float_context("float64"):
        _, out64 = _advance(cfg64, 30)
        assert out64.params.m.dtype == jnp.float64
        m64 = np.asarray(out64.params.m)
    np.testing.assert_allclose(m64, np.asarray(out32.params.m), rtol=1e-4, atol=1e-5)


def test_hyper_is_per_network(tiny_raw) -> None:
    batch = prepare(_cfg(tiny_raw, noise__update={"sd": [0.0, 0.02]}))
    assert isinstance(batch.hyper, Hyper)
    np.testing.assert_allclose(np.asarray(batch.hyper.update_sd), [0.0, 0.02])


def test_vmap_and_map_batching_agree(tiny_raw) -> None:
    cfg = _cfg(tiny_raw, seed=[0, 1, 2], noise__update={"sd": [0.0, 0.03]})
    batch = prepare(cfg)
    outs = []
    for mode in ("vmap", "map"):
        chunk = make_chunk(batch.spec, batching=mode)
        outs.append(
            chunk(batch.state0, batch.x, batch.y, batch.hyper, batch.streams, jnp.int32(25))
        )
    for u, v in zip(jax.tree.leaves(outs[0]), jax.tree.leaves(outs[1]), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=2e-5, atol=1e-6)


def test_static_scan_chunk_equals_dynamic(tiny_raw) -> None:
    batch = prepare(_cfg(tiny_raw))
    dynamic = make_chunk(batch.spec)
    static = make_chunk(batch.spec, static_steps=20, unroll=4)
    args = (batch.state0, batch.x, batch.y, batch.hyper, batch.streams, jnp.int32(20))
    for u, v in zip(jax.tree.leaves(dynamic(*args)), jax.tree.leaves(static(*args)), strict=True):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=2e-5, atol=1e-6)
