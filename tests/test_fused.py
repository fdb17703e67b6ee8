"""The fused CPU engine against the JAX reference: the same noise bit for bit, the same
trajectories to rounding over 10^4 steps for every noise kind and rule, on the corridor
and on a sweep shape, the same records, and resumes across engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from driftlab import noise
from driftlab.config import parse_config
from driftlab.engines import EngineChoiceError, choose_engine, requested_engine
from driftlab.fused.chunk import make_fused_chunk, unsupported
from driftlab.fused.noise import fill_normal, fill_uniform, scratch_size
from driftlab.model import init_params
from driftlab.rules import RULES, register_rule
from driftlab.run import execute, load_run
from driftlab.runner.checkpoint import stack
from driftlab.simulate import EngineSpec, Hyper, init_state, make_chunk, make_streams
from driftlab.storage import read_npz

STEPS = 10_000


@pytest.mark.parametrize("n", [1, 2, 7, 4_100, 18_000])
@pytest.mark.parametrize("x64", [False, True])
def test_noise_is_the_engines_stream_bit_for_bit(n: int, x64: bool) -> None:
    seed = np.asarray([2_654_435_761, 97], np.uint32)
    normal = np.empty(n, np.float32)
    uniform = np.empty(n, np.float32)
    scratch = np.empty(scratch_size(n), np.float32)
    with jax.enable_x64(x64):  # type: ignore[no-untyped-call,operator]
        for step in (0, 1, 123_456, 2**31 - 1):
            fill_normal(seed, step, normal, scratch)
            fill_uniform(seed, step, uniform, scratch)
            want = noise.hash_normal(jnp.asarray(seed), jnp.int32(step), n)
            np.testing.assert_array_equal(normal, np.asarray(want))
            want = noise.hash_uniform(jnp.asarray(seed), jnp.int32(step), n)
            np.testing.assert_array_equal(uniform, np.asarray(want))


def _batch(spec: EngineSpec, dtype: str, lr: float, sds: tuple[float, float, float]) -> Any:
    """Two networks of the sweep shape (20 samples, 20 -> 20, H = 100)."""
    states, streams, xs, ys = [], [], [], []
    for seed in range(2):
        key = jax.random.key(seed)
        params = init_params(jax.random.fold_in(key, 1), 20, 100, 20, dtype=dtype)
        xs.append(jax.random.normal(jax.random.fold_in(key, 2), (20, 20)).astype(dtype))
        ys.append(jax.random.normal(jax.random.fold_in(key, 3), (20, 20)).astype(dtype))
        streams.append(make_streams("hash", jax.random.fold_in(key, 4)))
        states.append(init_state(spec, params, lr))

    def column(value: float) -> jax.Array:
        return jnp.full((2,), value, dtype)

    hyper = Hyper(column(lr), *(column(v) for v in sds))
    return stack(states), jnp.stack(xs), jnp.stack(ys), hyper, stack(streams)


# (spec, learning rate, (update sd, label scale, input sd)): every noise kind and form,
# every rule the fused engine has, every activation
CASES = {
    "update-gradient": (EngineSpec(update_noise=True), 0.05, (0.03, 0, 0)),
    "update-parameter": (
        EngineSpec(update_noise=True, update_form="parameter"),
        0.05,
        (0.003, 0, 0),
    ),
    "label-gaussian": (EngineSpec(label_noise=True), 0.05, (0, 0.1, 0)),
    "label-uniform": (EngineSpec(label_noise=True, label_kind="uniform"), 0.05, (0, 0.3, 0)),
    "input": (EngineSpec(input_noise=True), 0.05, (0, 0, 0.05)),
    "all-three": (
        EngineSpec(update_noise=True, label_noise=True, input_noise=True),
        0.05,
        (0.01, 0.05, 0.02),
    ),
    "sgd-minibatch": (EngineSpec(rule="sgd", batch_size=7, update_noise=True), 0.05, (0.03, 0, 0)),
    "adam": (EngineSpec(rule="adam", update_noise=True), 0.002, (0.03, 0, 0)),
    "rmsprop": (EngineSpec(rule="rmsprop", update_noise=True), 0.002, (0.03, 0, 0)),
    "sed": (EngineSpec(rule="sed", update_noise=True, update_form="parameter"), 0.01, (1e-3, 0, 0)),
    "sed-normalised": (EngineSpec(rule="sed_normalised", label_noise=True), 1e-6, (0, 0.1, 0)),
    **{
        act: (EngineSpec(update_noise=True, activation=act), 0.05, (0.03, 0, 0))
        for act in ("tanh", "sigmoid", "leaky_relu", "softplus")
    },
}


def _relative_gap(a: Any, b: Any) -> float:
    gaps = []
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        gaps.append(np.max(np.abs(x - y)) / max(np.max(np.abs(x)), 1e-30))
    return float(max(gaps))


@pytest.mark.parametrize("case", list(CASES))
def test_same_trajectory_as_jax_over_ten_thousand_steps(case: str) -> None:
    """float64: the engines differ only in the products' summation order (1e-16
    relative a step); over 10^4 steps the gap stays below 1e-6 of the parameters."""
    spec, lr, sds = CASES[case]
    with jax.enable_x64(True):  # type: ignore[no-untyped-call,operator]
        batch = _batch(spec, "float64", lr, sds)
        ref = make_chunk(spec)(*batch, jnp.int32(STEPS))
        fused = make_fused_chunk(spec)(*batch, STEPS)
    assert jax.tree.structure(ref) == jax.tree.structure(fused)
    for x, y in zip(jax.tree.leaves(ref), jax.tree.leaves(fused), strict=True):
        assert np.shape(x) == np.shape(y) and np.asarray(x).dtype == np.asarray(y).dtype
    moved = np.max(np.abs(np.asarray(ref.params.m) - np.asarray(batch[0].params.m)))
    assert moved > 1e-3  # the networks did learn (or drift)
    assert np.isfinite(np.asarray(ref.params.m)).all()
    assert _relative_gap(ref, fused) < 1e-6


def test_float32_gap_is_within_float32_rounding() -> None:
    """float32: the fused-vs-JAX gap is of the size of float32's own rounding, i.e. no
    larger than 3x the JAX engine's float32-vs-float64 gap on the same run."""
    spec, lr, sds = CASES["all-three"]
    ref32 = make_chunk(spec)(*_batch(spec, "float32", lr, sds), jnp.int32(STEPS))
    fused32 = make_fused_chunk(spec)(*_batch(spec, "float32", lr, sds), STEPS)
    with jax.enable_x64(True):  # type: ignore[no-untyped-call,operator]
        ref64 = make_chunk(spec)(*_batch(spec, "float64", lr, sds), jnp.int32(STEPS))
    rounding = _relative_gap(ref64, ref32)
    assert 0 < _relative_gap(ref32, fused32) <= 3 * rounding


