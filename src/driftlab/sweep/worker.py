"""What a sweep's worker process does: train one run of the plan, and say how it ended.

:func:`run_one` is the one function the backends send to their workers (a local
process pool, or Dask workers on this machine or a cluster). It takes and returns
plain mappings (picklable, independent of the driver's objects), never raises for
a run's own failure, and imports JAX only once the process has been set up for
it: one thread per worker process (:func:`driftlab.cpu.limit_cpus`), the layout
measured fastest on CPUs.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_state = {"stopping": False, "in_run": False}
"""This worker process's state: no new run may start (``stopping``: the sweep was
stopped by Ctrl-C, or is gone); a run is in flight (``in_run``)."""

BUSY_WAIT_S = 60.0
"""How long a worker waits for a run directory another process still holds (a worker
of a killed sweep that is saving its last checkpoint) before it gives up."""


def _pin(core: int | None) -> None:
    """Before JAX starts: one core for this process, the ``core``-th of the allowed
    ones (modulo their number), or the one it runs on."""
    from driftlab.cpu import limit_cpus

    limit_cpus(1, start=core)


def init_local_worker(counter: Any, parent: int) -> None:
    """Initialiser of a local pool's worker process: its own core (the ``counter``-th),
    Ctrl-C left to the runs (a run stops after a checkpoint) and starting no run after
    it, and an exit once the sweep that started it is gone (killed): the run in
    flight is stopped with SIGTERM, which saves its checkpoint."""
    with counter.get_lock():
        core = int(counter.value)
        counter.value += 1
    _pin(core)
    signal.signal(signal.SIGINT, lambda signum, frame: _state.update(stopping=True))

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        _state["stopping"] = True  # no new run starts
        if _state["in_run"]:
            os.kill(os.getpid(), signal.SIGTERM)  # the run in flight checkpoints and stops
        for _ in range(120):
            if not _state["in_run"]:
                break
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="driftlab-parent-watch").start()


def _dask_core() -> int | None:
    """A Dask worker's core: its number, from its name (``3`` in a LocalCluster,
    ``...-3`` for ``dask worker --nworkers``); None (the core it runs on) otherwise."""
    try:
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError, AttributeError):
        return None
    if isinstance(name, int):
        return name
    tail = str(name).rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def run_one(job: Mapping[str, Any]) -> dict[str, Any]:
    """Train (or resume, or read) the run ``job`` describes: ``id``, ``ids`` (the
    runs), ``out`` (the run directory) and ``configs`` (their resolved config
    mappings: one for a run of its own, several for a pack trained as one program,
    :mod:`driftlab.sweep.pack`); ``dask``: running on a Dask worker; ``engine``: the
    feed-forward engine asked for (None: this process's ``DRIFTLAB_ENGINE`` or auto).

    Returns ``{"id", "ids", "status", "runs", "step", "wall_s", "reason", "host",
    "pid"}`` where status is ``complete``, ``diverged``, ``interrupted`` (stopped by a
    signal; the rerun resumes) or ``failed`` (it raised: ``reason`` is the error's
    line), and ``runs`` maps each run to its own status (a pack's networks diverge
    one by one).
    """
    if job.get("dask"):
        _pin(_dask_core())
    start = time.perf_counter()
    ids = [str(i) for i in job["ids"]]
    if _state["stopping"]:
        runs = dict.fromkeys(ids, "interrupted")
        return {"id": job["id"], "ids": ids, "status": "interrupted", "runs": runs, "step": 0}
    _state["in_run"] = True
    result: dict[str, Any] = {
        "id": job["id"],
        "ids": ids,
        "host": os.uname().nodename,
        "pid": os.getpid(),
        "reason": "",
        "step": 0,
    }
    try:
        from driftlab.config import parse_config
        from driftlab.errors import RunDirBusyError, RunInterruptedError, RunStoppedError
        from driftlab.run import execute

        configs = [parse_config(c) for c in job["configs"]]
        out = Path(job["out"])
        deadline = time.monotonic() + BUSY_WAIT_S
        while True:
            try:
                if len(configs) == 1:
                    outcome = execute(configs[0], out, progress=False, engine=job.get("engine"))
                else:
                    from driftlab.sweep.pack import execute_pack

                    outcome = execute_pack(configs, ids, out)
                break
            except RunDirBusyError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1.0)
        result.update(status=outcome.status, step=int(outcome.step))
    except RunInterruptedError as err:
        _state["stopping"] = True  # the queued runs must not start after Ctrl-C
        result.update(status="interrupted", step=err.step, reason=str(err))
    except RunStoppedError as err:  # e.g. a full disk: the checkpoint is kept
        result.update(status="failed", step=err.step, reason=str(err))
    except Exception as err:  # a run's failure is the sweep's data, not its end
        line = " ".join(str(err).split()) or type(err).__name__
        result.update(status="failed", reason=f"{type(err).__name__}: {line}"[:500])
    finally:
        _state["in_run"] = False
    result["wall_s"] = time.perf_counter() - start
    result["runs"] = _run_states(result, Path(job["out"]))
    return result


def _run_states(result: Mapping[str, Any], out: Path) -> dict[str, str]:
    """Each run's status: the job's, but a finished pack's networks that stopped early
    are ``diverged`` and the others ``complete``."""
    ids, status = list(result["ids"]), str(result["status"])
    if len(ids) == 1 or status not in ("complete", "diverged"):
        return dict.fromkeys(ids, status)
    from driftlab.sweep.store import Where, run_state

    return {run_id: run_state(Where(out, k))[0] or status for k, run_id in enumerate(ids)}
