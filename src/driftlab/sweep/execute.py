"""Run a sweep: plan it, skip what is finished, execute the rest on a backend, summarise.

Backends (:data:`BACKENDS`):

* ``local`` (default): a pool of worker processes on this machine, one per core
  (``workers``), each pinned to its own core and running one run at a time;
* ``dask``: a ``dask.distributed`` cluster: a ``LocalCluster`` of ``workers``
  single-threaded worker processes, or, with ``scheduler``, the existing cluster
  at that address (e.g. SLURM jobs started by ``dask-jobqueue``; the sweep
  directory must be on a file system every worker sees).

Runs are handed out in plan order within groups: runs whose configs differ only
in batch fields (seed, learning rate, noise amplitudes; :func:`group_key`) share
one compiled program, and a worker's consecutive runs of one group compile once
(:func:`driftlab.simulate.make_chunk` is cached per process).

A run that diverges is finished; one that raises is recorded as failed (its
error in ``attempts/<id>.json``) and the sweep goes on; a rerun of the same
command tries the failed runs again, resumes partial runs from their
checkpoints, and reads finished runs without computing anything. After the
runs, the summary (:mod:`driftlab.sweep.summary`) is rebuilt from the run
directories.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from driftlab.config.feedforward import BATCH_FIELDS
from driftlab.config.schema import to_dict
from driftlab.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, ConfigError
from driftlab.runner.progress import Progress
from driftlab.sweep import store
from driftlab.sweep.spec import PlannedRun
from driftlab.sweep.worker import init_local_worker, run_one

BACKENDS: tuple[str, ...] = ("local", "dask")
POLL_S = 2.0
"""Seconds between looks at the running runs' status.json (for the progress line)."""
BATCH_FIELD_PATHS: tuple[str, ...] = tuple(path for _, path in BATCH_FIELDS)
"""The run config's batch fields (dotted): what runs of one compiled program may differ in."""


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def group_key(config: Mapping[str, Any]) -> str:
    """What runs of one compiled program share: the config less its batch fields,
    plus which noises are on (switching a noise on or off changes the program)."""
    flat = store.flat_config(config)
    on = {
        name: any(float(v) > 0 for v in _as_list(flat.get(name, 0)))
        for name in BATCH_FIELD_PATHS
        if name.startswith("noise.")
    }
    rest = {k: v for k, v in flat.items() if k not in BATCH_FIELD_PATHS}
    return json.dumps({"config": rest, "noise_on": on}, sort_keys=True, default=str)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def plan_of(name: str, runs: Sequence[PlannedRun]) -> store.Plan:
    """The stored form of an expanded spec."""
    return store.Plan(
        name=name,
        runs=tuple(
            store.PlanEntry(r.id, r.branch, r.index, dict(r.values), to_dict(r.config))
            for r in runs
        ),
    )


def ordered(plan: store.Plan) -> list[store.PlanEntry]:
    """The runs in the order they are handed out: groups in order of their first run,
    each group's runs together (so a worker's next run usually reuses its program)."""
    first: dict[str, int] = {}
    keyed = []
    for i, run in enumerate(plan.runs):
        key = group_key(run.config)
        first.setdefault(key, i)
        keyed.append((first[key], i, run))
    return [run for _, _, run in sorted(keyed, key=lambda item: (item[0], item[1]))]


@dataclass(frozen=True)
class Job:
    """What one worker call trains: a run in its own directory, or a pack of runs
    padded to one shape and trained as one program (:mod:`driftlab.sweep.pack`)."""

    ids: tuple[str, ...]
    out: Path
    configs: tuple[Mapping[str, Any], ...]

    @property
    def name(self) -> str:
        return self.ids[0] if len(self.ids) == 1 else f"pack-{self.out.name}"

    def payload(self) -> dict[str, Any]:
        return {
            "id": self.name,
            "ids": list(self.ids),
            "out": str(self.out),
            "configs": [dict(c) for c in self.configs],
        }


