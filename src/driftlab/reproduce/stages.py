"""The experiments of ``driftlab reproduce``, one stage each, and the figures they make.

==================  ===================================  ==============================
stage               what it runs (under ``DIR/<stage>``)  figures
==================  ===================================  ==============================
``fig2``            the ``fig2`` preset, one run a seed   Figure 2 B-E (network of seed 0)
``fig4``            ``fig4_update`` and ``fig4_label``,   Figure 4 A-D (A simulated on
                    one run a seed                        the spot)
``generality``      the generality conditions (GD with    the generality comparison
                    and without noise, Adam, RMSprop,     (beside Figure 3A)
                    SED), the seeds as one batch each
``fig3c``           the Hebbian ring network (seeds       Figure 3C
                    as one batch)
``table1``          sweep preset ``table1``               Figure 3A, S1
``noise_scan``      sweep preset ``noise_scan``           Figure 3B
``update_vs_label`` sweep preset ``update_vs_label``      Figure S2
``hessians``        sweep preset ``hessians``             Figure 5B
``xy``              noisy GD on ``(x y)^2`` and its       the drift against theory
                    control
==================  ===================================  ==============================

Every stage but ``fig3c`` and ``xy`` is a sweep (:func:`driftlab.sweep.execute.run_sweep`):
its runs go to the worker processes or the Dask cluster, and a rerun reads
finished runs without computing them. Figures are drawn into ``DIR/figures/<figure>``.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftlab.reproduce.scales import Scale

Report = Callable[[float], None]
"""A stage's progress callback: the fraction of the stage done, in [0, 1]."""

FIGURES: dict[str, str] = {
    "fig2": "Figure 2 (B-E): the corridor network drifts and sparsifies",
    "fig3a": "Figure 3A: the fraction of active units after the run, per learning rule",
    "fig3b": "Figure 3B: final active units and sparsification rate against the noise",
    "fig3c": "Figure 3C: the Hebbian/anti-Hebbian network sparsifies",
    "fig4": "Figure 4 (A-D): noisy learning flattens the loss landscape",
    "fig5b": "Figure 5B: nonzero Hessian eigenvalues against active units",
    "s1": "Figure S1: time courses per learning rule",
    "s2": "Figure S2: update noise against label noise",
    "xy": "The (x y)^2 drift against its theory (Methods eq. 7-10)",
}
"""Every figure ``driftlab reproduce`` draws (ids for ``--only``), with its title."""

NEEDS: dict[str, tuple[str, ...]] = {
    "fig2": ("fig2",),
    "fig3a": ("table1", "generality"),
    "fig3b": ("noise_scan",),
    "fig3c": ("fig3c",),
    "fig4": ("fig4",),
    "fig5b": ("hessians",),
    "s1": ("table1",),
    "s2": ("update_vs_label",),
    "xy": ("xy",),
}
"""The stages each figure needs."""

STAGES: tuple[str, ...] = (
    "fig2",
    "fig4",
    "generality",
    "fig3c",
    "table1",
    "noise_scan",
    "update_vs_label",
    "hessians",
    "xy",
)
"""Every stage, in the order they run."""

SWEEP_STAGES: tuple[str, ...] = ("table1", "noise_scan", "update_vs_label", "hessians")

# Seconds of one worker per unit of work, measured on the 2-core machine the laptop
# scale was chosen on; only their ratios matter (the progress line's ETA is measured).
_S_PER_STEP = {
    "fig2": 1 / 2_500,  # H = 500 corridor, hidden-activity records and shuffle-tested SI
    "fig4": 1 / 10_000,  # H = 100 corridor
    "generality": 1 / 100_000,
    "fig3c": 1 / 400,  # one Hebbian step: a fixed point of the neural dynamics
    "sweep": 1 / 100_000,  # table1's shapes: about 106,000 network-steps/s a worker
}
_S_PER_RUN = 1.2  # compiling a new shape, writing the records
_S_PER_HESSIAN = 3.0  # a dense spectrum of ~3,600 parameters


@dataclass(frozen=True)
class Context:
    """Where and how a job runs: its folder, scale, and the sweeps' backend, workers,
    scheduler and pack size (:func:`driftlab.sweep.execute.run_sweep`)."""

    out: Path
    scale: Scale
    backend: str = "local"
    workers: int | None = None
    scheduler: str | None = None
    pack: int = 0

    def stage_dir(self, stage: str) -> Path:
        return self.out / stage.replace("_", "-")

    def figure_dir(self, figure: str) -> Path:
        return self.out / "figures" / figure


