"""Running sweeps: grouping, the summary against the runs' own records, resume after
kill -9 with nothing recomputed, failures recorded, Dask, figures, bad arguments."""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr
import yaml

from driftlab.cli import main
from driftlab.config import to_dict
from driftlab.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, RunDirError
from driftlab.metrics.timescale import fit_exponential
from driftlab.sweep import store
from driftlab.sweep.execute import group_key, ordered, plan_of, run_sweep
from driftlab.sweep.spec import expand, parse_spec
from driftlab.sweep.summary import AUTHORS_SPAN, end_ratio, even_grid, noise_columns

SPEC: dict[str, Any] = {
    "name": "tiny",
    "seed": 0,
    "count": 4,
    "base": {
        "model": {"hidden": 16, "init": "rich"},
        "train": {"steps": 2000, "lr": 0.1},
        "task": {"name": "random", "abstract": {"d_in": 4, "d_out": 3, "n_samples": 5}},
        "record": {"log_points": 30, "hidden": False, "tail": {"points": 10}, "chunk": 500},
    },
    "branches": {
        "update": {"weight": 1, "vary": {"noise.update.sd": {"loguniform": [0.02, 0.1]}}},
        "label": {
            "weight": 1,
            "set": {"noise.label.kind": "uniform"},
            "vary": {"noise.label.width": {"loguniform": [0.1, 1.0]}},
        },
    },
}


def _spec(**changes: Any) -> dict[str, Any]:
    raw = json.loads(json.dumps(SPEC))
    for dotted, value in changes.items():
        node = raw
        *head, last = dotted.split(".")
        for key in head:
            node = node[key]
        node[last] = value
    return raw


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _runs(raw: dict[str, Any]) -> list[Any]:
    return expand(parse_spec(raw))


# ----------------------------------------------------------------------------- grouping


def test_runs_differing_only_in_batch_fields_share_a_group() -> None:
    runs = _runs(_spec(count=6))
    plan = plan_of("tiny", runs)
    keys = {r.branch: set() for r in runs}
    for entry in plan.runs:
        keys[entry.branch].add(group_key(entry.config))
    # seeds and noise levels differ within a branch: one program per branch
    assert all(len(k) == 1 for k in keys.values())
    # update noise on vs label noise on: different programs
    assert keys["update"] != keys["label"]
    shaped = _runs(_spec(**{"branches.update.set": {"task.abstract.d_in": 7}}))
    update = [group_key(e.config) for e in plan_of("t", shaped).runs if e.branch == "update"]
    assert group_key(plan.runs[0].config) not in update


def test_runs_are_handed_out_group_by_group() -> None:
    raw = _spec(count=8)
    raw["vary"] = {"task.abstract.d_in": {"choice": [3, 5]}}
    plan = plan_of("tiny", _runs(raw))
    keys = [group_key(e.config) for e in ordered(plan)]
    changes = sum(a != b for a, b in itertools.pairwise(keys))
    assert changes == len(set(keys)) - 1  # each group's runs are consecutive
    assert sorted(e.id for e in ordered(plan)) == sorted(plan.ids)


# ----------------------------------------------------------------------------- summary


def test_end_ratio_averages_the_authors_span_without_the_last_record() -> None:
    total = 100_000
    steps = np.array([0, 10, 1000, 99_900, 99_920, 99_950, 99_990, 100_000])
    values = np.array([2.0, 2, 2, 1.0, 1.2, 1.4, 1.6, 9.0])
    ratio, span, n = end_ratio(steps, values, total)
    assert n == 4 and span == pytest.approx(AUTHORS_SPAN)
    assert ratio == pytest.approx(np.mean([1.0, 1.2, 1.4, 1.6]) / 2.0)
    # no record in the last 0.1%: the last ten records but the final one
    steps = np.arange(0, 30) * 1000
    values = np.linspace(1.0, 0.5, 30)
    ratio, span, n = end_ratio(steps, values, int(steps[-1]))
    assert n == 10 and ratio == pytest.approx(np.mean(values[-11:-1]))
    assert span == pytest.approx((steps[-1] - steps[-11]) / steps[-1])


