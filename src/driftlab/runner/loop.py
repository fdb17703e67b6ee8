"""The one resumable chunked loop: every model's run goes through :func:`run_engine`.

An engine (:class:`Engine`: the feed-forward network of :mod:`driftlab.run`, the
Hebbian network of :mod:`driftlab.hebbian.run`, later a sweep's worker) says how
to advance a batch of networks by ``n`` steps in one compiled chunk, and which
:class:`Health` check and :class:`Recorder` measurements it wants. The loop owns
everything else, the same for every engine:

1. the run directory: ``config.yaml`` on a fresh start, a run of another config
   refused (:func:`driftlab.runner.outdir.check_out_dir`), a finished run returned
   as it is;
2. the schedule: chunks of at most ``engine.chunk_steps`` steps that end on every
   recorder's record points (the union of their schedules);
3. after every chunk: the recorders' ``observe``, the health check, the
   recorders due at this step (or, once every network has stopped, those that
   record where a run stops), ``timeseries.nc``, the checkpoint and
   ``status.json``, progress;
4. at the end: the health's ``close``, the final ``timeseries.nc``, each
   recorder's ``finish`` (consolidating its snapshots), the final checkpoint.

Rerunning the same config into the same directory resumes from the checkpoint:
the state, the health and every recorder are restored from its arrays, and
because an engine's noise at step t depends only on (seed, t), the finished run
is bit-identical to an uninterrupted one (in the same environment).

Reliability (what an unattended sweep relies on):

* one writer: the loop holds the directory's lock (:mod:`driftlab.runner.lock`)
  from the check of the directory to the end; a second process is refused
  (:class:`driftlab.errors.RunDirBusyError`);
* a damaged directory (a checkpoint, config, status, data file or snapshot that
  cannot be read or does not fit the run) is named before anything runs
  (:class:`driftlab.errors.DamagedRunError`); ``restart=True`` clears the run's
  files and starts over;
* the checkpoint and ``timeseries.nc`` are rewritten at most every
  :data:`CHECKPOINT_EVERY_S` seconds (environment variable
  ``DRIFTLAB_CHECKPOINT_SECONDS``) and at the end, so a record costs the same
  however many came before it; a run killed outright redoes at most that much;
* SIGINT (Ctrl-C) and SIGTERM stop the run at the end of the current chunk,
  after a checkpoint (:class:`RunInterruptedError`; a second signal stops at once); a
  failed write (a full disk) stops it with :class:`RunIOError`. Both say the
  step the rerun resumes from.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import threading
import time
import warnings
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jax
import numpy as np
import xarray as xr
import yaml

from driftlab import __version__
from driftlab.config import ConfigError, to_dict
from driftlab.errors import DamagedRunError, RunInterruptedError, RunIOError
from driftlab.rundir import damaged, read_status
from driftlab.runner.checkpoint import network_coords, restore_state, run_environment, state_arrays
from driftlab.runner.outdir import check_out_dir, claimed, clear_run_dir, remove_temporaries
from driftlab.runner.progress import Progress
from driftlab.storage import (
    RunNotice,
    WriteError,
    read_npz,
    write_json,
    write_netcdf,
    write_npz,
    write_text,
)

CHECKPOINT_ENV = "DRIFTLAB_CHECKPOINT_SECONDS"
CHECKPOINT_EVERY_S = 10.0
"""Least seconds between two checkpoints (and rewrites of ``timeseries.nc``) while a
run runs, unless the environment variable :data:`CHECKPOINT_ENV` says otherwise (0:
every chunk). A run killed outright redoes at most this much work; one stopped by
a signal, or that ends, loses nothing."""


def checkpoint_every_s() -> float:
    """The checkpoint interval in force: :data:`CHECKPOINT_ENV`, else the default;
    a one-line ``ConfigError`` naming the variable when it is not seconds >= 0."""
    text = os.environ.get(CHECKPOINT_ENV)
    if text is None:
        return CHECKPOINT_EVERY_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(
            f"environment variable {CHECKPOINT_ENV}: expected seconds >= 0, got {text[:40]!r}"
        )
    return value


ProgressFn = Callable[[int, int, float], None]
"""``on_chunk(step, total_steps, steps_per_second)``, called after every chunk."""


@dataclass
class Point:
    """The batch after a chunk, as the health check and the recorders see it.

    ``stats``: what the engine's chunk returned besides the state (None for the
    feed-forward engine). :meth:`measure` evaluates the engine's measurement of
    the state once, however many recorders ask for it.
    """

    step: int
    state: Any
    stats: Any
    measure_fn: Callable[[Any], Any]
    _measured: list[Any] = field(default_factory=list)

    def measure(self) -> Any:
        """``engine.measure(state)``, computed at the first call and kept."""
        if not self._measured:
            self._measured.append(self.measure_fn(self.state))
        return self._measured[0]


class Recorder(Protocol):
    """A measurement with its own schedule. Register it in an engine's ``recorders()``.

    ``schedule``: the steps at which it records; ``at_stop``: it also records at the
    step where a run stops early (every network stopped by the health check).
    Checkpoint arrays (``arrays``/``restore``) carry what it has recorded so far,
    under keys of its own.
    """

    schedule: np.ndarray
    at_stop: bool

    def observe(self, point: Point) -> None:
        """Called after every chunk (e.g. to accumulate counters the chunk returns)."""

    def record(self, point: Point, out: Path) -> None:
        """Record ``point`` (the step is in ``schedule``, or the run stops there)."""

    def last_step(self) -> int:
        """The step of the last record, -1 if none."""

    def arrays(self) -> dict[str, np.ndarray]:
        """What a checkpoint must hold to resume this recorder."""

    def restore(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Resume from a checkpoint's arrays (arrays an older checkpoint lacks: NaN);
        ``ValueError`` (or ``KeyError``) when they do not fit the run."""

    def verify(self, out: Path) -> None:
        """Before a resume: raise ``ValueError`` or ``FileNotFoundError`` naming a file
        of this recorder that the checkpoint counts on and that is missing or damaged."""

    def timeseries(self, ds: xr.Dataset) -> xr.Dataset:
        """``ds`` with this recorder's variables added (or ``ds`` itself)."""

    def status(self) -> dict[str, Any]:
        """Entries for ``status.json``."""

    def postfix(self) -> dict[str, str]:
        """What the progress bar shows of the last record."""

    def finish(self, out: Path, coords: Mapping[str, Any]) -> None:
        """At the end: gather snapshot files into the run's datasets."""


