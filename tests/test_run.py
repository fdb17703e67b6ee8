"""Runs on disk: layout, schedule, resume (in process and after killing a real process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from driftlab.config import parse_config, to_dict
from driftlab.run import DIVERGENCE_REASONS, execute, load_run, record_steps
from driftlab.runner.recorders import Series, SeriesRecorder
from driftlab.storage import read_npz


def test_record_steps() -> None:
    np.testing.assert_array_equal(record_steps(1000, every=250), [0, 250, 500, 750, 1000])
    np.testing.assert_array_equal(record_steps(1000, every=300), [0, 300, 600, 900, 1000])
    log = record_steps(10**6, log_points=30)
    assert log[0] == 0 and log[-1] == 10**6 and len(log) <= 31
    assert np.all(np.diff(np.log10(log[log > 100])) > 0)
    assert len(record_steps(1000)) == 101  # default: 100 records
    # every wins over log_points (a preset's log spacing, a user's --set record.every)
    np.testing.assert_array_equal(record_steps(1000, every=500, log_points=30), [0, 500, 1000])


def test_run_directory_is_complete(tmp_path: Path, tiny_cfg) -> None:
    result = execute(tiny_cfg, tmp_path / "run", progress=False)
    assert result.status == "complete" and result.step == 600
    out = tmp_path / "run"
    names = {p.name for p in out.iterdir()}
    assert names == {
        "config.yaml",
        "data.nc",
        "timeseries.nc",
        "activity.nc",
        "checkpoint.npz",
        "status.json",
        ".driftlab.lock",  # the lock file stays; the lock is released with the process
    }
    stored = parse_config(yaml.safe_load((out / "config.yaml").read_text()))
    assert to_dict(stored) == to_dict(tiny_cfg)
    ds = load_run(out)
    ts = ds["timeseries"]
    np.testing.assert_array_equal(ts.step.values, [0, 200, 400, 600])
    for name in (
        "loss",
        "log_loss",
        "log_loss_rel",
        "active",
        "active_units",
        "mean_si",
        "n_place_units",
        "decoding_error",
    ):
        assert ts[name].shape == (4, 1) and np.all(np.isfinite(ts[name].values)), name
    # the mean estimator's loss is below the overall variance, so log_loss_rel > log_loss
    assert np.all(ts.log_loss_rel.values >= ts.log_loss.values)
    assert ds["activity"]["hidden"].shape == (4, 1, 40, 24)
    assert ds["data"]["positions"].shape == (1, 40, 2)
    # training lowers the loss from its initial value
    assert float(ts.log_loss[-1, 0]) < float(ts.log_loss[0, 0])


def test_params_snapshots_on_request(tmp_path: Path, tiny_raw) -> None:
    tiny_raw["record"]["params"] = True
    execute(parse_config(tiny_raw), tmp_path / "run", progress=False)
    params = load_run(tmp_path / "run")["params"]
    assert params["m"].shape == (4, 1, 24, 18)
    ckpt = read_npz(tmp_path / "run" / "checkpoint.npz")
    np.testing.assert_array_equal(params["m"].values[-1], ckpt["state/0"])


class _InterruptError(Exception):
    pass


def _interrupt_at_step_300(cfg: Any, out: Path) -> None:
    """Start the run of ``cfg`` in ``out`` and interrupt it after the chunk ending at 300."""

    def stop(step: int, total: int, speed: float) -> None:
        if step == 300:
            raise _InterruptError

    with pytest.raises(_InterruptError):
        execute(cfg, out, progress=False, on_chunk=stop)


def _final(out: Path) -> dict[str, Any]:
    ckpt = read_npz(out / "checkpoint.npz")
    ds = load_run(out)
    return {
        **{k: v for k, v in ckpt.items() if k.startswith("state/")},
        **{k: ds["timeseries"][k].values for k in ("loss", "active_units", "step")},
        "hidden": ds["activity"]["hidden"].values,
    }


def _assert_identical(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_resume_in_process_equals_uninterrupted(tmp_path: Path, tiny_cfg) -> None:
    execute(tiny_cfg, tmp_path / "a", progress=False)

    _interrupt_at_step_300(tiny_cfg, tmp_path / "b")
    status = yaml.safe_load((tmp_path / "b" / "status.json").read_text())
    assert status["state"] == "running" and status["step"] == 300
    result = execute(tiny_cfg, tmp_path / "b", progress=False)
    assert result.step == 600
    _assert_identical(_final(tmp_path / "a"), _final(tmp_path / "b"))


def _command(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "driftlab.cli", "run", *args, "--quiet"]


def _cli_ok(args: list[str]) -> None:
    done = subprocess.run(_command(args), capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr


def test_kill_and_rerun_is_bit_identical(tmp_path: Path) -> None:
    config = tmp_path / "kill.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "model": {"hidden": 64},
                "task": {"corridor": {"n_samples": 60}},
                "train": {"steps": 120_000},
                "noise": {"update": {"sd": 0.03}},
                "record": {"every": 20_000, "chunk": 2_000},
            }
        )
    )
    _cli_ok([str(config), "--out", str(tmp_path / "whole")])

    killed = subprocess.Popen(
        _command([str(config), "--out", str(tmp_path / "killed")]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    status = tmp_path / "killed" / "status.json"
    deadline = time.monotonic() + 300
    step = 0
    while time.monotonic() < deadline:
        if status.is_file():
            try:
                step = yaml.safe_load(status.read_text())["step"]
            except (yaml.YAMLError, TypeError):
                step = 0
            if step >= 30_000:
                break
        time.sleep(0.02)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait(timeout=60)
    assert 30_000 <= step < 120_000, "the run must be killed mid-way"
    assert not (tmp_path / "killed" / "activity.nc").exists()

    _cli_ok([str(config), "--out", str(tmp_path / "killed")])
    _assert_identical(_final(tmp_path / "whole"), _final(tmp_path / "killed"))


def test_divergence_stops_the_run_with_a_reason(tmp_path: Path, tiny_raw) -> None:
    tiny_raw["train"]["lr"] = 50.0  # every unit dies at once, the loss stays above 10 var(y)
    result = execute(parse_config(tiny_raw), tmp_path / "end", progress=False)
    assert result.status == "diverged"  # the excess lasted to the end of the run
    tiny_raw["train"]["divergence_window"] = 100
    result = execute(parse_config(tiny_raw), tmp_path / "run", progress=False)
    assert result.status == "diverged"
    assert result.step < 600
    ts = load_run(tmp_path / "run")["timeseries"]
    assert str(ts.diverged_reason.values[0]) in DIVERGENCE_REASONS[1:]
    assert int(ts.diverged_step.values[0]) >= 0


def test_a_run_started_under_the_old_corridor_input_resumes_on_its_own_data(
    tmp_path: Path, tiny_raw
) -> None:
    """A run directory of driftlab < 0.2 (velocity input mod 2 pi, stored as
    'heading_change') resumes on its stored data, with a notice naming the old input."""
    from driftlab.storage import RunNotice

    tiny_raw["task"]["corridor"]["n_samples"] = 150  # long enough for heading wraps
    legacy_raw = {**tiny_raw, "task": {"corridor": {"n_samples": 150}}}
    legacy_raw["task"]["corridor"]["velocity_input"] = "heading_change_mod2pi"
    legacy = parse_config(legacy_raw)
    execute(legacy, tmp_path / "whole", progress=False)

    _interrupt_at_step_300(legacy, tmp_path / "old")
    # what an old run directory holds: the same data under the old name of the input,
    # a config without the fields 0.2 added, a checkpoint without 0.2's records
    stored = yaml.safe_load((tmp_path / "old" / "config.yaml").read_text())
    stored["task"]["corridor"]["velocity_input"] = "heading_change"
    for section, name in (
        ("train", "divergence"),
        ("train", "divergence_window"),
        ("record", "place_shuffles"),
        ("record", "place_percentile"),
    ):
        del stored[section][name]
    (tmp_path / "old" / "config.yaml").write_text(yaml.safe_dump(stored))
    ckpt = read_npz(tmp_path / "old" / "checkpoint.npz")
    new_keys = ("rec/n_place_units_shuffle", "rec/mean_si_corrected")
    old_ckpt = {k: v for k, v in ckpt.items() if not k.startswith("div/") and k not in new_keys}
    np.savez(tmp_path / "old" / "checkpoint.npz", **old_ckpt)
    current = parse_config(stored)
    with pytest.warns(RunNotice, match="started under the old corridor input"):
        execute(current, tmp_path / "old", progress=False)
    _assert_identical(_final(tmp_path / "whole"), _final(tmp_path / "old"))
    ts = load_run(tmp_path / "old")["timeseries"]
    assert "old corridor input" in ts.attrs["notices"]
    status = yaml.safe_load((tmp_path / "old" / "status.json").read_text())
    assert any("old corridor input" in n for n in status["notices"])
    shuffled = ts.n_place_units_shuffle.values[:, 0]
    assert np.all(np.isnan(shuffled[ts.step.values <= 300]))  # not recorded before 0.2
    assert np.all(np.isfinite(shuffled[ts.step.values > 300]))


@pytest.mark.parametrize(
    "variant",
    [
        {"seed": [0, 1], "noise": {"label": {"kind": "uniform", "width": [0.0, 0.3]}}},
        {"noise": {"generator": "threefry", "input": {"sd": 0.05}}, "record": {"log_points": 8}},
        {"model": {"dtype": "float64"}},
    ],
)
def test_crash_inside_a_record_then_resume(tmp_path: Path, tiny_raw, monkeypatch, variant) -> None:
    """A failure while writing a record point (its snapshot already on disk, the time
    series and checkpoint not yet) leaves a run that resumes to the uninterrupted result."""
    from driftlab.config import merge
    from driftlab.runner import loop as run_module  # where the run writes its files

    cfg = parse_config(merge(tiny_raw, variant))
    execute(cfg, tmp_path / "a", progress=False)

    real = run_module.write_netcdf
    calls = {"n": 0}

    def failing(path: Path, ds: Any) -> None:
        if path.name == "timeseries.nc":
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError("disk full (injected)")
        real(path, ds)

    monkeypatch.setattr(run_module, "write_netcdf", failing)
    with pytest.raises(OSError, match="injected"):
        execute(cfg, tmp_path / "b", progress=False)
    monkeypatch.setattr(run_module, "write_netcdf", real)
    execute(cfg, tmp_path / "b", progress=False)
    _assert_identical(_final(tmp_path / "a"), _final(tmp_path / "b"))


class _WeightNorm(SeriesRecorder):
    """A toy measurement, registered like any recorder: |m|^2 of each network at its own
    schedule (every 150 steps), over its own time axis."""

    def __init__(self) -> None:
        self.schedule = np.arange(0, 601, 150)
        self.series = Series(("m_norm",), 1, "norm")

    def record(self, point: Any, out: Path) -> None:
        m = np.asarray(point.state.params.m, np.float64)
        self.series.append(point.step, {"m_norm": (m**2).sum(axis=(1, 2))})

    def timeseries(self, ds: Any) -> Any:
        return self.series.add_to(ds, dim="norm_time", coord="norm_step")


def test_a_new_recorder_plugs_in_with_one_registration(
    tmp_path: Path, tiny_cfg, monkeypatch
) -> None:
    """A recorder added to the engine's list is recorded at its own schedule (which
    also cuts the chunks), checkpointed, resumed bit-identically, and leaves the
    other records as they were."""
    from driftlab.run import FeedforwardEngine

    execute(tiny_cfg, tmp_path / "plain", progress=False)
    registered = FeedforwardEngine.recorders
    monkeypatch.setattr(
        FeedforwardEngine, "recorders", lambda self: [*registered(self), _WeightNorm()]
    )
    execute(tiny_cfg, tmp_path / "a", progress=False)

    _interrupt_at_step_300(tiny_cfg, tmp_path / "b")
    assert "norm/m_norm" in read_npz(tmp_path / "b" / "checkpoint.npz")
    execute(tiny_cfg, tmp_path / "b", progress=False)
    ts_a, ts_b = (load_run(tmp_path / d)["timeseries"] for d in ("a", "b"))
    np.testing.assert_array_equal(ts_a.norm_step.values, [0, 150, 300, 450, 600])
    np.testing.assert_array_equal(ts_a.m_norm.values, ts_b.m_norm.values)
    assert np.all(np.isfinite(ts_a.m_norm.values)) and np.ptp(ts_a.m_norm.values) > 0
    # the weights at step 150 (a chunk end only because of the new schedule) are the
    # weights the plain run passed through: the other records are unchanged
    _assert_identical(_final(tmp_path / "plain"), _final(tmp_path / "a"))


def test_a_checkpoint_without_snapshot_steps_resumes(tmp_path: Path, tiny_cfg) -> None:
    """A checkpoint written before recorders kept their own keys (no ``snap/.../step``:
    its snapshots follow ``rec/step``) resumes to the uninterrupted result."""
    from driftlab.storage import write_npz

    execute(tiny_cfg, tmp_path / "a", progress=False)

    _interrupt_at_step_300(tiny_cfg, tmp_path / "b")
    ckpt = tmp_path / "b" / "checkpoint.npz"
    arrays = read_npz(ckpt)
    old = {k: v for k, v in arrays.items() if not k.startswith("snap/")}
    assert len(old) < len(arrays)
    write_npz(ckpt, old)
    execute(tiny_cfg, tmp_path / "b", progress=False)
    _assert_identical(_final(tmp_path / "a"), _final(tmp_path / "b"))