CORRIDOR_NOISE = {
    "all-three": {"update": {"sd": 0.01}, "label": {"sd": 0.02}, "input": {"sd": 0.01}},
    "update-gradient": {"update": {"sd": 0.03}},
    "update-parameter": {"update": {"sd": 0.001, "form": "parameter"}},
    "label-gaussian": {"label": {"sd": 0.05}},
    "label-uniform": {"label": {"kind": "uniform", "width": 0.2}},
    "input": {"input": {"sd": 0.05}},
}


def _corridor(dtype: str, noise: str = "all-three") -> Any:
    """A corridor run of 10^4 steps (H = 100, 60 positions) with ``noise``."""
    return parse_config(
        {
            "model": {"hidden": 100, "dtype": dtype},
            "task": {"corridor": {"n_samples": 60}},
            "train": {"steps": STEPS},
            "noise": CORRIDOR_NOISE[noise],
            "record": {"every": 2_500, "chunk": 2_500},
        }
    )


@pytest.mark.parametrize("noise", list(CORRIDOR_NOISE))
def test_corridor_run_records_match(tmp_path: Path, noise: str) -> None:
    """A corridor run with each noise kind on either engine: the same trajectory and the
    same records (loss, activity, place units, hidden activity)."""
    cfg = _corridor("float64", noise)
    runs = {}
    for engine in ("jax", "fused"):
        execute(cfg, tmp_path / engine, progress=False, engine=engine)
        runs[engine] = load_run(tmp_path / engine)
        assert read_npz(tmp_path / engine / "checkpoint.npz")["env/engine"] == engine
    ts_a, ts_b = runs["jax"]["timeseries"], runs["fused"]["timeseries"]
    for name in ("loss", "active", "active_units"):
        np.testing.assert_allclose(ts_a[name].values, ts_b[name].values, rtol=1e-6, err_msg=name)
    for name in ("n_place_units", "mean_si"):
        np.testing.assert_allclose(ts_a[name].values, ts_b[name].values, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(
        runs["jax"]["activity"]["hidden"].values,
        runs["fused"]["activity"]["hidden"].values,
        rtol=1e-6,
        atol=1e-6,  # the snapshot is stored in float32
    )


class _StopError(Exception):
    pass


@pytest.mark.parametrize(("first", "second"), [("jax", "fused"), ("fused", "jax")])
def test_resume_from_the_other_engines_checkpoint(tmp_path: Path, first: str, second: str) -> None:
    cfg = _corridor("float64")

    def stop(step: int, total: int, speed: float) -> None:
        if step == 5_000:
            raise _StopError

    with pytest.raises(_StopError):
        execute(cfg, tmp_path / "resumed", progress=False, on_chunk=stop, engine=first)
    with pytest.warns(UserWarning, match="another environment"):  # valid, not bit-identical
        resumed = execute(cfg, tmp_path / "resumed", progress=False, engine=second)
    assert resumed.step == STEPS
    execute(cfg, tmp_path / "whole", progress=False, engine=second)
    a, b = (read_npz(tmp_path / d / "checkpoint.npz") for d in ("resumed", "whole"))
    for key in (k for k in a if k.startswith("state/")):
        scale = float(np.max(np.abs(b[key]))) if b[key].size else 0.0
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-6 * scale, err_msg=key)
    status = load_run(tmp_path / "resumed")["timeseries"]
    assert status.sizes["time"] == 5
    assert read_npz(tmp_path / "resumed" / "checkpoint.npz")["env/engine"] == second


