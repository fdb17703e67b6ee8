"""Figure 2's claims: fast convergence, sparsification at flat loss, SI, rate-map drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from driftlab.reproduce import verdicts as v
from driftlab.reproduce.claims.common import (
    FAST_FRACTION,
    FLAT_DECADES,
    LATE,
    after,
    convergence_index,
    late,
    no_results,
    plan_runs,
    result,
    timeseries,
)
from driftlab.reproduce.results import HOLDS, ClaimResult

# ---------------------------------------------------------------- Figure 2


def fig2_claims(stage_dir: Path) -> list[ClaimResult]:
    """Figure 2: fast convergence, sparsification at flat loss, SI, rate-map drift."""
    runs = plan_runs(stage_dir)
    per: dict[str, list[float]] = {
        k: [] for k in ("conv", "dloss", "dactive", "dsi", "dsi_corr", "rho", "active0", "active1")
    }
    for _, _, path in runs:
        ts = timeseries(path)
        if int(ts["diverged_step"].values[0]) >= 0:
            continue
        steps = ts["step"].values.astype(np.float64)
        loss = ts["log_loss_rel"].values[:, 0].astype(np.float64)
        active = ts["active_units"].values[:, 0].astype(np.float64)
        i = convergence_index(loss)
        t_c = max(float(steps[i]), 1.0)
        per["conv"].append(t_c / steps[-1])
        per["dloss"].append(late(steps, loss) - after(steps, loss, t_c))
        per["active0"].append(float(active[i]))
        per["active1"].append(late(steps, active))
        per["dactive"].append(per["active1"][-1] - float(active[i]))
        si = ts["mean_si"].values[:, 0].astype(np.float64)
        per["dsi"].append(late(steps, si) - after(steps, si, t_c))
        if "mean_si_corrected" in ts:
            sic = ts["mean_si_corrected"].values[:, 0].astype(np.float64)
            per["dsi_corr"].append(late(steps, sic) - after(steps, sic, t_c))
        per["rho"].append(_ratemap_drift(path, t_c))
    fig = "fig2"
    if not per["conv"]:
        what = "Figure 2 run without divergence"
        return [
            no_results(f"fig2.{k}", fig, c, p, t, what)
            for k, c, p, t in (
                ("converge", CLAIM_2[0], PAPER_2[0], TEST_2[0]),
                ("sparsify", CLAIM_2[1], PAPER_2[1], TEST_2[1]),
                ("si", CLAIM_2[2], PAPER_2[2], TEST_2[2]),
                ("drift", CLAIM_2[3], PAPER_2[3], TEST_2[3]),
            )
        ]
    conv, dloss = np.asarray(per["conv"]), np.asarray(per["dloss"])
    fast = v.every(
        (conv <= FAST_FRACTION) & (np.abs(dloss) < FLAT_DECADES),
        f"converged at {v.fmt(100 * float(conv.max()), 2)}% of the run at the latest; "
        f"log10 loss then moved {v.spread(dloss)}",
        "networks",
        minimum=v.MIN_NETWORKS,
    )
    sparse = v.mean_bound(per["dactive"], below=0.0)
    flat = v.mean_bound(dloss, below=FLAT_DECADES)
    sparse_ok = v.Decision(
        sparse.verdict if sparse.verdict != HOLDS else flat.verdict,
        f"active units {v.spread(per['active0'])} at convergence -> {v.spread(per['active1'])} "
        f"at the end; change {sparse.measured}; log10 loss change {flat.measured}",
        f"active units: {sparse.why}; loss: {flat.why}",
    )
    si = v.mean_bound(per["dsi"], above=0.0)
    if per["dsi_corr"]:
        si = v.Decision(
            si.verdict,
            f"{si.measured}; shuffle-corrected SI of shuffle-tested place units: "
            f"{v.spread(per['dsi_corr'])}",
            si.why,
        )
    drift = v.mean_bound(per["rho"], below=0.0)
    return [
        result("fig2.converge", fig, CLAIM_2[0], PAPER_2[0], TEST_2[0], fast),
        result("fig2.sparsify", fig, CLAIM_2[1], PAPER_2[1], TEST_2[1], sparse_ok),
        result("fig2.si", fig, CLAIM_2[2], PAPER_2[2], TEST_2[2], si),
        result("fig2.drift", fig, CLAIM_2[3], PAPER_2[3], TEST_2[3], drift),
    ]


CLAIM_2 = (
    "The loss falls fast, then stays roughly constant.",
    "After convergence the fraction of active units falls while the loss does not rise.",
    "The mean spatial information (SI) of place units rises.",
    "Rate maps drift: their correlation falls with the time between records.",
)
PAPER_2 = (
    "qualitative (Fig. 2B)",
    "qualitative (Fig. 2C)",
    "qualitative (Fig. 2C)",
    "qualitative (Fig. 2E)",
)
TEST_2 = (
    f"every network: 90% of the log-loss fall within the first {FAST_FRACTION:.0%} of the "
    f"steps, and the log10 loss moves < {FLAT_DECADES} decades from the decade after "
    f"convergence to the last {LATE:.0%} of the run",
    f"change of active units from convergence to the last {LATE:.0%}: upper 95% t bound "
    f"< 0; and log10 loss change: upper 95% t bound < {FLAT_DECADES} (at least 3 networks)",
    "change of the mean raw SI of place units (SI > 0.01 bits, the paper's measure) from "
    f"the decade after convergence to the last {LATE:.0%}: lower 95% t bound > 0",
    "Spearman rho of rate-map correlation against the steps between two post-convergence "
    "snapshots (active units), per network: upper 95% t bound of the mean rho < 0",
)


def _ratemap_drift(path: Path, t_c: float) -> float:
    """Spearman rho of the rate-map correlation of two snapshots after convergence
    against the steps between them (units active at both; the paper's Fig. 2E)."""
    from scipy import stats

    from driftlab.plots.fig2 import fig2_data

    try:
        d = fig2_data(path, place="raw")
    except (FileNotFoundError, ValueError):
        return float("nan")
    keep = np.flatnonzero(d.corr_steps >= t_c)
    if keep.size < 4:
        return float("nan")
    corr = d.corr[np.ix_(keep, keep)]
    steps = d.corr_steps[keep].astype(np.float64)
    i, j = np.triu_indices(keep.size, k=1)
    lag, c = np.abs(steps[j] - steps[i]), corr[i, j]
    ok = np.isfinite(c)
    if ok.sum() < 4:
        return float("nan")
    return float(stats.spearmanr(lag[ok], c[ok]).statistic)
