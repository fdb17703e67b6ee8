"""Figure 4's claims (Hessian spectra of the corridor runs) and Figure 5B's (over a sweep)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from driftlab.reproduce import verdicts as v
from driftlab.reproduce.claims.common import (
    no_results,
    plan_runs,
    result,
    sweep_summary,
)
from driftlab.reproduce.results import FAILS, HOLDS, ClaimResult

# ---------------------------------------------------------------- Figure 4


def fig4_claims(fig4_dir: Path) -> list[ClaimResult]:
    """Figure 4: nonzero eigenvalues with active units; small eigenvalues shrink; trace."""
    from driftlab.plots.fig4 import fig4_data

    fig = "fig4"
    claims = (
        "Under update noise the number of nonzero Hessian eigenvalues falls with the active "
        "units, and the silent units account for the zeros.",
        "Small eigenvalues shrink faster than large ones.",
        "Under label noise the trace of the Hessian falls.",
    )
    tests = (
        "update-noise runs, first to last Hessian record: change of the nonzero fraction "
        "(|lambda| > 1e-7 max) and of active units, upper 95% t bounds < 0; and at every "
        "record the nonzero count is at most P - zeros forced by silent units",
        "update-noise runs, between panel C's two times, the positive nonzero eigenvalues "
        "ranked from the largest: mean change of log10 lambda over the smallest tenth of the "
        "ranks both times share, minus that over the largest tenth, "
        "upper 95% t bound < 0",
        "label-noise runs: change of log10 trace from the record nearest a tenth of the run to "
        "the last, upper 95% t bound < 0",
    )
    paper = ("qualitative (Fig. 4B)", "qualitative (Fig. 4C)", "qualitative (Fig. 4D)")
    update = plan_runs(fig4_dir, "fig4_update")
    label = {index: path for _, index, path in plan_runs(fig4_dir, "fig4_label")}
    d_nonzero, d_active, bound_ok, d_spread = [], [], [], []
    for _, _, path in update:
        try:
            d = fig4_data(path, None)
        except (FileNotFoundError, ValueError):
            continue
        frac = d.n_nonzero / d.n_params
        d_nonzero.append(float(frac[-1] - frac[0]))
        d_active.append(float(d.active_units[-1] - d.active_units[0]))
        bound_ok.append(bool(np.all(d.n_nonzero <= d.silent_bound)))
        d_spread.append(rank_shift(*d.log_eigs))
    traces = []
    for _, path in sorted(label.items()):
        try:
            d = fig4_data(path, None)
        except (FileNotFoundError, ValueError):
            continue
        steps, trace = d.trace_steps.astype(np.float64), d.trace
        i = int(np.argmin(np.abs(steps - steps[-1] / 10)))
        traces.append(float(np.log10(trace[-1]) - np.log10(trace[i])))
    if not d_nonzero:
        head = [
            no_results("fig4.nonzero", fig, claims[0], paper[0], tests[0], "update-noise run"),
            no_results("fig4.small", fig, claims[1], paper[1], tests[1], "update-noise run"),
        ]
    else:
        nz, act = v.mean_bound(d_nonzero, below=0.0), v.mean_bound(d_active, below=0.0)
        verdict = nz.verdict if nz.verdict != HOLDS else act.verdict
        if verdict == HOLDS and not all(bound_ok):
            verdict = FAILS
        nonzero = v.Decision(
            verdict,
            f"nonzero fraction change {nz.measured}; active units change {act.measured}; "
            f"silent-unit bound kept in {sum(bound_ok)} of {len(bound_ok)} networks",
            f"nonzero: {nz.why}; active: {act.why}",
        )
        head = [
            result("fig4.nonzero", fig, claims[0], paper[0], tests[0], nonzero),
            result(
                "fig4.small", fig, claims[1], paper[1], tests[1], v.mean_bound(d_spread, below=0.0)
            ),
        ]
    if traces:
        trace_claim = result(
            "fig4.trace", fig, claims[2], paper[2], tests[2], v.mean_bound(traces, below=0.0)
        )
    else:
        trace_claim = no_results(
            "fig4.trace", fig, claims[2], paper[2], tests[2], "label-noise run"
        )
    return [*head, trace_claim]


def rank_shift(early: np.ndarray, late: np.ndarray) -> float:
    """How much more the small eigenvalues fell than the large ones (log10 units).

    Both spectra (log10 of the positive nonzero eigenvalues) sorted from the largest;
    over the ``m`` ranks both have, the change at each rank; the mean change over the
    last tenth of those ranks (the smallest eigenvalues) minus that over the first
    tenth (the largest). Negative: the small end was pushed down more (Fig. 4C)."""
    a, b = np.sort(early)[::-1], np.sort(late)[::-1]
    m = min(a.size, b.size)
    if m < 10:
        return float("nan")
    change = b[:m] - a[:m]
    tenth = max(1, m // 10)
    return float(change[-tenth:].mean() - change[:tenth].mean())


# ---------------------------------------------------------------- Figure 5B, S2


def fig5b_claims(hessians_dir: Path) -> list[ClaimResult]:
    """Figure 5B: across networks, the nonzero fraction follows the active units."""
    claim = (
        "Across networks and tasks, the fraction of nonzero Hessian eigenvalues grows with "
        "the fraction of active units."
    )
    test = (
        "Hessian sweep, last Hessian records: Pearson correlation of the nonzero fraction "
        "with the fraction of active units, one-sided p < 0.05"
    )
    summary = sweep_summary(hessians_dir)
    if summary is None or "hessian_nonzero_fraction" not in summary:
        return [
            no_results(
                "fig5b.nonzero", "fig5b", claim, "qualitative (Fig. 5B)", test, "Hessian sweep"
            )
        ]
    done = summary[summary["status"] == "complete"]
    decision = v.correlation(
        done["hessian_active_units"], done["hessian_nonzero_fraction"], sign=1, method="pearson"
    )
    return [result("fig5b.nonzero", "fig5b", claim, "qualitative (Fig. 5B)", test, decision)]