class Health(Protocol):
    """Which networks have diverged: checked after every chunk, kept in checkpoints."""

    @property
    def stopped(self) -> np.ndarray:
        """(B,) bool: networks stopped (their later records are kept but meaningless)."""

    def check(self, point: Point) -> None: ...

    def close(self) -> None:
        """At the end of a run (e.g. a streak still open stops its network)."""

    def arrays(self) -> dict[str, np.ndarray]: ...

    def restore(self, arrays: Mapping[str, np.ndarray], out: Path, step: int) -> list[str]:
        """Resume from a checkpoint at ``step``; returns notices for the user (may be empty)."""

    def timeseries(self, ds: xr.Dataset) -> xr.Dataset: ...

    def status(self) -> dict[str, Any]: ...


class Engine(Protocol):
    """What a model gives the runner: its batch at step 0 and its compiled chunk.

    ``model``: "feedforward" or "hebbian" (``status.json`` and the timeseries'
    ``model`` attribute); ``networks``: one dict of batch values per network.
    """

    model: str
    config: Any
    networks: list[dict[str, float]]
    total_steps: int
    chunk_steps: int
    state0: Any

    @property
    def compile_key(self) -> Hashable:
        """What the compiled chunk depends on: runs with equal keys share one program."""

    def advance(self, state: Any, n: int) -> tuple[Any, Any]:
        """``n`` steps of every network: (new state, chunk statistics or None)."""

    def measure(self, state: Any) -> Any:
        """The engine's measurement of a state (for :meth:`Point.measure`)."""

    def start(self, out: Path) -> None:
        """A fresh run: write the engine's inputs (e.g. ``data.nc``) into ``out``."""

    def resume(self, out: Path) -> list[str]:
        """A resumed run: adopt the inputs stored in ``out``; returns notices."""

    def health(self) -> Health: ...

    def recorders(self) -> list[Recorder]:
        """The registered measurements, in the order they record at a point."""


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: ``status`` "complete" or "diverged" (every network stopped)."""

    out_dir: Path
    status: str
    step: int
    steps_per_second: float


def float_context(dtype: str) -> contextlib.AbstractContextManager[Any]:
    """JAX's 64-bit mode for float64 runs, scoped to the run (no global switch)."""
    return jax.enable_x64(dtype == "float64")  # type: ignore[no-any-return,operator]


