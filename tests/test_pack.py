"""Packs (driftlab.sweep.pack): runs of different shapes padded into one program.

A padded network must be its unpadded network: without noise the same loss and
activity trajectories and Hessian as the run alone (float64, to rounding); with
noise the same statistics over seeds; padded weights exactly zero throughout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from driftlab.config import ConfigError, RunConfig, parse_config, to_dict
from driftlab.run import RunDirError, execute, float_context
from driftlab.rundir import load_run
from driftlab.storage import read_npz
from driftlab.sweep.pack import PackEngine, execute_pack, make_pack, pack_key, pack_problem


def config(
    task: str = "random",
    d_in: int = 7,
    d_out: int = 2,
    n: int = 13,
    *,
    seed: int | list[int] = 0,
    init: str = "rich",
    rule: str = "gd",
    hidden: int = 16,
    steps: int = 400,
    dtype: str = "float64",
    update_sd: float = 0.0,
    label_width: float = 0.0,
    form: str = "gradient",
    hessian: bool = False,
    **record: Any,
) -> RunConfig:
    raw: dict[str, Any] = {
        "seed": seed,
        "model": {"hidden": hidden, "init": init, "dtype": dtype},
        "task": {"name": task, "abstract": {"d_in": d_in, "d_out": d_out, "n_samples": n}},
        "train": {"steps": steps, "lr": 0.01 if rule == "adam" else 0.1, "rule": rule},
        "noise": {"update": {"sd": update_sd, "form": form}},
        "record": {"every": 200, "chunk": 200, "hidden": False, **record},
    }
    if label_width:
        raw["noise"]["label"] = {"kind": "uniform", "width": label_width}
    if hessian:
        raw["record"]["hessian"] = {"every": 200, "method": "dense"}
    return parse_config(raw)


# shapes from {2, 7, 13, 19}: every dimension is padded for some network
GD_PACK = [
    config("random", 7, 2, 13, seed=1, init="rich"),
    config("predictive", 13, 7, 19, seed=2, init="lazy"),
    config("random_autoencoder", 2, 2, 7, seed=3, init="rich"),
    config("smoothed", 19, 13, 2, seed=4, init="lazy"),
]
# a noisy run in the pack switches the step's update noise on for all: sd 0 adds 0 x xi
NOISY_PARTNER = config("random", 2, 19, 19, seed=5, update_sd=0.05)
ADAM_PACK = [
    config("smoothed_autoencoder", 13, 13, 7, seed=6, init="lazy", rule="adam", hessian=True),
    config("random", 2, 19, 13, seed=7, init="rich", rule="adam", hessian=True),
]


def _final_state(out: Path) -> dict[str, np.ndarray]:
    ckpt = read_npz(out / "checkpoint.npz")
    return {k: v for k, v in ckpt.items() if k.startswith("state/")}


def _assert_padded_weights_zero(out: Path) -> None:
    """The checkpoint's m (state/0) and n (state/2) are exactly 0 outside data.nc's
    masks, and the real m is not."""
    state, data = _final_state(out), load_run(out)["data"]
    m, n = state["state/0"], state["state/2"]
    real_in = data["input_mask"].values.astype(bool)
    real_out = data["output_mask"].values.astype(bool)
    assert (~real_in).any() and (~real_out).any()  # something is padded
    for k in range(m.shape[0]):
        assert np.all(m[k][:, ~real_in[k]] == 0) and np.all(n[k][~real_out[k]] == 0)
        assert np.all(m[k][:, real_in[k]] != 0)


@pytest.fixture(scope="module")
def solo_and_packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The GD pack (vmap, with a noisy partner) and the Adam pack (map), and every
    noise-free run alone."""
    root = tmp_path_factory.mktemp("pack")
    gd = [*GD_PACK, NOISY_PARTNER]
    execute_pack(gd, [f"gd{i}" for i in range(len(gd))], root / "gd", batching="vmap")
    execute_pack(ADAM_PACK, ["adam0", "adam1"], root / "adam", batching="map")
    solo = {}
    for name, cfgs in (("gd", GD_PACK), ("adam", ADAM_PACK)):
        for i, cfg in enumerate(cfgs):
            execute(cfg, root / f"{name}{i}", progress=False)
            solo[f"{name}{i}"] = load_run(root / f"{name}{i}")
    return {"root": root, "solo": solo}


