"""Figure 3's claims: A (every rule and noise), B (the noise scan), C (Hebbian)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from driftlab.reproduce import verdicts as v
from driftlab.reproduce.claims.common import (
    LATE,
    SPARSIFIED,
    UNCHANGED,
    after,
    convergence_index,
    late,
    no_results,
    plan_runs,
    result,
    sweep_summary,
    timeseries,
)
from driftlab.reproduce.results import FAILS, HOLDS, ClaimResult

# ---------------------------------------------------------------- Figure 3A


def fig3a_claims(table1_dir: Path, generality_dir: Path) -> list[ClaimResult]:
    """Figure 3A: update noise, label noise, Adam and RMSprop, SED, noise-free GD."""
    summary = sweep_summary(table1_dir)
    fig = "fig3a"

    def ratios(branch: str) -> np.ndarray:
        if summary is None:
            return np.zeros(0)
        rows = summary[(summary["branch"] == branch) & (summary["status"] == "complete")]
        return np.asarray(rows["active_units_ratio"], dtype=np.float64)

    update, label, sed = ratios("gd_update"), ratios("gd_label"), ratios("sed")
    out = [
        result(
            "fig3a.update",
            fig,
            "Update noise leaves a small fraction of units active after the run.",
            "qualitative (Fig. 3A; 10^7 steps)",
            "Table 1 sweep, GD + update noise, active-units ratio (end / start): upper 95% "
            "bound of the median < 0.5",
            v.median_bound(update, below=0.5),
        ),
        result(
            "fig3a.label",
            fig,
            "Label noise leaves most units active.",
            "qualitative (Fig. 3A)",
            "Table 1 sweep, GD + label noise, active-units ratio: lower 95% bound of the "
            "median > 0.5",
            v.median_bound(label, above=0.5),
        ),
    ]
    adam = _generality_ratios(generality_dir, "adam")
    rms = _generality_ratios(generality_dir, "rmsprop")
    d_adam = v.mean_bound(adam, below=SPARSIFIED)
    d_rms = v.mean_bound(rms, below=SPARSIFIED)
    worst = d_adam if d_adam.verdict != HOLDS else d_rms
    out.append(
        ClaimResult(
            "fig3a.adaptive",
            fig,
            "Adam and RMSprop sparsify without added noise.",
            "qualitative (text)",
            f"Adam {d_adam.measured}; RMSprop {d_rms.measured}",
            "generality runs (no added noise), active-units ratio per network: upper 95% t "
            f"bound < {SPARSIFIED} for Adam and for RMSprop",
            worst.verdict,
            f"Adam: {d_adam.why}; RMSprop: {d_rms.why}",
        )
    )
    out.append(
        result(
            "fig3a.sed",
            fig,
            "Stochastic error descent (SED) sparsifies less than GD with update noise.",
            "qualitative (Fig. 3A)",
            "Table 1 sweep, active-units ratio: SED above GD + update noise (one-sided "
            "Mann-Whitney U, p < 0.05)",
            v.rank_less(
                update,
                sed,
                f"SED {v.quartiles(sed)}; update noise {v.quartiles(update)}",
                ("GD + update noise", "SED"),
            ),
        )
    )
    out.append(_control_claim(generality_dir, summary))
    return out


def _generality_ratios(generality_dir: Path, condition: str) -> np.ndarray:
    """Each network's active units at the end over at the start, in one condition."""
    values: list[float] = []
    for _, _, path in plan_runs(generality_dir, condition):
        ts = timeseries(path)
        steps = ts["step"].values.astype(np.float64)
        active = ts["active_units"].values.astype(np.float64)  # (time, network)
        for k in range(active.shape[1]):
            first = active[0, k]
            values.append(late(steps, active[:, k]) / first if first > 0 else np.nan)
    return np.asarray(values)


def _control_claim(generality_dir: Path, summary: Any) -> ClaimResult:
    """Noise-free GD: active units move by at most UNCHANGED after convergence."""
    moves: list[float] = []
    for _, _, path in plan_runs(generality_dir, "gd_clean"):
        ts = timeseries(path)
        steps = ts["step"].values.astype(np.float64)
        for k in range(ts.sizes["network"]):
            loss = ts["log_loss"].values[:, k].astype(np.float64)
            active = ts["active_units"].values[:, k].astype(np.float64)
            i = convergence_index(loss)
            moves.append(abs(late(steps, active) - after(steps, active, max(steps[i], 1.0))))
    measured = f"largest change {v.fmt(max(moves, default=float('nan')))}; {v.spread(moves)}"
    if summary is not None:
        rows = summary[(summary["branch"] == "gd_control") & (summary["status"] == "complete")]
        if len(rows):
            measured += (
                f"; Table 1 sweep's noise-free GD runs: active-units ratio (end over the "
                f"first record, convergence included) {v.quartiles(rows['active_units_ratio'])}"
            )
    decision = v.every(np.asarray(moves) <= UNCHANGED, measured, "networks", minimum=3)
    return result(
        "fig3a.control",
        "fig3a",
        "Noise-free GD does not change after convergence.",
        "qualitative (text)",
        "generality runs, GD without noise: every network's fraction of active units moves "
        f"by at most {UNCHANGED} from the decade after convergence to the last {LATE:.0%}",
        decision,
    )