def stages_for(figures: Sequence[str]) -> list[str]:
    """The stages the ``figures`` need, in run order."""
    wanted = {stage for figure in figures for stage in NEEDS[figure]}
    return [stage for stage in STAGES if stage in wanted]


# ---------------------------------------------------------------- the planned runs


def _planned(branch: str, index: int, values: dict[str, Any], config: Any) -> Any:
    from driftlab.config.schema import config_digest
    from driftlab.sweep.spec import ID_DIGITS, PlannedRun

    return PlannedRun(config_digest(config)[:ID_DIGITS], branch, index, values, config)


def _steps(n: int) -> str:
    return f"train.steps={n}"


def fig2_runs(scale: Scale) -> list[Any]:
    """One run of the Figure 2 preset per seed."""
    from driftlab.config import resolve

    size = scale.fig2
    return [
        _planned(
            scale.fig2_preset,
            seed,
            {"seed": seed},
            resolve(
                preset=scale.fig2_preset,
                overrides=[_steps(size.steps), f"seed={seed}", *size.overrides],
            ),
        )
        for seed in range(size.seeds)
    ]


FIG4_PRESETS: tuple[str, ...] = ("fig4_update", "fig4_label")


def fig4_runs(scale: Scale) -> list[Any]:
    """One run of each Figure 4 preset per seed."""
    from driftlab.config import resolve

    size = scale.fig4
    return [
        _planned(
            preset,
            seed,
            {"seed": seed},
            resolve(preset=preset, overrides=[_steps(size.steps), f"seed={seed}", *size.overrides]),
        )
        for preset in FIG4_PRESETS
        for seed in range(size.seeds)
    ]


def generality_runs(scale: Scale) -> list[Any]:
    """One run per generality condition, its seeds trained as one batch."""
    from driftlab.experiments.generality import CONDITIONS, condition_config

    size = scale.generality
    return [
        _planned(
            c.name,
            0,
            {},
            condition_config(c, steps=scale.sed_steps if c.long else size.steps, seeds=size.seeds),
        )
        for c in CONDITIONS
    ]


def sweep_runs(scale: Scale, name: str) -> list[Any]:
    """The planned runs of sweep preset ``name`` at this scale."""
    from driftlab.sweep.spec import expand, load_spec

    size = scale.sweeps[name]
    return expand(load_spec(name, steps=size.steps, count=size.count, fields=dict(size.base)))


def planned_runs(scale: Scale, stage: str) -> list[Any]:
    """The runs of a sweep-backed ``stage`` (every stage but fig3c and xy)."""
    if stage == "fig2":
        return fig2_runs(scale)
    if stage == "fig4":
        return fig4_runs(scale)
    if stage == "generality":
        return generality_runs(scale)
    return sweep_runs(scale, stage)


def cost(scale: Scale, stage: str, runs: Sequence[Any] | None = None) -> float:
    """Estimated seconds of one worker for ``stage`` (for the progress display);
    ``runs``: the stage's planned runs if already at hand (else planned here)."""
    if stage == "xy":
        return 5.0 + scale.xy_trajectories * scale.xy_steps * 2e-7
    if stage == "fig3c":
        return _S_PER_RUN + scale.hebbian.steps * scale.hebbian.seeds * _S_PER_STEP["fig3c"]
    total = 0.0
    per_step = _S_PER_STEP.get(stage, _S_PER_STEP["sweep"])
    for run in planned_runs(scale, stage) if runs is None else runs:
        cfg = run.config
        total += _S_PER_RUN + cfg.train.steps * cfg.n_networks * per_step
        hessian = cfg.record.hessian
        if hessian.method == "dense":
            total += _S_PER_HESSIAN * (hessian.log_points or 0) * cfg.n_networks
    return total


