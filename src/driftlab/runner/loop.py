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
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import warnings
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jax
import numpy as np
import xarray as xr
import yaml

from driftlab import __version__
from driftlab.config import to_dict
from driftlab.rundir import read_status
from driftlab.runner.checkpoint import network_coords, restore_state, run_environment, state_arrays
from driftlab.runner.outdir import check_out_dir
from driftlab.runner.progress import progress_bar
from driftlab.storage import (
    RunNotice,
    read_npz,
    write_json,
    write_netcdf,
    write_npz,
    write_text,
)

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
        """Resume from a checkpoint's arrays (arrays an older checkpoint lacks: NaN)."""

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
    ``model`` attribute); ``networks``: one dict of batch values per network;
    ``timeseries_every_s``: least seconds between rewrites of ``timeseries.nc``
    during a run (the checkpoint holds every record regardless).
    """

    model: str
    config: Any
    networks: list[dict[str, float]]
    total_steps: int
    chunk_steps: int
    state0: Any
    timeseries_every_s: float

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
) -> RunOutcome:
    """Run (or resume, or return) the run of ``config`` in ``out``.

    ``build()`` makes the engine (only when there is something to run); ``parse``
    turns a stored ``config.yaml`` mapping back into a config, and ``kind`` names
    the model in errors ("Hebbian", "feed-forward"): both check that ``out`` holds
    this config's run or nothing (:class:`driftlab.runner.outdir.RunDirError`).
    """
    resuming = check_out_dir(out, config, parse, kind)
    done = finished(out) if resuming else None
    if done is not None:
        return done
    engine = build()
    return _Loop(engine, out, resuming, progress=progress, on_chunk=on_chunk).run()


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
    ) -> None:
        self.engine, self.out, self.progress, self.on_chunk = engine, out, progress, on_chunk
        self.environment = run_environment()
        self.notices: list[str] = list(read_status(out).get("notices", [])) if resuming else []
        self.written = -np.inf  # when timeseries.nc was last written
        ckpt = out / "checkpoint.npz"
        resume = resuming and ckpt.is_file()
        if resume:  # first: the health and the recorders read the data it adopts
            self._add_notices(engine.resume(out))
        self.health = engine.health()
        self.recorders = engine.recorders()
        if resume:
            arrays = read_npz(ckpt)
            self.state = restore_state(engine.state0, arrays)
            step = int(np.asarray(self.state.step)[0])
            self._add_notices(self.health.restore(arrays, out, step))
            for recorder in self.recorders:
                recorder.restore(arrays)
            # what the checkpoint stamped (an older one stamped less) against now
            before = {k: str(arrays[k]) for k in self.environment if k in arrays}
            if before and before != {k: self.environment[k] for k in before}:
                warnings.warn(
                    f"resuming {out} in another environment ({before} -> {self.environment}): "
                    "the result is a valid run but not bit-identical to an uninterrupted one",
                    stacklevel=4,
                )
            self.fresh = False
        else:
            out.mkdir(parents=True, exist_ok=True)
            write_text(out / "config.yaml", yaml.safe_dump(to_dict(engine.config), sort_keys=False))
            engine.start(out)
            self.state, self.fresh = engine.state0, True

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

    def write_timeseries(self, *, force: bool = False) -> None:
        now = time.perf_counter()
        if force or now - self.written >= self.engine.timeseries_every_s:
            write_netcdf(self.out / "timeseries.nc", self.timeseries())
            self.written = time.perf_counter()

    def checkpoint(self, state_name: str, speed: float) -> None:
        arrays = {**state_arrays(self.state), **self.health.arrays()}
        for recorder in self.recorders:
            arrays.update(recorder.arrays())
        arrays.update({k: np.asarray(v) for k, v in self.environment.items()})
        write_npz(self.out / "checkpoint.npz", arrays)
        status: dict[str, Any] = {
            "state": state_name,
            "model": self.engine.model,
            "step": int(np.asarray(self.state.step).max()),
            "total_steps": self.engine.total_steps,
            "networks": len(self.engine.networks),
            "steps_per_second": speed,
            "notices": self.notices,
            **self.health.status(),
        }
        for recorder in self.recorders:
            status.update(recorder.status())
        write_json(self.out / "status.json", status)

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
        if due:
            self.write_timeseries()

    def run(self) -> RunOutcome:
        engine = self.engine
        current = int(np.asarray(self.state.step)[0])
        if self.fresh:
            point = Point(current, self.state, None, engine.measure)
            self.health.check(point)
            self.record(point, current, stopping=False)
            self.checkpoint("running", 0.0)
        bar = (
            progress_bar(engine.total_steps, current, len(engine.networks))
            if self.progress
            else None
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
                self.checkpoint("running", speed)
                if bar is not None:
                    bar.update(n)
                    postfix: dict[str, str] = {}
                    for recorder in self.recorders:
                        postfix.update(recorder.postfix())
                    bar.set_postfix(**postfix)
                if self.on_chunk is not None:
                    self.on_chunk(current, engine.total_steps, speed)
            if stopping:
                break
        if bar is not None:
            bar.close()
        self.health.close()
        final = "diverged" if np.all(self.health.stopped) else "complete"
        self.write_timeseries(force=True)
        coords = network_coords(engine.networks)
        for recorder in self.recorders:
            recorder.finish(self.out, coords)
        self.checkpoint(final, speed)
        # only now, with the final state on disk, are the per-record files redundant
        shutil.rmtree(self.out / "snapshots", ignore_errors=True)
        return RunOutcome(self.out, final, current, speed)