def finished(out: Path) -> RunOutcome | None:
    """The outcome stored in ``out``'s status.json if the run there has ended, else None."""
    status = read_status(out)
    if status.get("state") not in ("complete", "diverged"):
        return None
    return RunOutcome(
        out, status["state"], int(status["step"]), float(status.get("steps_per_second", 0.0))
    )


def run_engine(
    config: Any,
    out: Path,
    build: Callable[[], Engine],
    *,
    parse: Callable[[Any], Any],
    kind: str,
    progress: bool = True,
    on_chunk: ProgressFn | None = None,
    restart: bool = False,
) -> RunOutcome:
    """Run (or resume, or return) the run of ``config`` in ``out``.

    ``build()`` makes the engine (only when there is something to run); ``parse``
    turns a stored ``config.yaml`` mapping back into a config, and ``kind`` names
    the model in errors ("Hebbian", "feed-forward"): both check that ``out`` holds
    this config's run or nothing (:class:`driftlab.runner.outdir.RunDirError`).
    ``restart``: delete the run's files in ``out`` first and start over.

    Raises, each with a one-line message: ``RunDirError`` (``out`` cannot hold
    this run), and from :mod:`driftlab.errors`: ``DamagedRunError`` (a file of the
    run cannot be read), ``RunDirBusyError`` (another process runs it),
    ``RunInterruptedError`` and ``RunIOError`` (stopped; rerun to resume).
    """
    check_out_dir(out, config, parse, kind, restart=restart)  # before anything is written
    every = checkpoint_every_s()
    with claimed(out):
        if restart:
            clear_run_dir(out)
        remove_temporaries(out)
        # again, now that out is ours (what a user keeps beside a cleared run stays)
        resuming = not restart and check_out_dir(out, config, parse, kind)
        done = finished(out) if resuming else None
        if done is not None:
            return done
        engine = build()
        try:
            loop = _Loop(engine, out, resuming, progress=progress, on_chunk=on_chunk, every=every)
        except WriteError as err:
            raise RunIOError(
                f"cannot write '{err.filename}': {err.strerror}; nothing ran: free space (or "
                "fix the problem) and rerun the same command",
                0,
            ) from None
        return loop.run()