def wall_estimate(ctx: Context, stage: str) -> float:
    """Estimated seconds of ``stage`` on ``ctx``'s workers: :func:`cost` over the
    workers its runs can keep busy (the progress line's weights)."""
    if stage in ("xy", "fig3c"):
        return cost(ctx.scale, stage)
    from driftlab.sweep.execute import default_workers

    runs = planned_runs(ctx.scale, stage)  # planned once (table1 at paper scale: 1,100)
    workers = ctx.workers or default_workers()
    return cost(ctx.scale, stage, runs) / max(1, min(workers, len(runs)))


# ---------------------------------------------------------------- running a stage


class StageFailedError(Exception):
    """Some of a stage's runs failed (their errors are in the sweep's attempts/)."""


def run_stage(ctx: Context, stage: str, report: Report) -> None:
    """Run (or resume, or read) ``stage``'s experiments into its folder.

    Raises :class:`driftlab.errors.RunInterruptedError` when stopped by Ctrl-C or
    SIGTERM (rerun to resume) and :class:`StageFailedError` when some runs failed."""
    if stage == "xy":
        _run_xy(ctx)
    elif stage == "fig3c":
        _run_hebbian(ctx, report)
    else:
        _run_sweep_stage(ctx, stage, report)
    report(1.0)


def _no_summary(out: Path) -> None:
    return None


def _run_sweep_stage(ctx: Context, stage: str, report: Report) -> None:
    from driftlab.errors import EXIT_INTERRUPTED, RunInterruptedError
    from driftlab.sweep.execute import run_sweep

    runs = planned_runs(ctx.scale, stage)
    outcome = run_sweep(
        stage,
        runs,
        ctx.stage_dir(stage),
        backend=ctx.backend,
        workers=ctx.workers,
        scheduler=ctx.scheduler,
        progress=False,
        pack=ctx.pack,
        summarise=None if stage in SWEEP_STAGES else _no_summary,
        on_progress=lambda done, total: report(done / max(total, 1)),
    )
    if outcome.exit_code == EXIT_INTERRUPTED:
        raise RunInterruptedError(
            f"stopped during the {stage} stage; rerun the same command to continue",
            0,
            signal.SIGINT,
        )
    if outcome.failed:
        raise StageFailedError(
            f"{outcome.failed} of {outcome.runs} runs of the {stage} stage failed (their "
            f"errors: {ctx.stage_dir(stage)}/attempts/); rerun the same command to retry them"
        )


def hebbian_config(scale: Scale) -> Any:
    from driftlab.hebbian.config import resolve_hebbian

    size = scale.hebbian
    seeds = "[" + ",".join(str(s) for s in range(size.seeds)) + "]"
    return resolve_hebbian(
        preset="hebbian_ring", overrides=[_steps(size.steps), f"seed={seeds}", *size.overrides]
    )


def _run_hebbian(ctx: Context, report: Report) -> None:
    from driftlab.hebbian.run import execute_hebbian

    def on_chunk(step: int, total: int, speed: float) -> None:
        report(step / max(total, 1))

    execute_hebbian(
        hebbian_config(ctx.scale), ctx.stage_dir("fig3c"), progress=False, on_chunk=on_chunk
    )


def _run_xy(ctx: Context) -> None:
    from driftlab.experiments.landscapes import XY_DRIFT_STEM, simulate_xy_drift
    from driftlab.storage import write_npz

    path = ctx.stage_dir("xy") / f"{XY_DRIFT_STEM}.npz"
    if path.is_file():
        return
    arrays = simulate_xy_drift(n_trajectories=ctx.scale.xy_trajectories, steps=ctx.scale.xy_steps)
    write_npz(path, arrays)


# ---------------------------------------------------------------- drawing


def _first_drawable(runs: list[tuple[Any, Path]], draw: Callable[[Path], list[Path]]) -> list[Path]:
    """Draw from the first run that can be drawn (one whose network diverged cannot)."""
    for _, path in runs:
        try:
            return draw(path)
        except (FileNotFoundError, ValueError):
            continue
    return []


def _runs_of(ctx: Context, stage: str, branch: str) -> list[tuple[Any, Path]]:
    from driftlab.sweep import store

    out = ctx.stage_dir(stage)
    return [
        (entry, store.run_dir(out, entry.id))
        for entry in store.read_plan(out).runs
        if entry.branch == branch
    ]


