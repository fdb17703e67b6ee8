"""What unattended runs rely on: one writer per run directory, damaged runs named
before anything runs, clear errors about --out and I/O, Ctrl-C and SIGTERM that
stop after a checkpoint, records that do not rewrite the run's files.

Every failure is checked as a user sees it: the exit code, exactly one line on
stderr, no traceback, nothing half-written; and every recovery (rerun, --restart)
ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from conftest import TINY
from driftlab import storage
from driftlab.cli import main
from driftlab.config import parse_config
from driftlab.errors import RunInterruptedError
from driftlab.run import execute
from driftlab.rundir import load_run
from driftlab.runner.lock import LOCK_NAME, run_dir_lock
from driftlab.storage import read_npz, write_npz
from test_hebbian import TINY as HEBBIAN_TINY


class _StopError(Exception):
    """Stands for a crash of the process after a chosen chunk."""


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """The tiny run (600 steps, chunks of 100, records every 200) as a config file."""
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    """``driftlab ARGS`` in this process: (exit code, the lines it wrote to stderr)."""
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().err.splitlines()


def _run(config: Path, out: Path, *extra: str) -> list[str]:
    return ["run", str(config), "--out", str(out), "--quiet", "--no-figures", *extra]


def _error_line(lines: list[str]) -> str:
    """The one error line of a refused command (the lines before it describe the run)."""
    errors = [line for line in lines if line.startswith("driftlab: error:")]
    assert len(errors) == 1, lines
    assert not any("Traceback" in line for line in lines)
    return errors[0]


def _final(out: Path) -> dict[str, Any]:
    ckpt = read_npz(out / "checkpoint.npz")
    ts = load_run(out)["timeseries"]
    return {
        **{k: v for k, v in ckpt.items() if k.startswith("state/")},
        **{k: ts[k].values for k in ("loss", "active_units", "step")},
        "hidden": load_run(out)["activity"]["hidden"].values,
    }


def _assert_identical(a: Path, b: Path) -> None:
    fa, fb = _final(a), _final(b)
    assert fa.keys() == fb.keys()
    for key in fa:
        np.testing.assert_array_equal(fa[key], fb[key], err_msg=key)


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny run, uninterrupted: what every recovered run must equal."""
    out = tmp_path_factory.mktemp("whole") / "run"
    execute(parse_config(TINY), out, progress=False)
    return out


def _partial(out: Path, at: int = 300) -> None:
    """The tiny run in ``out``, stopped by a crash after the chunk ending at ``at``."""

    def stop(step: int, total: int, speed: float) -> None:
        if step == at:
            raise _StopError

    with pytest.raises(_StopError):
        execute(parse_config(TINY), out, progress=False, on_chunk=stop)


# --------------------------------------------------------------------------- one writer


def test_a_second_writer_is_refused_and_told_who_holds_the_run(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], whole: Path
) -> None:
    out = tmp_path / "run"
    _partial(out)
    before = (out / "checkpoint.npz").read_bytes()
    with run_dir_lock(out):  # another open file description: as another process would
        code, lines = _cli(capsys, *_run(config_file, out))
    assert code == 3
    line = _error_line(lines)
    assert "in use by another driftlab process" in line and f"pid {os.getpid()}" in line
    assert (out / "checkpoint.npz").read_bytes() == before  # nothing ran, nothing written
    # the holder gone, the same command resumes and finishes as if never interrupted
    code, _ = _cli(capsys, *_run(config_file, out))
    assert code == 0
    _assert_identical(whole, out)


def test_a_fresh_directory_refused_for_a_busy_lock_is_left_as_it_was(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    with run_dir_lock(out):
        code, lines = _cli(capsys, *_run(config_file, out))
    assert code == 3 and "in use" in _error_line(lines)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]


_LONG = {
    "seed": 0,
    "model": {"hidden": 48},
    "task": {"corridor": {"n_samples": 60}},
    "train": {"steps": 10_000_000},  # stopped long before its end
    "noise": {"update": {"sd": 0.03}},
    "record": {"every": 100_000, "chunk": 2_000, "place_shuffles": 0},
}


