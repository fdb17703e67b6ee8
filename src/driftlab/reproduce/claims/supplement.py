"""The supplementary figures' claims: S1 (two phases) and S2 (update against label noise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from driftlab.reproduce import verdicts as v
from driftlab.reproduce.claims.common import (
    no_results,
    result,
    sweep_summary,
)
from driftlab.reproduce.results import FAILS, HOLDS, ClaimResult


def s2_claims(uvl_dir: Path) -> list[ClaimResult]:
    """Figure S2: on the same shapes, update noise leaves fewer units active than label noise."""
    from scipy import stats

    claim = "On the same tasks and shapes, update noise leaves fewer units active than label noise."
    test = (
        "update-vs-label sweep, runs paired by task, shape and regime: Wilcoxon signed-rank "
        "test of the active-units ratio (update minus label) < 0, one-sided p < 0.05"
    )
    summary = sweep_summary(uvl_dir)
    paper = "qualitative (Fig. S2)"
    if summary is None:
        return [no_results("s2.update_vs_label", "s2", claim, paper, test, "update-vs-label sweep")]
    done = summary[summary["status"] == "complete"]
    keys = [
        c
        for c in (
            "task.name",
            "task.abstract.d_in",
            "task.abstract.d_out",
            "task.abstract.n_samples",
            "model.init",
        )
        if c in done
    ]
    pairs = done.pivot_table(index=keys, columns="branch", values="active_units_ratio")
    if not {"update", "label"} <= set(pairs.columns):
        diff = np.zeros(0)
    else:
        diff = (pairs["update"] - pairs["label"]).to_numpy(np.float64)
    diff = diff[np.isfinite(diff)]
    measured = f"update minus label: {v.quartiles(diff, 'pairs')}"
    if diff.size < v.MIN_RUNS:
        decision = v.untestable(measured, f"needs {v.MIN_RUNS} pairs, has {diff.size}")
    else:
        p = float(stats.wilcoxon(diff, alternative="less").pvalue)
        ok = p < v.ALPHA
        decision = v.Decision(
            HOLDS if ok else FAILS, measured, f"p = {v.fmt(p, 2)} {'<' if ok else '>='} 0.05"
        )
    return [result("s2.update_vs_label", "s2", claim, paper, test, decision)]


def s1_claims(table1_dir: Path) -> list[ClaimResult]:
    """Figure S1: the loss converges before the units sparsify (two phases)."""
    claim = (
        "Learning has two phases: the loss converges first, the active units fall later and slower."
    )
    test = (
        "Table 1 sweep, median time courses of the rules that sparsify (GD + update noise, "
        "Adam; those with at least 3 runs): the step by which 80% of the median log-loss fall "
        "is done comes before the step by which 50% of the median active-units fall is done"
    )
    paper = "qualitative (Fig. S1; text: 'an initial, fast, phase of convergence')"
    path = table1_dir / "timecourses.nc"
    summary = sweep_summary(table1_dir)
    if summary is None or not path.is_file():
        return [no_results("s1.phases", "s1", claim, paper, test, "Table 1 sweep")]
    from driftlab.storage import open_netcdf

    with open_netcdf(path) as courses:
        courses.load()
    ok, parts = [], []
    for branch, name in (("gd_update", "GD + update noise"), ("adam", "Adam")):
        rows = np.flatnonzero(
            ((summary["branch"] == branch) & (summary["status"] == "complete")).to_numpy()
        )
        if rows.size < 3:
            continue
        steps = courses["step"].values[rows[0]]
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = np.nanmedian(np.log10(courses["loss"].values[rows]), axis=0)
        units = np.nanmedian(courses["active_units"].values[rows], axis=0)
        t_loss, t_units = fall_step(steps, loss, 0.8), fall_step(steps, units, 0.5)
        ok.append(bool(np.isfinite(t_units) and t_loss < t_units))
        parts.append(
            f"{name} ({rows.size} runs): loss 80% by step {t_loss:,.0f}, active units "
            f"50% by step {t_units:,.0f}"
        )
    decision = v.every(ok, "; ".join(parts) or "-", "rules with 3 runs")
    return [result("s1.phases", "s1", claim, paper, test, decision)]


def fall_step(steps: np.ndarray, values: np.ndarray, fraction: float) -> float:
    """The first step by which ``fraction`` of the fall from the first value to the
    last is done (inf when the values do not fall)."""
    start, end = float(values[0]), float(values[-1])
    if not end < start:
        return float("inf")
    done = np.flatnonzero(values <= start - fraction * (start - end))
    return float(steps[done[0]]) if done.size else float("inf")
