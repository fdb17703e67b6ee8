"""A sweep directory on disk: the plan, one run directory per run, what each attempt did.

Layout (every file written atomically; reading needs no JAX)::

    SWEEP/plan.json             the sweep's name and its runs: id, branch, index, varied
                                values and resolved config of each, in plan order
    SWEEP/runs/<id>/            each run's ordinary, resumable run directory
                                (driftlab.run.execute; the id is the config's hash)
    SWEEP/packs/<pack>/         with ``--pack N``: runs trained together, padded to one
                                shape (driftlab.sweep.pack); a run directory whose
                                network k is the run ``ids[k]`` of its config.yaml
    SWEEP/attempts/<id>.json    what the sweep's attempts at a run did: how many, their
                                summed wall time, the last one's outcome and, for a run
                                that raised, the error
    SWEEP/summary.parquet       one row per run (driftlab.sweep.summary), rebuilt from
    SWEEP/timecourses.nc        the run directories at the end of every sweep command
    SWEEP/summary-groups.csv    the per-group table of ``driftlab sweep summary``

A sweep directory holds one plan: rerunning the same spec continues it (finished runs
are read, not recomputed; partial runs resume from their checkpoints, failed runs are
tried again); another spec is refused. Several sweep commands cannot drive one
directory at once (its lock, :data:`driftlab.runner.lock.LOCK_NAME`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from driftlab.errors import DamagedRunError, RunDirError
from driftlab.runner.lock import contents, run_dir_lock
from driftlab.storage import write_json

PLAN = "plan.json"
RUNS = "runs"
PACKS = "packs"
ATTEMPTS = "attempts"
SUMMARY = "summary.parquet"
TIMECOURSES = "timecourses.nc"
GROUPS_CSV = "summary-groups.csv"
PLAN_VERSION = 1


@dataclass(frozen=True)
class PlanEntry:
    """One run of a stored plan: its id, branch, index in the branch, varied values and
    resolved config (a plain mapping, as ``config.yaml`` holds it)."""

    id: str
    branch: str
    index: int
    values: Mapping[str, Any]
    config: Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """A sweep's name and its runs, in plan order."""

    name: str
    runs: tuple[PlanEntry, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(run.id for run in self.runs)


def flat_config(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config mapping (as ``plan.json`` and ``config.yaml`` hold it) as
    {dotted path: value}, in field order; lists are values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_config(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def run_dir(out: Path, run_id: str) -> Path:
    """The run directory of run ``run_id`` of the sweep in ``out``."""
    return out / RUNS / run_id


def pack_dir(out: Path, ids: Sequence[str]) -> Path:
    """The directory of the pack of runs ``ids`` (named by the hash of the ids)."""
    digest = hashlib.sha256(" ".join(ids).encode()).hexdigest()[:12]
    return out / PACKS / digest


@dataclass(frozen=True)
class Where:
    """Where a run's results are: a run directory and the run's network in it."""

    path: Path
    network: int = 0


def packed_runs(out: Path) -> dict[str, Where]:
    """Every run trained in a pack of the sweep in ``out``: its pack and network."""
    found: dict[str, Where] = {}
    for config in sorted((out / PACKS).glob("*/config.yaml")):
        try:
            raw = yaml.safe_load(config.read_text(encoding="utf-8"))
            ids = [str(i) for i in raw["ids"]]
        except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError):
            continue
        for k, run_id in enumerate(ids):
            found.setdefault(run_id, Where(config.parent, k))
    return found


def run_state(where: Where) -> tuple[str | None, dict[str, Any]]:
    """A run's state (complete, diverged, running, interrupted, or None before it
    started) and its directory's status.json; a network of a finished pack is
    ``diverged`` when it stopped early, else ``complete``."""
    status = read_status_at(where.path)
    state = status.get("state")
    if state in ("complete", "diverged") and where.path.parent.name == PACKS:
        stopped = {
            int(item.get("network", -1))
            for item in status.get("diverged", []) or []
            if isinstance(item, Mapping)
        }
        state = "diverged" if where.network in stopped else "complete"
    return (str(state) if state else None), status


def locate(out: Path, run_id: str, packed: Mapping[str, Where]) -> Where:
    """Where run ``run_id``'s results are: its own run directory once that has
    finished or started, else its pack if it was packed, else its own (empty) one."""
    own = Where(run_dir(out, run_id))
    finished = read_status_at(own.path).get("state") in ("complete", "diverged")
    if run_id in packed and not finished and read_status_at(packed[run_id].path):
        return packed[run_id]
    return own


def attempts_path(out: Path, run_id: str) -> Path:
    return out / ATTEMPTS / f"{run_id}.json"


def plan_dict(plan: Plan) -> dict[str, Any]:
    return {
        "version": PLAN_VERSION,
        "name": plan.name,
        "runs": [
            {
                "id": r.id,
                "branch": r.branch,
                "index": r.index,
                "values": dict(r.values),
                "config": dict(r.config),
            }
            for r in plan.runs
        ],
    }


def read_plan(out: Path) -> Plan:
    """The plan stored in sweep directory ``out``; :class:`RunDirError` when ``out``
    holds no sweep, :class:`DamagedRunError` when its plan cannot be read."""
    path = out / PLAN
    if not path.is_file():
        raise RunDirError(f"'{out}': not a sweep directory (no {PLAN}; 'driftlab sweep' makes one)")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        runs = tuple(
            PlanEntry(
                id=str(r["id"]),
                branch=str(r["branch"]),
                index=int(r["index"]),
                values=dict(r["values"]),
                config=dict(r["config"]),
            )
            for r in raw["runs"]
        )
        return Plan(name=str(raw["name"]), runs=runs)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise DamagedRunError(
            f"'{path}': cannot be read ({type(err).__name__}); delete the sweep directory "
            "to start the sweep over"
        ) from None


def check_out(out: Path, plan: Plan) -> None:
    """Raise a one-line :class:`RunDirError` unless ``out`` can hold ``plan``: it does
    not exist, is empty, or holds this plan. Writes nothing."""
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out '{out}': is a file, not a directory")
    if (out / PLAN).is_file():
        stored = read_plan(out)
        if stored.ids != plan.ids:
            new = len(set(plan.ids) - set(stored.ids))
            raise RunDirError(
                f"--out '{out}': holds sweep '{stored.name}' of {len(stored.ids):,} runs; this "
                f"spec plans '{plan.name}' of {len(plan.ids):,} ({new:,} not in the stored "
                "plan): choose another --out"
            )
    elif out.is_dir() and contents(out):
        raise RunDirError(
            f"--out '{out}': holds files but no sweep ({PLAN}): choose another --out or an "
            "empty directory"
        )


def claim_plan(out: Path, plan: Plan) -> None:
    """Store ``plan`` in ``out`` (held by :func:`sweep_lock`) unless it holds it already;
    the checks of :func:`check_out` first."""
    check_out(out, plan)
    if (out / PLAN).is_file():
        return
    try:
        write_json(out / PLAN, plan_dict(plan))
    except OSError as err:
        raise RunDirError(f"--out '{out}': cannot write there: {err.strerror}") from None


@contextlib.contextmanager
def sweep_lock(out: Path) -> Iterator[None]:
    """Hold the lock of sweep directory ``out`` for the block; ``out`` is created if
    needed, and removed again if the block fails before a plan was stored there."""
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RunDirError(f"--out '{out}': cannot write there: {err.strerror}") from None
    try:
        with run_dir_lock(out):
            yield
    except BaseException:
        if created and not (out / PLAN).exists():
            shutil.rmtree(out, ignore_errors=True)
        raise


def read_attempts(out: Path, run_id: str) -> dict[str, Any]:
    """What the sweep's attempts at ``run_id`` did ({} before the first ended)."""
    try:
        data = json.loads(attempts_path(out, run_id).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def record_attempt(out: Path, run_id: str, result: Mapping[str, Any]) -> None:
    """Add one ended attempt (a worker's result: status, wall_s, reason) to the run's
    attempts file."""
    previous = read_attempts(out, run_id)
    data = {
        "attempts": int(previous.get("attempts", 0)) + 1,
        "wall_s": float(previous.get("wall_s", 0.0)) + float(result.get("wall_s", 0.0)),
        "last": dict(result),
    }
    path = attempts_path(out, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)


def finished_runs(out: Path, ids: Sequence[str]) -> dict[str, str]:
    """The state (complete or diverged) of every run of ``ids`` that is finished, in its
    own run directory or in a pack."""
    packed = packed_runs(out)
    done: dict[str, str] = {}
    for run_id in ids:
        state, _ = run_state(locate(out, run_id, packed))
        if state in ("complete", "diverged"):
            done[run_id] = state
    return done


def read_status(out: Path, run_id: str) -> dict[str, Any]:
    """Run ``run_id``'s own status.json ({} when it has none yet or it cannot be read)."""
    return read_status_at(run_dir(out, run_id))


def read_status_at(path: Path) -> dict[str, Any]:
    """The status.json of run directory ``path`` ({} when it has none or it is unreadable)."""
    try:
        data = json.loads((path / "status.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