def _start(config: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "driftlab.cli", *_run(config, out, *extra)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_step(out: Path, at_least: int, process: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be interrupted"
        try:
            step = int(json.loads((out / "status.json").read_text())["step"])
        except (OSError, ValueError, KeyError):
            step = -1
        if step >= at_least:
            return step
        time.sleep(0.02)
    raise AssertionError("the run did not get going")


def test_two_processes_on_one_out_and_sigterm(tmp_path: Path) -> None:
    """A second process on a running --out exits 3 at once and leaves the run alone;
    SIGTERM (a cluster's stop) then ends the first after a checkpoint: exit 143 and
    one line saying where it stopped (resuming from there is tested in process)."""
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(_LONG))
    out = tmp_path / "run"
    first = _start(config, out)
    _wait_for_step(out, 2_000, first)
    second = subprocess.run(
        [sys.executable, "-m", "driftlab.cli", *_run(config, out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert second.returncode == 3, second.stderr
    assert f"pid {first.pid}" in second.stderr and "Traceback" not in second.stderr
    assert first.poll() is None, "the second process must not disturb the first"

    first.send_signal(signal.SIGTERM)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 143, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("driftlab: SIGTERM: stopped at step ") and "Traceback" not in err
    step = int(last.split("stopped at step ")[1].split()[0].replace(",", ""))
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "interrupted" and status["step"] == step < _LONG["train"]["steps"]
    assert read_npz(out / "checkpoint.npz")  # whole: the stop came after a checkpoint


def test_a_holder_killed_outright_is_taken_over(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], whole: Path
) -> None:
    out = tmp_path / "run"
    _partial(out)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; "
            "from driftlab.runner.lock import run_dir_lock\n"
            f"with run_dir_lock(Path({str(out)!r})):\n"
            "    print('held', flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    code, lines = _cli(capsys, *_run(config_file, out))
    assert code == 3 and f"pid {holder.pid}" in _error_line(lines)
    holder.kill()  # SIGKILL: no clean-up; the OS releases the lock with the process
    holder.communicate(timeout=60)
    code, _ = _cli(capsys, *_run(config_file, out))
    assert code == 0
    _assert_identical(whole, out)


# --------------------------------------------------------------------------- Ctrl-C


def test_sigint_stops_after_a_checkpoint_and_the_rerun_resumes(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], whole: Path
) -> None:
    out = tmp_path / "run"
    sent: list[int] = []

    def ctrl_c(step: int, total: int, speed: float) -> None:
        if step == 300 and not sent:
            sent.append(step)
            os.kill(os.getpid(), signal.SIGINT)  # as a terminal sends it

    with pytest.raises(RunInterruptedError) as stopped:
        execute(parse_config(TINY), out, progress=False, on_chunk=ctrl_c)
    # the signal arrives after the chunk ending at 300; the chunk in flight (to 400) ends
    assert stopped.value.step == 400 and stopped.value.exit_code == 130
    assert (
        str(stopped.value) == "SIGINT: stopped at step 400 of 600; rerun the same command to resume"
    )
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "interrupted" and status["step"] == 400
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored
    code, lines = _cli(capsys, "run", str(config_file), "--out", str(out), "--no-figures")
    assert code == 0
    assert "training 1 network: resuming from step 400 of 600" in lines
    _assert_identical(whole, out)


def test_ctrl_c_from_a_terminal_is_one_line_and_exit_130(tmp_path: Path) -> None:
    config = tmp_path / "long.yaml"
    config.write_text(yaml.safe_dump(_LONG))
    out = tmp_path / "run"
    process = _start(config, out)
    _wait_for_step(out, 2_000, process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.strip().splitlines()[-1].endswith("; rerun the same command to resume")


def test_ctrl_c_before_training_leaves_no_directory(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    import driftlab.run

    def interrupted(cfg: Any, engine: Any = None) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(driftlab.run, "FeedforwardEngine", interrupted)
    out = tmp_path / "new" / "run"
    code, lines = _cli(capsys, *_run(config_file, out))
    assert code == 130 and len(lines) == 3  # the two lines describing the run, then this
    assert lines[-1].startswith("driftlab: interrupted;")
    assert not (tmp_path / "new").exists()


# --------------------------------------------------------------------------- damaged runs


def _state_step_key(arrays: dict[str, np.ndarray]) -> str:
    """The checkpoint array holding the step counter (an integer leaf equal to 300)."""
    keys = [
        k
        for k, v in arrays.items()
        if k.startswith("state/") and v.dtype.kind == "i" and v.size == 1 and v.item() == 300
    ]
    assert len(keys) == 1, keys
    return keys[0]


def _rewrite_checkpoint(out: Path, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    arrays = read_npz(out / "checkpoint.npz")
    change(arrays)
    write_npz(out / "checkpoint.npz", arrays)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_a_data_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.infolist()[0]
    data[info.header_offset + 30 + len(info.filename) + 40] ^= 0xFF  # inside its data
    path.write_bytes(bytes(data))


def _first_snapshot(out: Path) -> Path:
    return sorted((out / "snapshots").glob("*.npz"))[0]


DAMAGES: dict[str, tuple[str, Callable[[Path], None]]] = {
    "checkpoint truncated": ("checkpoint.npz", lambda o: _truncate(o / "checkpoint.npz")),
    "checkpoint empty": ("checkpoint.npz", lambda o: (o / "checkpoint.npz").write_bytes(b"")),
    "checkpoint not a zip": (
        "checkpoint.npz",
        lambda o: (o / "checkpoint.npz").write_bytes(os.urandom(4000)),
    ),
    "checkpoint CRC error": ("checkpoint.npz", lambda o: _flip_a_data_byte(o / "checkpoint.npz")),
    "checkpoint with pickled data": (
        "checkpoint.npz",
        lambda o: _rewrite_checkpoint(
            o, lambda a: a.update({"state/0": np.array([{"a": 1}], dtype=object)})
        ),
    ),
    "checkpoint missing an array": (
        "checkpoint.npz",
        lambda o: _rewrite_checkpoint(o, lambda a: a.pop("state/0")),
    ),
    "checkpoint array of a wrong shape": (
        "checkpoint.npz",
        lambda o: _rewrite_checkpoint(
            o, lambda a: a.update({"state/0": np.concatenate([a["state/0"]] * 2)})
        ),
    ),
    "checkpoint step beyond the run": (
        "checkpoint.npz",
        lambda o: _rewrite_checkpoint(
            o, lambda a: a.update({_state_step_key(a): np.full_like(a[_state_step_key(a)], 10**6)})
        ),
    ),
    "checkpoint records of a wrong shape": (
        "checkpoint.npz",
        lambda o: _rewrite_checkpoint(o, lambda a: a.update({"rec/loss": np.zeros((7, 3))})),
    ),
    "checkpoint deleted": ("checkpoint.npz", lambda o: (o / "checkpoint.npz").unlink()),
    "config not YAML": ("config.yaml", lambda o: (o / "config.yaml").write_text("a: [b\n")),
    "config not UTF-8": ("config.yaml", lambda o: (o / "config.yaml").write_bytes(b"\xff\xfe\x00")),
    "status not JSON": ("status.json", lambda o: (o / "status.json").write_text("{")),
    "status not an object": ("status.json", lambda o: (o / "status.json").write_text("[1]")),
    "data truncated": ("data.nc", lambda o: _truncate(o / "data.nc")),
    "snapshot missing": ("snapshots", lambda o: _first_snapshot(o).unlink()),
    "snapshot truncated": ("snapshots", lambda o: _truncate(_first_snapshot(o))),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_run_directory_is_named_before_anything_runs(
    damage: str, tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    _partial(out)
    name, hurt = DAMAGES[damage]
    hurt(out)
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME}
    code, lines = _cli(capsys, *_run(config_file, out))
    assert code == 2
    line = _error_line(lines)
    assert f"run directory '{out}' is damaged: {name}" in line
    assert line.endswith("rerun the same command with --restart to start this run over")
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME}
    assert after == files  # detected before training: nothing was written


def test_restart_starts_a_damaged_run_over(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], whole: Path
) -> None:
    out = tmp_path / "run"
    _partial(out)
    _truncate(out / "checkpoint.npz")
    code, _ = _cli(capsys, *_run(config_file, out, "--restart"))
    assert code == 0
    _assert_identical(whole, out)


def test_a_damaged_finished_run_is_named(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    execute(parse_config(TINY), out, progress=False)
    _truncate(out / "timeseries.nc")
    code, lines = _cli(capsys, *_run(config_file, out))
    assert code == 2 and "is damaged: timeseries.nc" in _error_line(lines)


def test_restart_refuses_a_directory_of_other_files(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    code, lines = _cli(capsys, *_run(config_file, out, "--restart"))
    assert code == 2 and "not a driftlab run directory" in _error_line(lines)
    assert (out / "thesis.tex").read_text() == "precious"


def test_restart_replaces_the_run_of_another_config(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], whole: Path
) -> None:
    out = tmp_path / "run"
    other = {**TINY, "seed": 5}
    execute(parse_config(other), out, progress=False)
    (out / "notes.txt").write_text("seed 5 looked odd")  # a user's file beside the run
    code, lines = _cli(capsys, *_run(config_file, out))
    assert code == 2 and "holds a run of another config (field 'seed'" in _error_line(lines)
    code, _ = _cli(capsys, *_run(config_file, out, "--restart"))
    assert code == 0
    _assert_identical(whole, out)
    assert (out / "notes.txt").read_text() == "seed 5 looked odd"


# --------------------------------------------------------------------------- left-overs


def test_a_directory_holding_only_a_config_temporary_starts_afresh(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], whole: Path
) -> None:
    out = tmp_path / "run"
    out.mkdir()  # a crash between mkdir and the rename of config.yaml left:
    (out / ".config.yaml.0123abcd.tmp").write_text("seed: 0\nmod")
    code, _ = _cli(capsys, *_run(config_file, out))
    assert code == 0
    _assert_identical(whole, out)
    assert not list(out.rglob("*.tmp"))


def test_stray_temporaries_are_cleaned_when_the_run_finishes(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    _partial(out)
    (out / ".checkpoint.npz.deadbeef.tmp").write_bytes(b"half")
    (out / "snapshots" / ".hidden_000000000400.npz.cafe.tmp").write_bytes(b"half")
    code, _ = _cli(capsys, *_run(config_file, out))
    assert code == 0
    assert not list(out.rglob("*.tmp"))


# --------------------------------------------------------------------------- --out and I/O


def test_out_that_is_a_file_or_under_a_file(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "results"
    a_file.write_text("not a folder")
    code, lines = _cli(capsys, *_run(config_file, a_file))
    assert code == 2 and "exists and is not a directory" in _error_line(lines)
    code, lines = _cli(capsys, *_run(config_file, a_file / "run" / "deeper"))
    assert code == 2 and f"'{a_file}' is a file, not a directory" in _error_line(lines)
    assert a_file.read_text() == "not a folder"


def test_out_on_a_read_only_file_system(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    def read_only(self: Path, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    code, lines = _cli(capsys, *_run(config_file, tmp_path / "ro" / "run"))
    assert code == 2
    assert "cannot write there: Read-only file system" in _error_line(lines)
    assert not (tmp_path / "ro").exists()


def test_a_full_disk_stops_the_run_where_it_was_and_it_resumes(
    tmp_path: Path,
    config_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: Any,
    whole: Path,
) -> None:
    out = tmp_path / "run"
    real = storage.atomic_write
    writes: list[str] = []

    def disk_fills(path: Path, write: Callable[[Path], None]) -> None:
        writes.append(path.name)
        if path.name == "checkpoint.npz" and writes.count("checkpoint.npz") == 4:

            def no_space(tmp: Path) -> None:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            write = no_space
        real(path, write)

    monkeypatch.setattr(storage, "atomic_write", disk_fills)
    code, lines = _cli(capsys, *_run(config_file, out))
    assert code == 4
    line = _error_line(lines)
    # checkpoints at steps 0, 100, 200; the fourth (step 300) found the disk full
    assert f"cannot write '{out / 'checkpoint.npz'}': No space left on device" in line
    assert "last checkpoint is at step 200" in line and line.endswith("to resume")
    assert not list(out.rglob("*.tmp"))
    monkeypatch.setattr(storage, "atomic_write", real)  # space is back
    code, _ = _cli(capsys, *_run(config_file, out))
    assert code == 0
    _assert_identical(whole, out)


def test_a_full_disk_before_the_first_step_leaves_nothing(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    real = storage.atomic_write

    def full(path: Path, write: Callable[[Path], None]) -> None:
        def no_space(tmp: Path) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        real(path, no_space)

    monkeypatch.setattr(storage, "atomic_write", full)
    out = tmp_path / "new" / "run"
    code, lines = _cli(capsys, *_run(config_file, out))
    assert code == 4
    line = _error_line(lines)
    assert "config.yaml': No space left on device; nothing ran" in line
    assert not (tmp_path / "new").exists()


def test_a_bad_checkpoint_interval_is_one_line(
    tmp_path: Path, config_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    monkeypatch.setenv("DRIFTLAB_CHECKPOINT_SECONDS", "soon")
    code, lines = _cli(capsys, *_run(config_file, tmp_path / "run"))
    assert code == 2 and "DRIFTLAB_CHECKPOINT_SECONDS" in _error_line(lines)
    assert not (tmp_path / "run").exists()


# --------------------------------------------------------------------------- cost of records


def test_records_do_not_rewrite_the_run_files(tmp_path: Path, monkeypatch: Any) -> None:
    """With the default checkpoint interval, a record at every step does not rewrite
    timeseries.nc or the checkpoint (each holds every record so far): both are
    written at the start, the end and every 10 s, whatever the number of records."""
    import driftlab.runner.loop as loop

    monkeypatch.delenv("DRIFTLAB_CHECKPOINT_SECONDS")
    written: list[str] = []
    real_netcdf, real_npz = loop.write_netcdf, loop.write_npz
    monkeypatch.setattr(
        loop, "write_netcdf", lambda p, d: (written.append(p.name), real_netcdf(p, d))
    )
    monkeypatch.setattr(loop, "write_npz", lambda p, a: (written.append(p.name), real_npz(p, a)))
    raw = {**TINY, "record": {"every": 1, "chunk": 100, "place_shuffles": 0}}
    started = time.monotonic()
    execute(parse_config(raw), tmp_path / "run", progress=False)
    periodic = int((time.monotonic() - started) // loop.CHECKPOINT_EVERY_S)
    ts = load_run(tmp_path / "run")["timeseries"]
    assert ts.sizes["time"] == 601  # every step recorded
    assert written.count("timeseries.nc") <= 3 + periodic  # start, end (twice), periodic
    assert written.count("checkpoint.npz") <= 2 + periodic


# --------------------------------------------------------------------------- the Hebbian model


def test_the_hebbian_model_has_the_same_floor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same loop runs the Hebbian model: a damaged checkpoint is named, the lock
    refuses a second writer, and --restart starts over to the uninterrupted result."""
    from driftlab.hebbian.config import parse_hebbian_config
    from driftlab.hebbian.run import execute_hebbian

    cfg = parse_hebbian_config(HEBBIAN_TINY)
    config = tmp_path / "hebb.yaml"
    config.write_text(yaml.safe_dump(HEBBIAN_TINY))
    whole, out = tmp_path / "whole", tmp_path / "run"
    execute_hebbian(cfg, whole, progress=False)

    def stop(step: int, total: int, speed: float) -> None:
        if step == 150:
            raise _StopError

    with pytest.raises(_StopError):
        execute_hebbian(cfg, out, progress=False, on_chunk=stop)
    command = ["hebbian", str(config), "--out", str(out), "--quiet", "--no-figures"]
    with run_dir_lock(out):
        code, lines = _cli(capsys, *command)
    assert code == 3 and "in use by another driftlab process" in _error_line(lines)
    _truncate(out / "checkpoint.npz")
    code, lines = _cli(capsys, *command)
    assert code == 2 and "is damaged: checkpoint.npz" in _error_line(lines)
    code, _ = _cli(capsys, *command, "--restart")
    assert code == 0
    a, b = read_npz(whole / "checkpoint.npz"), read_npz(out / "checkpoint.npz")
    for key in a:
        if key.startswith("state/"):
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