def draw_stage(ctx: Context, stage: str) -> dict[str, list[Path]]:
    """Draw the figures of a finished ``stage``: {figure id: paths (PNG and PDF)}."""
    from driftlab.sweep.figures import draw as draw_sweep

    out = ctx.stage_dir(stage)
    if stage == "fig2":
        from driftlab.experiments import fig2

        place, loss = fig2.conventions(ctx.scale.fig2_preset)

        def draw2(path: Path) -> list[Path]:
            return fig2.draw(path, ctx.figure_dir("fig2"), place=place, loss=loss)

        return {"fig2": _first_drawable(_runs_of(ctx, stage, ctx.scale.fig2_preset), draw2)}
    if stage == "fig4":
        from driftlab.experiments import fig4

        labels = dict((e.index, p) for e, p in _runs_of(ctx, stage, "fig4_label"))

        def draw4(path: Path) -> list[Path]:
            label = labels.get(0)
            return fig4.draw(path, ctx.figure_dir("fig4"), label_run=label)

        return {"fig4": _first_drawable(_runs_of(ctx, stage, "fig4_update"), draw4)}
    if stage == "generality":
        from driftlab.experiments.generality import CONDITIONS
        from driftlab.plots.generality import write_generality
        from driftlab.sweep import store

        ids = {entry.branch: entry.id for entry in store.read_plan(out).runs}
        size = ctx.scale.generality
        return {
            "fig3a": write_generality(
                out,
                [(f"{store.RUNS}/{ids[c.name]}", c.label) for c in CONDITIONS if c.name in ids],
                title=(
                    "Generality: random task (d_in 20, d_out 5, 5 samples), H = 100; "
                    f"{size.steps:,} steps (SED {ctx.scale.sed_steps:,})"
                ),
            )
        }
    if stage == "fig3c":
        from driftlab.experiments import fig3c

        return {"fig3c": fig3c.draw(out, ctx.figure_dir("fig3c"))}
    if stage == "table1":
        return {
            "fig3a": draw_sweep("fig3", out, ctx.figure_dir("fig3a")),
            "s1": draw_sweep("s1", out, ctx.figure_dir("s1")),
        }
    if stage == "noise_scan":
        return {"fig3b": draw_sweep("fig3", out, ctx.figure_dir("fig3b"))}
    if stage == "update_vs_label":
        return {"s2": draw_sweep("s2", out, ctx.figure_dir("s2"))}
    if stage == "hessians":
        return {"fig5b": draw_sweep("fig5b", out, ctx.figure_dir("fig5b"))}
    from driftlab.experiments.landscapes import XY_DRIFT_STEM
    from driftlab.plots.landscapes import write_xy_drift

    return {"xy": write_xy_drift(out, stem=XY_DRIFT_STEM)}


def caption(scale: Scale, figure: str) -> str:
    """What was run to draw ``figure`` at ``scale``, in one sentence."""
    sw = scale.sweeps

    def sweep(name: str) -> str:
        size = sw[name]
        count = "the spec's count of" if size.count is None else f"{size.count:,}"
        return f"sweep preset {name}: {count} runs of {size.steps:,} steps"

    f2, f4, gen, heb = scale.fig2, scale.fig4, scale.generality, scale.hebbian
    texts = {
        "fig2": f"Preset {scale.fig2_preset}, {f2.steps:,} steps, {f2.seeds} networks (seeds "
        "0, 1, ...: one run each); the figure shows seed 0.",
        "fig3a": f"Histograms from the {sweep('table1')}; the generality comparison: "
        f"{gen.seeds} networks per rule, {gen.steps:,} steps (SED {scale.sed_steps:,}).",
        "fig3b": f"From the {sweep('noise_scan')}.",
        "fig3c": f"Preset hebbian_ring, {heb.steps:,} plasticity steps, {heb.seeds} networks; "
        "the figure shows network 0.",
        "fig4": f"Presets fig4_update and fig4_label, {f4.steps:,} steps, {f4.seeds} "
        "networks each; the figure shows seed 0; panel A simulated on the spot.",
        "fig5b": f"From the {sweep('hessians')} (dense Hessians at 12 log-spaced points).",
        "s1": f"From the {sweep('table1')}.",
        "s2": f"From the {sweep('update_vs_label')}.",
        "xy": f"{scale.xy_trajectories:,} trajectories of {scale.xy_steps:,} steps on (x y)^2 "
        "and on its control, with the same noise.",
    }
    return texts[figure]