def test_engine_choice() -> None:
    small = EngineSpec(update_noise=True)
    sweep, figure2 = (20, 20, 100, 20), (150, 18, 500, 17)
    assert choose_engine(small, sweep, "auto") == "fused"
    assert choose_engine(small, figure2, "auto") == "jax"
    assert choose_engine(small, (20, 1, 100, 5), "auto") == "jax"  # a single input
    assert choose_engine(small, sweep, "jax") == "jax"
    assert choose_engine(small, figure2, "fused") == "fused"
    threefry = EngineSpec(generator="threefry")
    assert unsupported(threefry) is not None
    assert choose_engine(threefry, sweep, "auto") == "jax"
    with pytest.raises(EngineChoiceError, match="threefry"):
        choose_engine(threefry, sweep, "fused")
    autodiff = EngineSpec(gradient="autodiff")
    assert choose_engine(autodiff, sweep, "auto") == "jax"
    with pytest.raises(EngineChoiceError, match="expected one of auto, jax, fused"):
        requested_engine("numba")


def test_a_registered_rule_runs_on_jax() -> None:
    register_rule("gd_again", RULES["gd"].factory)
    try:
        assert choose_engine(EngineSpec(rule="gd_again"), (20, 20, 100, 20), "auto") == "jax"
    finally:
        del RULES["gd_again"]


def test_cli_engine_choice(tmp_path: Path) -> None:
    """The command line: --engine picks the engine (named in the summary and status.json);
    a bad value in the environment is a one-line error with exit code 2."""
    import json
    import os
    import subprocess
    import sys

    base = [sys.executable, "-m", "driftlab.cli", "run", "--quiet", "--no-figures"]
    small = ["--set", "train.steps=200", "--set", "model.hidden=16", "--set", "record.every=100"]
    done = subprocess.run(
        [*base, *small, "--engine", "fused", "--out", str(tmp_path / "f")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "(engine: fused)" in done.stdout
    assert json.loads((tmp_path / "f" / "status.json").read_text())["engine"] == "fused"
    env = {**os.environ, "DRIFTLAB_ENGINE": "numba"}
    done = subprocess.run(
        [*base, *small, "--out", str(tmp_path / "bad")],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "driftlab: error: environment variable DRIFTLAB_ENGINE: expected one of auto, jax, "
        "fused, got 'numba'"
    )
    assert not (tmp_path / "bad").exists()