def test_noise_columns() -> None:
    assert noise_columns({"noise.update.sd": 0.1}) == {
        "noise_type": "update",
        "noise_level": 0.1,
        "noise_variance": pytest.approx(0.01),
    }
    uniform = noise_columns({"noise.label.kind": "uniform", "noise.label.width": 0.6})
    assert uniform["noise_type"] == "label"
    assert uniform["noise_variance"] == pytest.approx(0.6**2 / 12)
    assert noise_columns({})["noise_type"] == "none"


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "s"
    os.environ["DRIFTLAB_CHECKPOINT_SECONDS"] = "0"
    outcome = run_sweep("tiny", _runs(_spec()), out, workers=2, progress=False)
    assert outcome.exit_code == EXIT_OK and outcome.complete == 4
    return out


def test_summary_columns_match_each_runs_own_records(finished_sweep: Path) -> None:
    frame = pd.read_parquet(finished_sweep / store.SUMMARY)
    assert len(frame) == 4 and set(frame["status"]) == {"complete"}
    for row in frame.itertuples():
        ts = _series(store.run_dir(finished_sweep, row.id))
        steps = ts["step"].values
        active = ts["active"].values[:, 0]
        units = ts["active_units"].values[:, 0]
        tail = (steps >= 2000 - 2) & (steps < 2000)  # the last 0.1% of 2,000 steps
        assert tail.sum() == row.ratio_records >= 1
        assert row.active_ratio == pytest.approx(active[tail].mean() / active[0])
        assert row.active_units_ratio == pytest.approx(units[tail].mean() / units[0])
        assert row.final_log10_loss == pytest.approx(math.log10(ts["loss"].values[-1, 0]))
        assert row.final_active_units == units[-1]
        fit = fit_exponential(*even_grid(steps, units))
        assert row.fit_ok == fit.ok
        if fit.ok:
            assert row.sparsification_rate == pytest.approx(fit.rate)
            assert row.log10_rate == pytest.approx(math.log10(fit.rate))
        assert row.steps_done == 2000 and row.attempts == 1 and row.wall_s > 0
        assert row.authors_filter_kept == (not (active == 0).any())
    assert set(frame["noise_type"]) == {"update", "label"}
    assert {"task.abstract.d_in", "noise.update.sd", "train.rule"} <= set(frame.columns)
    with xr.open_dataset(finished_sweep / store.TIMECOURSES) as opened:
        courses = opened.load()
    assert courses.sizes == {"run": 4, "point": 100}
    first = frame.iloc[0]
    ts = _series(store.run_dir(finished_sweep, first.id))
    # the resampled course passes through the records (linear in log step)
    at = courses.sel(run=first.id)
    on_record = np.interp(
        np.log10(at["step"].values), np.log10(ts["step"].values[1:]), ts["active"].values[1:, 0]
    )
    np.testing.assert_allclose(at["active"].values, on_record)


def test_rerun_recomputes_nothing(finished_sweep: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in (finished_sweep / "runs").glob("*/*.nc")}
    outcome = run_sweep("tiny", _runs(_spec()), finished_sweep, workers=2, progress=False)
    assert outcome.skipped == 4 and outcome.exit_code == EXIT_OK
    after = {p.name: p.stat().st_mtime_ns for p in (finished_sweep / "runs").glob("*/*.nc")}
    assert before == after
    assert all(store.read_attempts(finished_sweep, i)["attempts"] == 1 for i in outcome_ids())


def outcome_ids() -> list[str]:
    return [r.id for r in _runs(_spec())]


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(tmp_path: Path) -> None:
    runs = _runs(_spec())
    out = tmp_path / "s"
    # a run directory that holds another run: execute refuses it (a real failure)
    out.mkdir()
    store.claim_plan(out, plan_of("tiny", runs))
    bad = store.run_dir(out, runs[1].id)
    bad.mkdir(parents=True)
    (bad / "config.yaml").write_text(yaml.safe_dump({"seed": [99], "train": {"steps": 5}}))
    (bad / "status.json").write_text("{}")
    outcome = run_sweep("tiny", runs, out, workers=1, progress=False)
    assert outcome.exit_code == EXIT_FAILED
    assert (outcome.complete, outcome.failed) == (3, 1)
    frame = pd.read_parquet(out / store.SUMMARY).set_index("id")
    assert frame.loc[runs[1].id, "status"] == "failed"
    assert "RunDirError" in frame.loc[runs[1].id, "reason"]
    assert (frame.drop(index=runs[1].id)["status"] == "complete").all()