class _Loop:
    """One run of :func:`run_engine`: the engine, its health, its recorders, the files."""

    def __init__(
        self,
        engine: Engine,
        out: Path,
        resuming: bool,
        *,
        progress: bool,
        on_chunk: ProgressFn | None,
        every: float,
    ) -> None:
        self.engine, self.out, self.progress, self.on_chunk = engine, out, progress, on_chunk
        self.every = every  # seconds between checkpoints
        self.environment = {**run_environment(), **getattr(engine, "environment", {})}
        self.notices: list[str] = list(read_status(out).get("notices", [])) if resuming else []
        self.saved = -np.inf  # when the checkpoint was last written
        self.signal: int | None = None  # SIGINT or SIGTERM received during the run
        self.recorded = False  # records not yet in timeseries.nc
        resume = resuming and (out / "checkpoint.npz").is_file()
        if resuming and not resume and (out / "status.json").is_file():
            raise damaged(out, "checkpoint.npz", "missing (status.json says the run started)")
        if resume:  # first: the health and the recorders read the data it adopts
            self._add_notices(self._checked(out, "data.nc", lambda: engine.resume(out)))
        self.health = engine.health()
        self.recorders = engine.recorders()
        if resume:
            self.state = self._restore(out)
            self.fresh = False
        else:
            write_text(out / "config.yaml", yaml.safe_dump(to_dict(engine.config), sort_keys=False))
            engine.start(out)
            self.state, self.fresh = engine.state0, True
        self.saved_step = self.step()  # the step of the last checkpoint on disk

    @staticmethod
    def _checked(out: Path, name: str, read: Callable[[], Any]) -> Any:
        """``read()``, any failure of it reported as file ``name`` of ``out`` being damaged."""
        try:
            return read()
        except DamagedRunError:
            raise
        except Exception as err:  # whatever a damaged file makes a reader raise
            raise damaged(out, name, err) from None

    def _restore(self, out: Path) -> Any:
        """The state at the checkpoint, with the health and the recorders restored;
        every file the resume counts on checked before anything runs."""
        engine = self.engine
        name = "checkpoint.npz"
        arrays: dict[str, np.ndarray] = self._checked(out, name, lambda: read_npz(out / name))
        state = self._checked(out, name, lambda: restore_state(engine.state0, arrays))
        steps = np.asarray(state.step).reshape(-1)
        if steps.size == 0 or np.any(steps != steps[0]):
            raise damaged(out, name, f"its networks are at different steps {steps.tolist()}")
        step = int(steps[0])
        if not 0 <= step <= engine.total_steps:
            raise damaged(out, name, f"step {step} is outside the run's 0-{engine.total_steps}")
        self._add_notices(self._checked(out, name, lambda: self.health.restore(arrays, out, step)))
        for recorder in self.recorders:
            self._checked(out, name, lambda r=recorder: r.restore(arrays))  # type: ignore[misc]
            try:
                recorder.verify(out)
            except (OSError, ValueError) as err:
                raise damaged(out, "snapshots", str(err)) from None
        # what the checkpoint stamped (an older one stamped less) against now
        before = {k: str(arrays[k]) for k in self.environment if k in arrays}
        if before and before != {k: self.environment[k] for k in before}:
            warnings.warn(
                f"resuming {out} in another environment ({before} -> {self.environment}): "
                "the result is a valid run but not bit-identical to an uninterrupted one",
                stacklevel=5,
            )
        return state

    def _add_notices(self, notices: list[str]) -> None:
        for notice in notices:
            if notice not in self.notices:
                self.notices.append(notice)
            warnings.warn(notice, RunNotice, stacklevel=5)

    # ------------------------------------------------------------------ files

    def timeseries(self) -> xr.Dataset:
        ds = xr.Dataset(coords=network_coords(self.engine.networks))
        for recorder in self.recorders:
            ds = recorder.timeseries(ds)
        ds = self.health.timeseries(ds)
        ds.attrs["config"] = json.dumps(to_dict(self.engine.config), sort_keys=True)
        ds.attrs["model"] = self.engine.model
        if self.notices:  # what a resumed run was told (e.g. it runs on older data)
            ds.attrs["notices"] = "\n".join(self.notices)
        ds.attrs["driftlab_version"] = __version__
        return ds

    def save(self, state_name: str, speed: float, *, force: bool = False) -> None:
        """Write ``timeseries.nc`` (when there are new records), the checkpoint and
        ``status.json``, in this order, at most every ``self.every`` seconds unless
        ``force``."""
        if not force and time.perf_counter() - self.saved < self.every:
            return
        if self.recorded:  # records since the last write (the checkpoint holds them too)
            write_netcdf(self.out / "timeseries.nc", self.timeseries())
            self.recorded = False
        arrays = {**state_arrays(self.state), **self.health.arrays()}
        for recorder in self.recorders:
            arrays.update(recorder.arrays())
        arrays.update({k: np.asarray(v) for k, v in self.environment.items()})
        write_npz(self.out / "checkpoint.npz", arrays)
        status: dict[str, Any] = {
            "state": state_name,
            "model": self.engine.model,
            "step": self.step(),
            "total_steps": self.engine.total_steps,
            "networks": len(self.engine.networks),
            "steps_per_second": speed,
            "engine": self.environment.get("env/engine", "jax"),
            "notices": self.notices,
            **self.health.status(),
        }
        for recorder in self.recorders:
            status.update(recorder.status())
        write_json(self.out / "status.json", status)
        self.saved, self.saved_step = time.perf_counter(), self.step()

    def step(self) -> int:
        return int(np.asarray(self.state.step).max())

    # ------------------------------------------------------------------ the loop

    def record(self, point: Point, target: int, stopping: bool) -> None:
        due = [
            r
            for r in self.recorders
            if (point.step == target and point.step in r.schedule)
            or (stopping and r.at_stop and r.last_step() != point.step)
        ]
        for recorder in due:
            recorder.record(point, self.out)
        self.recorded = self.recorded or bool(due)

    @contextlib.contextmanager
    def stop_on_signals(self) -> Iterator[None]:
        """While the run runs, SIGINT and SIGTERM set :attr:`signal` (the loop stops
        after the chunk in flight, with a checkpoint); a second one raises
        ``KeyboardInterrupt`` at once. Only in the main thread (where Python runs
        signal handlers), and not for a signal the process ignores."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            if self.signal is not None:
                raise KeyboardInterrupt
            self.signal = signum

        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is not signal.SIG_IGN:
                previous[sig] = signal.signal(sig, handler)
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def run(self) -> RunOutcome:
        try:
            with self.stop_on_signals():
                return self._run()
        except WriteError as err:
            raise RunIOError(
                f"cannot write '{err.filename}': {err.strerror}; the run stopped, and its "
                f"last checkpoint is at step {self.saved_step:,}: free space (or fix the "
                "problem) and rerun the same command to resume",
                self.saved_step,
            ) from None

    def _run(self) -> RunOutcome:
        engine = self.engine
        current = self.step()
        if self.fresh:
            point = Point(current, self.state, None, engine.measure)
            self.health.check(point)
            self.record(point, current, stopping=False)
            self.save("running", 0.0, force=True)
        shown = (
            Progress(engine.total_steps, current, len(engine.networks)) if self.progress else None
        )
        speed, t_start, steps_start = 0.0, time.perf_counter(), current
        targets = np.unique(np.concatenate([r.schedule for r in self.recorders]))
        stopping = bool(np.all(self.health.stopped))
        for target in targets[targets > current]:
            while current < target and not stopping:
                n = int(min(engine.chunk_steps, target - current))
                self.state, stats = engine.advance(self.state, n)
                jax.block_until_ready(self.state)  # type: ignore[no-untyped-call]
                current += n
                elapsed = time.perf_counter() - t_start
                speed = (current - steps_start) / elapsed if elapsed > 0 else 0.0
                point = Point(current, self.state, stats, engine.measure)
                for recorder in self.recorders:
                    recorder.observe(point)
                self.health.check(point)  # after every chunk; the record points only sample
                stopping = bool(np.all(self.health.stopped))
                self.record(point, int(target), stopping)
                if shown is not None:
                    postfix: dict[str, str] = {}
                    for recorder in self.recorders:
                        postfix.update(recorder.postfix())
                    shown.update(current, postfix)
                if self.signal is not None and not stopping:
                    if shown is not None:
                        shown.close()
                    self.save("interrupted", speed, force=True)
                    name = signal.Signals(self.signal).name
                    raise RunInterruptedError(
                        f"{name}: stopped at step {current:,} of {engine.total_steps:,}; "
                        "rerun the same command to resume",
                        current,
                        self.signal,
                    )
                self.save("running", speed)
                if self.on_chunk is not None:
                    self.on_chunk(current, engine.total_steps, speed)
            if stopping:
                break
        if shown is not None:
            shown.close()
        self.health.close()
        final = "diverged" if np.all(self.health.stopped) else "complete"
        write_netcdf(self.out / "timeseries.nc", self.timeseries())
        coords = network_coords(engine.networks)
        for recorder in self.recorders:
            recorder.finish(self.out, coords)
        self.save(final, speed, force=True)
        # only now, with the final state on disk, are the per-record files redundant
        shutil.rmtree(self.out / "snapshots", ignore_errors=True)
        remove_temporaries(self.out)
        return RunOutcome(self.out, final, current, speed)