def partition(plan: store.Plan, out: Path, pack: int = 0) -> list[Job]:
    """The sweep's jobs, in the order they are handed out (:func:`ordered`).

    ``pack`` <= 1: a job per run, in its own run directory. ``pack`` > 1: runs that
    can share a padded program (:func:`driftlab.sweep.pack.pack_key`) are packed, up
    to ``pack`` per job, in plan order; runs that cannot be packed (e.g. the corridor
    task, mini-batch SGD) run alone. The same plan and ``pack`` always give the same
    packs, so a rerun resumes them."""
    runs = ordered(plan)
    if pack <= 1:
        return [Job((r.id,), store.run_dir(out, r.id), (r.config,)) for r in runs]
    from driftlab.config import parse_config
    from driftlab.sweep.pack import pack_key, pack_problem

    groups: dict[str, list[store.PlanEntry]] = {}
    jobs: list[Job] = []
    for run in runs:
        cfg = parse_config(run.config)
        if pack_problem([cfg]) is not None:
            jobs.append(Job((run.id,), store.run_dir(out, run.id), (run.config,)))
        else:
            groups.setdefault(pack_key(cfg), []).append(run)
    for members in groups.values():
        for start in range(0, len(members), pack):
            chunk = members[start : start + pack]
            ids = tuple(r.id for r in chunk)
            where = store.run_dir(out, ids[0]) if len(ids) == 1 else store.pack_dir(out, ids)
            jobs.append(Job(ids, where, tuple(r.config for r in chunk)))
    return jobs


@dataclass
class Tally:
    """The sweep's runs by state, and its network-steps: done, and per run so far."""

    total_runs: int
    total_steps: int
    complete: int = 0
    diverged: int = 0
    failed: int = 0
    interrupted: int = 0
    steps: dict[str, int] = field(default_factory=dict)

    @property
    def steps_done(self) -> int:
        return sum(self.steps.values())

    def postfix(self, running: int) -> dict[str, str]:
        finished = self.complete + self.diverged
        return {
            "runs": f"{finished:,}/{self.total_runs:,} done",
            "running": str(running),
            "failed": str(self.failed),
            "diverged": str(self.diverged),
        }


@dataclass(frozen=True)
class SweepOutcome:
    """How a sweep command ended: its directory, counts of runs by state, the exit code
    (0 all finished, 1 some failed, 130 stopped by Ctrl-C), the summary's path."""

    out: Path
    runs: int
    complete: int
    diverged: int
    failed: int
    skipped: int
    exit_code: int
    summary: Path | None


def _steps_of(entry: store.PlanEntry) -> int:
    """A run's network-steps: its steps times its networks (1 for a sweep's runs)."""
    flat = store.flat_config(entry.config)
    networks = 1
    for name in BATCH_FIELD_PATHS:
        networks *= len(_as_list(flat.get(name, 0)))
    return int(flat["train.steps"]) * networks