@pytest.mark.parametrize("name", ["gd", "adam"])
def test_a_padded_network_follows_its_run_alone(solo_and_packs: dict[str, Any], name: str) -> None:
    """Without noise each network of a pack has the loss trajectory of its run alone
    (float64: to 1e-9 relative; a loss that reaches 1e-30 is compared absolutely at
    1e-12 of its start) and the same active fractions (float32 measures: one ulp)."""
    root, solo = solo_and_packs["root"], solo_and_packs["solo"]
    ts = load_run(root / name)["timeseries"]
    cfgs = GD_PACK if name == "gd" else ADAM_PACK
    for i in range(len(cfgs)):
        alone = solo[f"{name}{i}"]["timeseries"]
        assert ts["run_id"].values[i] == f"{name}{i}"
        np.testing.assert_array_equal(ts["step"].values, alone["step"].values)
        loss, want = ts["loss"].values[:, i], alone["loss"].values[:, 0]
        np.testing.assert_allclose(loss, want, rtol=1e-9, atol=1e-12 * want[0])
        assert want[-1] < 0.5 * want[0]  # it learned: the trajectories are not trivial
        for measure in ("active", "active_units"):
            np.testing.assert_allclose(
                ts[measure].values[:, i], alone[measure].values[:, 0], rtol=0, atol=1e-6
            )
        for measure in ("log_loss", "mean_si", "decoding_error"):
            np.testing.assert_allclose(
                ts[measure].values[:, i], alone[measure].values[:, 0], rtol=1e-6, atol=1e-9
            )


@pytest.mark.parametrize("name", ["gd", "adam"])
def test_padded_weights_stay_exactly_zero(solo_and_packs: dict[str, Any], name: str) -> None:
    root = solo_and_packs["root"]
    _assert_padded_weights_zero(root / name)
    data = load_run(root / name)["data"]  # the data are zero outside the masks too
    assert np.all(data["inputs"].values[~data["sample_mask"].values.astype(bool)] == 0)


def test_the_hessian_of_a_padded_network_is_its_run_alones(
    solo_and_packs: dict[str, Any],
) -> None:
    """Dense spectra of each network's real parameters (NaN-padded to the largest in
    hessian.nc) equal the spectra of its run alone (the Adam pack: one network padded
    in its samples and outputs, the other in its inputs)."""
    root, solo = solo_and_packs["root"], solo_and_packs["solo"]
    run = load_run(root / "adam")
    packed = run["hessian"]["eigenvalues"].values  # (time, K, P_max)
    assert packed.shape[:2] == (3, 2)
    for i in range(len(ADAM_PACK)):
        alone = solo[f"adam{i}"]
        eigs = alone["hessian"]["eigenvalues"].values[:, 0]  # (time, P)
        p = eigs.shape[1]
        assert np.all(np.isnan(packed[:, i, p:]))
        scale = np.abs(eigs).max()
        np.testing.assert_allclose(packed[:, i, :p], eigs, rtol=0, atol=1e-9 * scale)
        for var in ("hessian_trace", "hessian_max", "hessian_zeros_from_silent"):
            np.testing.assert_allclose(
                run["timeseries"][var].values[:, i],
                alone["timeseries"][var].values[:, 0],
                rtol=1e-9,
            )


def _stat(ts: Any, networks: slice | list[int]) -> dict[str, np.ndarray]:
    """Per network: the final active-units fraction and the mean log loss of the last
    five records."""
    return {
        "active_units": ts["active_units"].values[-1, networks],
        "log_loss": ts["log_loss"].values[-5:, networks].mean(axis=0),
    }


@pytest.mark.parametrize("noise", ["update", "label"])
def test_noisy_padded_networks_have_the_statistics_of_unpadded_ones(
    tmp_path: Path, noise: str
) -> None:
    """24 seeds of a small network (d_in 2, d_out 2, 7 samples), padded by a large
    partner (19, 19, 19) against the same 24 seeds alone (one batch): the mean over
    seeds of the padded-minus-unpadded final active-units fraction and late log loss
    is within 3 standard errors of 0. The noise draws differ (other shapes), so only
    the statistics can agree; the late log loss sits at the noise's floor (about
    -1.6 with this update noise, -1.2 with this label noise, -4 without noise, each
    with a standard error near 0.1), so a mis-scaled noise or loss would show."""
    seeds = list(range(24))
    noisy: dict[str, Any] = {"update_sd": 0.1} if noise == "update" else {"label_width": 2.0}
    common: dict[str, Any] = {
        "hidden": 20,
        "steps": 3000,
        "dtype": "float32",
        "every": 300,
        "chunk": 1500,
    }
    small: dict[str, Any] = {"task": "random", "d_in": 2, "d_out": 2, "n": 7, "init": "rich"}
    execute(config(**small, seed=seeds, **noisy, **common), tmp_path / "u", progress=False)
    packed = [config(**small, seed=s, **noisy, **common) for s in seeds]
    partner = config("random", 19, 19, 19, seed=99, **noisy, **common)
    ids = [f"s{s}" for s in seeds] + ["partner"]
    execute_pack([*packed, partner], ids, tmp_path / "p")
    unpadded = _stat(load_run(tmp_path / "u")["timeseries"], slice(None))
    padded = _stat(load_run(tmp_path / "p")["timeseries"], seeds)
    for name in unpadded:
        # paired by seed (same data and initial weights, other noise draws)
        diff = padded[name] - unpadded[name]
        se = diff.std(ddof=1) / np.sqrt(diff.size)
        assert abs(diff.mean()) <= 3 * se + 1e-12, (name, diff.mean(), se)
    assert unpadded["active_units"].std() > 0  # the statistic varies between seeds
    _assert_padded_weights_zero(tmp_path / "p")