def test_on_progress_replaces_the_progress_line(
    finished_sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[int, int]] = []
    outcome = run_sweep(
        "tiny", _runs(_spec()), finished_sweep, on_progress=lambda d, t: calls.append((d, t))
    )
    assert outcome.skipped == 4
    total = sum(r.config.train.steps for r in _runs(_spec()))
    assert calls == [(total, total)]  # everything finished: done from the start
    assert "sweep 'tiny'" not in capsys.readouterr().err  # no line of its own


def test_another_spec_in_the_same_directory_is_refused(finished_sweep: Path) -> None:
    with pytest.raises(RunDirError, match="holds sweep 'tiny' of 4 runs"):
        run_sweep("other", _runs(_spec(count=2)), finished_sweep, progress=False)


# ----------------------------------------------------------------------------- kill -9


def test_kill_9_mid_sweep_then_rerun_equals_an_uninterrupted_sweep(
    tmp_path: Path, finished_sweep: Path
) -> None:
    raw = _spec(**{"base.train.steps": 300_000, "base.record.chunk": 20_000})
    spec = _write(tmp_path, raw)
    out = tmp_path / "k"
    env = {**os.environ, "DRIFTLAB_CHECKPOINT_SECONDS": "0", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "driftlab.cli", "sweep", str(spec), "--out", str(out)]
    cmd += ["--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    partial = False
    while time.monotonic() < deadline and proc.poll() is None:
        done = list((out / store.ATTEMPTS).glob("*.json")) if out.exists() else []
        steps = [store.read_status(out, i).get("step", 0) for i in _ids(out)]
        partial = any(0 < s < 300_000 for s in steps)
        if done and partial:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the sweep ended before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.stem for p in (out / store.ATTEMPTS).glob("*.json")}
    assert finished and partial
    time.sleep(1.5)  # the orphaned workers notice and stop after a checkpoint
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    for run_id in finished:  # not recomputed
        assert store.read_attempts(out, run_id)["attempts"] == 1
    straight = run_sweep("tiny", _runs(raw), tmp_path / "straight", workers=2, progress=False)
    assert straight.exit_code == EXIT_OK
    for run_id in _ids(out):
        a = _series(store.run_dir(out, run_id))
        b = _series(store.run_dir(tmp_path / "straight", run_id))
        for name in ("loss", "active", "active_units"):
            np.testing.assert_array_equal(a[name].values, b[name].values)


def _series(run: Path) -> xr.Dataset:
    with xr.open_dataset(run / "timeseries.nc") as ts:
        return ts.load()


def _ids(out: Path) -> list[str]:
    try:
        return list(store.read_plan(out).ids)
    except Exception:
        return []


# ----------------------------------------------------------------------------- Dask


