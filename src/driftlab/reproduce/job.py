"""``driftlab reproduce``: run every stage, draw every figure, measure every claim, report.

The job's folder (``--out``, default ``runs/reproduce-<scale>``) holds a folder per
stage (:mod:`driftlab.reproduce.stages`), ``figures/``, ``reproduce.json`` (the
scale, which stages are finished and the figures they drew, every invocation's
command and wall time), ``claims.json`` and the report (``report.html``,
``report.md``). A stage is marked finished only once its runs are finished and its
figures drawn, so a job killed at any moment and rerun skips finished stages,
and within a stage reads finished runs and resumes partial ones from their
checkpoints; nothing finished is trained again.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftlab.errors import EXIT_FAILED, EXIT_OK, ConfigError, RunDirError
from driftlab.reproduce import stages as st
from driftlab.reproduce.results import ClaimResult, FigureEntry, JobInfo
from driftlab.reproduce.scales import get_scale
from driftlab.runner.lock import contents
from driftlab.runner.progress import Progress
from driftlab.storage import write_json

STATE = "reproduce.json"
CLAIMS = "claims.json"
STATE_VERSION = 1
_UNITS = 10  # progress units per estimated second


@dataclass(frozen=True)
class Outcome:
    out: Path
    html: Path
    md: Path
    claims: list[ClaimResult]
    failed: list[str]
    exit_code: int


def parse_only(text: str | None) -> list[str]:
    """The figure ids of ``--only`` (comma-separated), or every figure; a one-line
    :class:`ConfigError` naming the allowed ids."""
    if text is None:
        return list(st.FIGURES)
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [w for w in wanted if w not in st.FIGURES]
    if unknown or not wanted:
        shown = repr(unknown[0][:40]) if unknown else "nothing"
        raise ConfigError(f"--only: {shown} is not a figure; allowed: {', '.join(st.FIGURES)}")
    return [f for f in st.FIGURES if f in wanted]


def default_out(scale: str) -> Path:
    return Path("runs") / f"reproduce-{scale}"


def read_state(out: Path) -> dict[str, Any]:
    path = out / STATE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise RunDirError(
            f"'{path}': cannot be read; delete it to start the job's bookkeeping over "
            "(finished runs are kept and read again)"
        ) from None
    return data if isinstance(data, dict) else {}


def check_out(out: Path, scale: str) -> dict[str, Any]:
    """The stored state of ``out`` for a job of ``scale``; a one-line
    :class:`RunDirError` when ``out`` is a file, holds another scale's job, or holds
    files but no job. Writes nothing."""
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out '{out}': is a file, not a directory")
    state = read_state(out)
    if state:
        if state.get("scale") != scale:
            raise RunDirError(
                f"--out '{out}': holds the {state.get('scale')!s} scale's job; give --scale "
                f"{state.get('scale')!s}, or another --out for the {scale} scale"
            )
    elif out.is_dir() and contents(out):
        raise RunDirError(
            f"--out '{out}': holds files but no reproduce job ({STATE}): choose another --out "
            "or an empty directory"
        )
    return state


def versions() -> dict[str, str]:
    """driftlab, JAX, jaxlib, the backend and its devices, Python, numpy."""
    from importlib.metadata import version

    import jax
    import numpy as np

    import driftlab

    devices = jax.devices()
    return {
        "driftlab": driftlab.__version__,
        "JAX": jax.__version__,
        "jaxlib": version("jaxlib"),
        "backend": f"{jax.default_backend()} ({len(devices)} x {devices[0].device_kind})",
        "Python": platform.python_version(),
        "numpy": np.__version__,
        "machine": f"{platform.machine()}, {_cores()} cores usable",
    }


def _cores() -> int:
    from driftlab.sweep.execute import default_workers

    return default_workers()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def reproduce(
    scale: str = "laptop",
    out: str | Path | None = None,
    *,
    only: str | None = None,
    backend: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    pack: int = 0,
    progress: bool = True,
    command: str = "",
    stream: Any = None,
) -> Outcome:
    """Run the job (resuming), draw, measure and report; see the module docstring.

    One-line errors: :class:`ConfigError` for bad arguments, :class:`RunDirError`
    for an ``out`` that cannot hold this job, ``RunDirBusyError`` when another
    process runs it, ``RunInterruptedError`` when stopped (rerun to continue)."""
    from driftlab.runner.lock import run_dir_lock

    sized = get_scale(scale)
    figures = parse_only(only)
    folder = Path(out) if out is not None else default_out(scale)
    check_out(folder, scale)
    ctx = st.Context(folder, sized, backend, workers, scheduler, pack)
    stream = sys.stderr if stream is None else stream
    folder.mkdir(parents=True, exist_ok=True)
    started, t0 = _now(), time.monotonic()
    with run_dir_lock(folder):
        state = check_out(folder, scale)
        state.setdefault("version", STATE_VERSION)
        state["scale"] = scale
        state.setdefault("stages", {})
        state.setdefault("invocations", [])
        state["invocations"].append({"command": command, "started": started, "wall_s": None})
        write_json(folder / STATE, state)
        todo = st.stages_for(figures)
        failed = _run_stages(ctx, todo, state, progress, stream)
        wall = time.monotonic() - t0
        state["invocations"][-1]["wall_s"] = wall
        write_json(folder / STATE, state)
        from driftlab.reproduce.claims import evaluate

        claims = evaluate(folder, figures, ctx.stage_dir)
        job = JobInfo(
            scale=scale,
            command=command,
            out_dir=folder,
            versions=versions(),
            started=str(state["invocations"][0]["started"]),
            finished=_now(),
            wall_s=wall,
            total_wall_s=sum(float(i.get("wall_s") or 0.0) for i in state["invocations"]),
        )
        write_json(folder / CLAIMS, claims_record(job, state, claims))
        from driftlab.reproduce.report import write_report

        html, md = write_report(folder, job, _figure_entries(ctx, state, figures), claims)
    return Outcome(folder, html, md, claims, failed, EXIT_FAILED if failed else EXIT_OK)


def _run_stages(
    ctx: st.Context, todo: Sequence[str], state: dict[str, Any], progress: bool, stream: Any
) -> list[str]:
    """Run every stage of ``todo`` not finished yet; return the ones that failed."""
    costs = {stage: st.wall_estimate(ctx, stage) for stage in todo}
    done_before = sum(costs[s] for s in todo if state["stages"].get(s, {}).get("done"))
    total = max(1, round(_UNITS * sum(costs.values())))
    bar = None
    if progress:
        bar = Progress(
            total,
            round(_UNITS * done_before),
            1,
            name=f"reproduce ({ctx.scale.name})",
            stream=stream,
            counts=False,
        )
    failed: list[str] = []
    base = done_before
    started = time.monotonic()
    try:
        for k, stage in enumerate(todo):
            if state["stages"].get(stage, {}).get("done"):
                continue
            name = f"reproduce ({ctx.scale.name}) [{k + 1}/{len(todo)} {stage}"

            def report(
                fraction: float, stage: str = stage, name: str = name, base: float = base
            ) -> None:
                if bar is not None:
                    bar.name = f"{name} {min(100, int(100 * fraction))}%]"
                    bar.update(round(_UNITS * (base + fraction * costs[stage])))

            report(0.0)
            t0 = time.monotonic()
            try:
                st.run_stage(ctx, stage, report)
            except st.StageFailedError as err:
                failed.append(stage)
                stream.write(f"driftlab: {err}\n")
                base += costs[stage]
                continue
            figures = _draw(ctx, stage)
            # wall_s: the invocation that finished the stage (a resumed stage: its last part)
            wall = time.monotonic() - t0
            state["stages"][stage] = {"done": True, "figures": figures, "wall_s": wall}
            # so far: what a killed invocation leaves (its time up to its last stage)
            state["invocations"][-1]["wall_s"] = time.monotonic() - started
            write_json(ctx.out / STATE, state)
            base += costs[stage]
    finally:
        if bar is not None:
            bar.name = f"reproduce ({ctx.scale.name})"
            bar.close()
    return failed


def _draw(ctx: st.Context, stage: str) -> dict[str, list[str]]:
    """Draw the figures of a finished ``stage``; {figure id: PNG paths relative to the
    job's folder}."""
    drawn = st.draw_stage(ctx, stage)
    return {
        figure: [str(p.relative_to(ctx.out)) for p in paths if p.suffix == ".png"]
        for figure, paths in drawn.items()
    }


def _figure_entries(
    ctx: st.Context, state: dict[str, Any], figures: Sequence[str]
) -> list[FigureEntry]:
    images: dict[str, list[Path]] = {f: [] for f in figures}
    for stage in st.STAGES:
        for figure, paths in state["stages"].get(stage, {}).get("figures", {}).items():
            if figure in images:
                images[figure].extend(ctx.out / p for p in paths)
    figures_dir = ctx.out / "figures"
    return [  # the paper's own panels first (under figures/), then the extra ones
        FigureEntry(
            f,
            st.FIGURES[f],
            tuple(sorted(images[f], key=lambda p: not p.is_relative_to(figures_dir))),
            st.caption(ctx.scale, f),
        )
        for f in figures
    ]


def claims_record(
    job: JobInfo, state: dict[str, Any], claims: Sequence[ClaimResult]
) -> dict[str, Any]:
    """What ``claims.json`` holds: the job (scale, command, versions, times, each
    invocation and each stage's wall time) and every claim's fields."""
    return {
        "scale": job.scale,
        "job": {
            "command": job.command,
            "versions": job.versions,
            "started": job.started,
            "finished": job.finished,
            "wall_s": job.wall_s,
            "total_wall_s": job.total_wall_s,
            "invocations": state["invocations"],
            "stage_wall_s": {k: s.get("wall_s") for k, s in state["stages"].items()},
        },
        "claims": [dataclasses.asdict(c) for c in claims],
    }