# ---------------------------------------------------------------- Figure 3B


def fig3b_claims(noise_dir: Path) -> list[ClaimResult]:
    """Figure 3B: final active units fall, the sparsification rate rises, with the noise."""
    from driftlab.sweep.groups import fit_slope

    summary = sweep_summary(noise_dir)
    fig = "fig3b"
    claims = (
        "The final fraction of active units falls as the noise variance grows.",
        "The sparsification rate rises with the noise variance (slope of log rate on log "
        "variance > 0).",
    )
    tests = (
        "noise-scan sweep: Spearman rho of the final fraction of active units against the "
        "noise variance, one-sided p < 0.05",
        "noise-scan sweep, runs whose exponential fit resolved a decay: least-squares slope of "
        "log10 rate on log10 variance, 95% CI above 0",
    )
    if summary is None:
        return [
            no_results(f"fig3b.{k}", fig, c, "qualitative (Fig. 3B)", t, "noise-scan sweep")
            for k, c, t in zip(("final", "rate"), claims, tests, strict=True)
        ]
    done = summary[summary["status"] == "complete"]
    final = v.correlation(done["noise_variance"], done["final_active_units"], sign=-1, what="runs")
    fitted = done[done["fit_ok"].astype(bool)]
    fit = fit_slope(np.log10(fitted["noise_variance"]), fitted["log10_rate"])
    measured = (
        f"slope {v.fmt(fit.slope)} (95% CI {v.fmt(fit.ci_low)} to {v.fmt(fit.ci_high)}), "
        f"{fit.n} of {len(done)} runs resolved a decay"
    )
    if fit.ok and fit.n >= v.MIN_RUNS:
        ok = fit.ci_low > 0
        rate = v.Decision(
            HOLDS if ok else FAILS,
            measured,
            f"lower end of the 95% CI {v.fmt(fit.ci_low)} {'>' if ok else '<='} 0",
        )
    else:
        rate = v.untestable(measured, f"needs {v.MIN_RUNS} runs with a resolved decay, has {fit.n}")
    return [
        result("fig3b.final", fig, claims[0], "qualitative (Fig. 3B top)", tests[0], final),
        result(
            "fig3b.rate",
            fig,
            claims[1],
            "qualitative (Fig. 3B bottom: timescales vary by orders of magnitude)",
            tests[1],
            rate,
        ),
    ]


# ---------------------------------------------------------------- Figure 3C


def fig3c_claims(hebbian_dir: Path) -> list[ClaimResult]:
    """Figure 3C: the Hebbian network converges, then its active fraction falls."""
    from driftlab.plots.fig3c import phase_ends

    claim = "The Hebbian/anti-Hebbian network converges, then its fraction of active units falls."
    test = (
        "per network: the loss ends below its start, and the fraction of active neurons "
        f"falls from the end of convergence to the last {LATE:.0%}: upper 95% t bound of the "
        "mean change < 0"
    )
    paper = "qualitative (Fig. 3C)"
    if not (hebbian_dir / "timeseries.nc").is_file():
        return [no_results("fig3c.sparsify", "fig3c", claim, paper, test, "Hebbian run")]
    ts = timeseries(hebbian_dir)
    steps = ts["step"].values.astype(np.float64)
    changes, converged = [], []
    for k in range(ts.sizes["network"]):
        loss = ts["loss"].values[:, k].astype(np.float64)
        active = ts["fraction_active"].values[:, k].astype(np.float64)
        t_conv, _ = phase_ends(steps, loss, active)
        at = active[np.searchsorted(steps, t_conv)]
        changes.append(late(steps, active) - float(at))
        converged.append(late(steps, loss) < loss[0])
    decision = v.mean_bound(changes, below=0.0)
    if not all(converged):
        decision = v.Decision(FAILS, decision.measured, "a network's loss did not fall")
    return [result("fig3c.sparsify", "fig3c", claim, paper, test, decision)]