def run_sweep(
    name: str,
    runs: Sequence[PlannedRun],
    out: str | Path,
    *,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: bool = True,
    pack: int = 0,
    summarise: Callable[[Path], Path | None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> SweepOutcome:
    """Execute the planned ``runs`` of sweep ``name`` into sweep directory ``out``.

    ``backend``: ``local`` or ``dask`` (:data:`BACKENDS`); ``workers``: worker
    processes (default: one per core; ignored with ``scheduler``); ``scheduler``:
    the address of a running Dask scheduler (implies ``dask``); ``pack``: train up to
    that many runs of one padded shape as one program (:func:`partition`; for
    accelerators, 0 = off). ``summarise(out)`` rebuilds the summary at the end
    (default :func:`driftlab.sweep.summary.write_summary`). ``on_progress(done,
    total)`` receives the network-steps done (finished runs included) whenever the
    progress line would be redrawn, in place of that line (for a caller that shows
    its own progress, e.g. ``driftlab reproduce``).
    One-line errors: :class:`ConfigError` for bad arguments, ``RunDirError`` for an
    ``out`` that holds something else, ``RunDirBusyError`` when another sweep
    command drives ``out``.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"--backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    if scheduler is not None:
        backend = "dask"
    n_workers = default_workers() if workers is None else int(workers)
    if n_workers < 1:
        raise ConfigError(f"--workers: {n_workers} is not allowed (at least 1)")
    if summarise is None:
        from driftlab.sweep.summary import write_summary

        summarise = write_summary
    out = Path(out)
    plan = plan_of(name, runs)
    store.check_out(out, plan)  # before anything is written
    with store.sweep_lock(out):
        store.claim_plan(out, plan)
        done = store.finished_runs(out, plan.ids)
        todo = [job for job in partition(plan, out, pack) if not set(job.ids) <= set(done)]
        plan_steps = {r.id: _steps_of(r) for r in plan.runs}
        tally = Tally(len(plan.runs), sum(plan_steps.values()))
        for run in plan.runs:
            if run.id in done:
                tally.steps[run.id] = plan_steps[run.id]
                if done[run.id] == "diverged":
                    tally.diverged += 1
                else:
                    tally.complete += 1
        for job in todo:
            _poll([job], tally)
        bar: Progress | _Callback | None
        if on_progress is not None:
            bar = _Callback(on_progress, tally.total_steps)
            bar.update(tally.steps_done)
        else:
            bar = _progress(name, tally, n_workers, backend, scheduler, len(done), progress)
        # the engine this command asked for (--engine sets the variable) travels with
        # each job, so that workers on another machine (a Dask cluster) use it too
        engine = os.environ.get("DRIFTLAB_ENGINE") or None
        jobs = [{**job.payload(), "engine": engine} for job in todo]
        interrupted = False
        try:
            if jobs:
                execute_jobs = _run_dask if backend == "dask" else _run_local
                execute_jobs(jobs, out, tally, bar, n_workers, scheduler, plan_steps)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            if bar is not None:
                bar.close()
        summary = summarise(out)
    if interrupted or tally.interrupted:
        code = EXIT_INTERRUPTED
    else:
        code = EXIT_FAILED if tally.failed else EXIT_OK
    return SweepOutcome(
        out=out,
        runs=len(plan.runs),
        complete=tally.complete,
        diverged=tally.diverged,
        failed=tally.failed,
        skipped=len(done),
        exit_code=code,
        summary=summary,
    )


class _Callback:
    """A progress line's calls, passed on to a caller's ``on_progress(done, total)``."""

    def __init__(self, on_progress: Callable[[int, int], None], total: int) -> None:
        self.on_progress, self.total = on_progress, total

    def update(self, step: int, postfix: Mapping[str, str] | None = None) -> None:
        self.on_progress(int(step), self.total)

    def close(self) -> None:
        pass


def _progress(
    name: str,
    tally: Tally,
    workers: int,
    backend: str,
    scheduler: str | None,
    skipped: int,
    show: bool,
) -> Progress | None:
    if not show:
        return None
    where = f"Dask scheduler {scheduler}" if scheduler else f"{workers} {backend} workers"
    bar = Progress(
        tally.total_steps,
        tally.steps_done,
        1,
        name=f"sweep '{name}' ({tally.total_runs:,} runs, {where})",
        unit="network-steps",
    )
    if skipped:
        bar.stream.write(f"sweep '{name}': {skipped:,} runs already finished, not recomputed\n")
    return bar


def _finish(
    result: Mapping[str, Any], out: Path, tally: Tally, plan_steps: Mapping[str, int]
) -> None:
    """Count one ended attempt (a run, or each run of a pack) and store it."""
    runs = result.get("runs") or dict.fromkeys(result["ids"], result.get("status"))
    share = float(result.get("wall_s", 0.0)) / max(1, len(runs))
    for run_id, status in runs.items():
        store.record_attempt(out, run_id, {**result, "status": status, "wall_s": share})
        if status == "complete":
            tally.complete += 1
            tally.steps[run_id] = plan_steps[run_id]
        elif status == "diverged":
            tally.diverged += 1
            tally.steps[run_id] = plan_steps[run_id]
        elif status == "interrupted":
            tally.interrupted += 1
        else:
            tally.failed += 1


def _poll(jobs: Sequence[Job | Mapping[str, Any]], tally: Tally) -> None:
    """Steps done so far by the jobs' runs (their directory's status.json)."""
    for job in jobs:
        out, ids = (job.out, job.ids) if isinstance(job, Job) else (Path(job["out"]), job["ids"])
        status = store.read_status_at(out)
        with contextlib.suppress(TypeError, ValueError):
            for run_id in ids:
                tally.steps[run_id] = int(status.get("step", 0))


def _run_local(
    jobs: list[dict[str, Any]],
    out: Path,
    tally: Tally,
    bar: Progress | _Callback | None,
    workers: int,
    scheduler: str | None,
    plan_steps: Mapping[str, int],
) -> None:
    ctx = multiprocessing.get_context("spawn")
    counter = ctx.Value("i", 0)
    pool = ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)),
        mp_context=ctx,
        initializer=init_local_worker,
        initargs=(counter, os.getpid()),
    )
    pending: dict[Future[dict[str, Any]], dict[str, Any]] = {}
    try:
        for job in jobs:
            pending[pool.submit(run_one, job)] = job
        last_poll = 0.0
        while pending:
            finished, _ = wait(list(pending), timeout=POLL_S, return_when=FIRST_COMPLETED)
            for fut in finished:
                job = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as err:  # the worker process died (killed, out of memory)
                    result = _lost(job, err)
                _finish(result, out, tally, plan_steps)
            # running() also holds for the few futures queued to the pool's call queue
            running = [job for fut, job in pending.items() if fut.running()][:workers]
            if time.monotonic() - last_poll >= POLL_S:
                _poll(running, tally)
                last_poll = time.monotonic()
            if bar is not None:
                bar.update(tally.steps_done, tally.postfix(len(running)))
    except KeyboardInterrupt:
        # The workers had Ctrl-C too: each run in flight stops after a checkpoint.
        for fut in pending:
            fut.cancel()
        _drain(pending, out, tally, plan_steps)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _drain(
    pending: dict[Future[dict[str, Any]], dict[str, Any]],
    out: Path,
    tally: Tally,
    plan_steps: Mapping[str, int],
) -> None:
    """After Ctrl-C: collect the runs in flight as they stop (a second Ctrl-C stops
    waiting)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for fut in list(pending):
            if fut.cancelled():
                continue
            with contextlib.suppress(Exception):
                _finish(fut.result(timeout=120), out, tally, plan_steps)
    finally:
        signal.signal(signal.SIGINT, previous)


def _lost(job: Mapping[str, Any], err: BaseException) -> dict[str, Any]:
    line = " ".join(str(err).split()) or type(err).__name__
    return {
        "id": job["id"],
        "ids": list(job["ids"]),
        "status": "failed",
        "step": 0,
        "wall_s": 0.0,
        "reason": f"worker lost: {type(err).__name__}: {line}"[:500],
    }


def _run_dask(
    jobs: list[dict[str, Any]],
    out: Path,
    tally: Tally,
    bar: Progress | _Callback | None,
    workers: int,
    scheduler: str | None,
    plan_steps: Mapping[str, int],
) -> None:
    from distributed import Client, LocalCluster, as_completed

    with contextlib.ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(Client(scheduler, timeout="30s"))
        else:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=min(workers, len(jobs)),
                    threads_per_worker=1,
                    processes=_dask_processes(),
                    dashboard_address=None,
                )
            )
            client = stack.enter_context(Client(cluster))
        futures = {
            client.submit(run_one, {**job, "dask": True}, key=f"driftlab-{job['id']}"): job
            for job in jobs
        }
        by_key = {f"driftlab-{job['id']}": job for job in jobs}
        done_ids: set[str] = set()
        pending = as_completed(list(futures), timeout=None)
        last_poll = 0.0
        while len(done_ids) < len(futures):
            for fut in pending.next_batch(block=False) if pending.has_ready() else []:
                job = futures[fut]
                try:
                    result = fut.result()
                except Exception as err:  # a worker died (KilledWorker) or the task failed
                    result = _lost(job, err)
                done_ids.add(job["id"])
                _finish(result, out, tally, plan_steps)
            processing = [
                by_key[key]
                for keys in client.processing().values()
                for key in keys
                if isinstance(key, str) and key in by_key
            ]
            if time.monotonic() - last_poll >= POLL_S:
                _poll(processing, tally)
                last_poll = time.monotonic()
            if bar is not None:
                bar.update(tally.steps_done, tally.postfix(len(processing)))
            if len(done_ids) < len(futures):
                time.sleep(0.2)


def _dask_processes() -> bool:
    """LocalCluster workers as processes (the default: one JAX per core), or as threads
    of this process when ``DRIFTLAB_DASK_THREADS`` is 1 (an in-process cluster; the
    tests use it)."""
    return os.environ.get("DRIFTLAB_DASK_THREADS", "0") != "1"