def test_dask_local_cluster_matches_the_local_backend(
    tmp_path: Path, finished_sweep: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTLAB_DASK_THREADS", "1")  # an in-process LocalCluster
    outcome = run_sweep(
        "tiny", _runs(_spec()), tmp_path / "d", backend="dask", workers=2, progress=False
    )
    assert outcome.exit_code == EXIT_OK and outcome.complete == 4
    _same_results(tmp_path / "d", finished_sweep)


def test_dask_scheduler_address(tmp_path: Path, finished_sweep: Path) -> None:
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        outcome = run_sweep(
            "tiny",
            _runs(_spec()),
            tmp_path / "c",
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert outcome.exit_code == EXIT_OK and outcome.complete == 4
    _same_results(tmp_path / "c", finished_sweep)


def _same_results(a: Path, b: Path) -> None:
    fa = pd.read_parquet(a / store.SUMMARY).set_index("id").sort_index()
    fb = pd.read_parquet(b / store.SUMMARY).set_index("id").sort_index()
    for name in ("final_log10_loss", "active_ratio", "active_units_ratio", "final_active"):
        np.testing.assert_array_equal(fa[name].to_numpy(), fb[name].to_numpy())


# ----------------------------------------------------------------------------- CLI


def test_cli_sweep_summary_and_figures(
    finished_sweep: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", "summary", str(finished_sweep)]) == EXIT_OK
    printed = capsys.readouterr().out
    assert "GD + update noise" in printed and "GD + label noise" in printed
    groups = pd.read_csv(finished_sweep / store.GROUPS_CSV)
    assert set(groups["n_runs"]) == {2}
    for name in ("fig3", "s1", "s2"):
        assert main(["figure", name, str(finished_sweep), "--out", str(finished_sweep / "f")]) == 0
        png = finished_sweep / "f" / f"{name}.png"
        assert png.stat().st_size > 10_000
    assert main(["figure", "fig5b", str(finished_sweep)]) == EXIT_USAGE
    assert "recorded Hessians" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers"),
        (["--backend", "spark"], "--backend"),
        (["--kept-only"], "--kept-only"),
    ],
)
def test_cli_bad_arguments(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _write(tmp_path, _spec())
    assert _exit_code(["sweep", str(spec), "--out", str(tmp_path / "o"), *args]) == EXIT_USAGE
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _exit_code(argv: list[str]) -> int | str | None:
    """The exit code of the command line, whether argparse exits or main returns."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_cli_refuses_a_file_or_a_foreign_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _write(tmp_path, _spec())
    (tmp_path / "file").write_text("x")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "file")]) == EXIT_USAGE
    assert "is a file" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert main(["sweep", str(spec), "--out", str(tmp_path / "other")]) == EXIT_USAGE
    assert "holds files but no sweep" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["notes.txt"]
    assert main(["sweep", "summary", str(tmp_path / "other")]) == EXIT_USAGE
    assert "not a sweep directory" in capsys.readouterr().err


def test_a_sweep_killed_while_storing_its_plan_is_taken_up_again(tmp_path: Path) -> None:
    """SIGKILL between the lock and the plan's rename leaves the lock file and a
    temporary (``.plan.json.<hex>.tmp``): the directory holds no user's files, so the
    rerun stores the plan there instead of refusing it."""
    plan = plan_of("tiny", _runs(_spec(count=2)))
    out = tmp_path / "sweep"
    out.mkdir()
    (out / ".driftlab.lock").write_text("{}")
    (out / f".{store.PLAN}.0123abcd.tmp").write_text('{"na')
    store.check_out(out, plan)
    with store.sweep_lock(out):
        store.claim_plan(out, plan)
    assert store.read_plan(out).ids == plan.ids
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "plan.json.bak").write_text("x")  # a user's file still counts
    with pytest.raises(RunDirError, match="holds files but no sweep"):
        store.check_out(tmp_path / "other", plan)


# ----------------------------------------------------------------------------- packs


def test_packed_sweep_equals_the_unpacked_one_without_noise(tmp_path: Path) -> None:
    """Runs of different shapes padded into one program (``--pack``) follow the same
    trajectories as alone: without noise, the same numbers to float32 rounding."""
    raw = _spec(count=4, branches={"gd": {"weight": 1}})
    raw["vary"] = {
        "task.abstract.d_in": {"choice": [2, 4, 7]},
        "model.init": {"grid": ["rich", "lazy"]},
    }
    runs = _runs(raw)
    assert len({r.config.task.abstract.d_in for r in runs}) > 1
    packed = run_sweep("p", runs, tmp_path / "packed", workers=1, pack=4, progress=False)
    alone = run_sweep("p", runs, tmp_path / "alone", workers=1, progress=False)
    assert packed.exit_code == alone.exit_code == EXIT_OK
    assert len(list((tmp_path / "packed" / store.PACKS).iterdir())) == 1
    fa = pd.read_parquet(tmp_path / "packed" / store.SUMMARY).set_index("id").sort_index()
    fb = pd.read_parquet(tmp_path / "alone" / store.SUMMARY).set_index("id").sort_index()
    assert fa["packed"].all() and not fb["packed"].any()
    # the loss over training, down to float32's floor (about 1e-12 here, where
    # rounding differs between the two programs' sums)
    with (
        xr.open_dataset(tmp_path / "packed" / store.TIMECOURSES) as a,
        xr.open_dataset(tmp_path / "alone" / store.TIMECOURSES) as b,
    ):
        la, lb = a["loss"].sortby("run").values, b["loss"].sortby("run").values
    above = lb > 1e-8
    assert above.sum() > 100
    np.testing.assert_allclose(la[above], lb[above], rtol=1e-3)
    np.testing.assert_allclose(fa["final_active"], fb["final_active"], atol=1e-6)
    np.testing.assert_allclose(fa["active_units_ratio"], fb["active_units_ratio"], atol=1e-6)
    # a rerun with the same --pack finds the pack finished
    again = run_sweep("p", runs, tmp_path / "packed", workers=1, pack=4, progress=False)
    assert again.skipped == 4


def test_hessian_columns_and_fig5b(tmp_path: Path) -> None:
    raw = _spec(count=2)
    raw["base"]["record"]["hessian"] = {"log_points": 14, "method": "dense", "spectrum": False}
    out = tmp_path / "h"
    assert run_sweep("h", _runs(raw), out, workers=1, progress=False).exit_code == EXIT_OK
    frame = pd.read_parquet(out / store.SUMMARY)
    for row in frame.itertuples():
        ts = _series(store.run_dir(out, row.id)).isel(network=0)
        trace = ts["hessian_trace"].values
        frac = ts["hessian_frac_nonzero"].values
        assert row.hessian_records == trace.size >= 12
        assert row.hessian_trace_ratio == pytest.approx(trace[-11:-1].mean() / trace[:10].mean())
        assert row.hessian_nonzero_fraction == pytest.approx(frac[-11:-1].mean())
        assert 0 < row.hessian_active_units <= 1
        assert row.authors_filter_kept == (not row.any_zero_active)
    assert main(["figure", "fig5b", str(out)]) == EXIT_OK
    assert (out / "figures" / "fig5b.png").stat().st_size > 10_000


def test_a_figure_rebuilds_a_stale_summary_only(finished_sweep: Path) -> None:
    from driftlab.sweep.summary import current_summary

    path = current_summary(finished_sweep)
    built = path.stat().st_mtime_ns
    assert current_summary(finished_sweep).stat().st_mtime_ns == built  # fresh: kept
    run = store.read_plan(finished_sweep).ids[0]
    status = store.run_dir(finished_sweep, run) / "status.json"
    os.utime(status, ns=(built + 1_000_000_000, built + 1_000_000_000))
    assert current_summary(finished_sweep).stat().st_mtime_ns > built  # a run changed


def test_the_engine_travels_with_each_job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--engine`` (the DRIFTLAB_ENGINE of the sweep command) is part of every job, so
    a worker elsewhere uses it; a job without one lets the worker choose (auto)."""
    from driftlab.sweep.worker import run_one

    config = to_dict(_runs(_spec())[0].config)
    for engine, expected in (("jax", "jax"), (None, "fused")):  # auto: fused for this shape
        out = tmp_path / str(engine)
        job = {"id": "a", "ids": ["a"], "out": str(out), "configs": [config], "engine": engine}
        assert run_one(job)["status"] in ("complete", "diverged")
        assert json.loads((out / "status.json").read_text())["engine"] == expected
    monkeypatch.setenv("DRIFTLAB_ENGINE", "jax")
    run_sweep("tiny", _runs(_spec(count=2)), tmp_path / "sweep", workers=1, progress=False)
    statuses = list((tmp_path / "sweep").rglob("status.json"))
    assert len(statuses) == 2
    assert {json.loads(p.read_text())["engine"] for p in statuses} == {"jax"}