def test_pack_problem_names_what_cannot_be_packed() -> None:
    base = config()
    assert pack_problem([base, config("predictive", 19, 3, 2, seed=4, init="lazy")]) is None
    assert pack_problem([]) is not None
    cases = {
        "2 networks": [base, config(seed=[1, 2])],
        "corridor": [parse_config({"record": {"hidden": False}})],
        "record.hidden": [base, _with(base, "record", hidden=True)],
        "record.params": [_with(base, "record", params=True)],
        "model.hidden": [base, config(hidden=17)],
        "train.rule": [base, config(rule="adam")],
        "model.dtype": [base, config(dtype="float32")],
        "train.steps": [base, config(steps=500)],
        "record.every": [base, config(every=100)],
        "noise.label.kind": [
            _with(base, "noise", label={"kind": "gaussian", "sd": [0.1]}),
            config(label_width=0.3),
        ],
        "d_out": [config(rule="sed", d_out=2), config(rule="sed", d_out=3)],
    }
    cases["'sgd'"] = [_with(base, "train", rule="sgd", batch_size=4)]
    for needle, cfgs in cases.items():
        problem = pack_problem(cfgs)
        assert problem is not None and needle in problem, (needle, problem)
    # the kind of a label noise that is off does not matter; equal keys pack together
    quiet = _with(base, "noise", label={"kind": "gaussian", "sd": [0.0]})
    assert pack_problem([quiet, config(label_width=0.3)]) is None
    assert pack_key(base) == pack_key(config("predictive", 19, 3, 2, seed=9, update_sd=0.1))
    assert pack_key(base) != pack_key(config(hidden=17))
    with pytest.raises(ConfigError, match=r"model\.hidden"):
        make_pack([base, config(hidden=17)], ["a", "b"])
    with pytest.raises(ConfigError, match="distinct"):
        make_pack([base, base], ["a", "a"])


def _with(cfg: RunConfig, section: str, **values: Any) -> RunConfig:
    """``cfg`` with fields of one section replaced."""
    raw: dict[str, Any] = to_dict(cfg)
    raw[section] = {**raw[section], **values}
    return parse_config(raw)


def test_compile_key_depends_on_the_padded_shape_only() -> None:
    a = [config("random", 7, 2, 13, seed=1), config("predictive", 13, 5, 2, seed=2)]
    b = [config("random_autoencoder", 13, 2, 2, seed=3), config("random", 2, 5, 13, seed=4)]
    c = [config("random", 7, 2, 13, seed=1), config("random", 2, 6, 13, seed=4)]
    with float_context("float64"):
        keys = [PackEngine(make_pack(p, ["x", "y"]), batching="map").compile_key for p in (a, b, c)]
    assert keys[0] == keys[1] and keys[0] != keys[2]


class _StopError(Exception):
    pass


def test_a_resumed_pack_is_bit_identical_to_a_straight_one(tmp_path: Path) -> None:
    common: dict[str, Any] = {
        "steps": 600,
        "dtype": "float32",
        "update_sd": 0.05,
        "chunk": 100,
        "every": 200,
    }
    common["form"] = "parameter"  # noise on every parameter: padded ones must stay 0
    cfgs = [
        config("random", 7, 2, 13, seed=1, **common),
        config("predictive", 13, 7, 19, seed=2, **common),
        config("random", 2, 13, 2, seed=3, label_width=0.5, **common),
    ]
    ids = ["a", "b", "c"]
    execute_pack(cfgs, ids, tmp_path / "straight")

    def stop(step: int, total: int, speed: float) -> None:
        if step == 200:
            raise _StopError

    with pytest.raises(_StopError):
        execute_pack(cfgs, ids, tmp_path / "resumed", on_chunk=stop)
    status = yaml.safe_load((tmp_path / "resumed" / "status.json").read_text())
    assert status["step"] == 200 and status["model"] == "feedforward-pack"
    assert execute_pack(cfgs, ids, tmp_path / "resumed").step == 600
    a, b = _final_state(tmp_path / "straight"), _final_state(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    ta, tb = (load_run(tmp_path / d)["timeseries"] for d in ("straight", "resumed"))
    for var in ("loss", "active_units", "step"):
        np.testing.assert_array_equal(ta[var].values, tb[var].values)
    _assert_padded_weights_zero(tmp_path / "resumed")
    stored = yaml.safe_load((tmp_path / "resumed" / "config.yaml").read_text())
    assert stored["ids"] == ids and len(stored["pack"]) == 3
    # another pack, or a plain run, in the same directory is refused
    with pytest.raises(RunDirError, match="another config"):
        execute_pack(cfgs[:2], ids[:2], tmp_path / "resumed")
    with pytest.raises(RunDirError):
        execute(cfgs[0], tmp_path / "resumed", progress=False)
