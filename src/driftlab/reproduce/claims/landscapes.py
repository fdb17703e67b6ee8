"""The (x y)^2 drift against its theory, and its control."""

from __future__ import annotations

from pathlib import Path

from driftlab.reproduce import verdicts as v
from driftlab.reproduce.claims.common import (
    no_results,
    result,
)
from driftlab.reproduce.results import FAILS, HOLDS, ClaimResult

# ---------------------------------------------------------------- (x y)^2


def xy_claims(xy_dir: Path) -> list[ClaimResult]:
    """The (x y)^2 drift against its theory; the control does not drift."""
    from driftlab.experiments.landscapes import XY_DRIFT_STEM
    from driftlab.storage import read_npz

    claims = (
        "Noisy GD on (x y)^2 drifts along the zero-loss floor toward flatter regions as the "
        "theory dx/dt = -s^2 / (2 x (1 - lr x^2)) predicts.",
        "On the control, whose curvature does not depend on x, x does not drift.",
    )
    tests = (
        "final mean x of the trajectories within 2 standard errors of the theory, and its "
        "drift more than 2 standard errors from x0",
        "final mean x of the control within 2 standard errors of x0",
    )
    paper = ("Methods eq. 8", "Methods (the control)")
    path = xy_dir / f"{XY_DRIFT_STEM}.npz"
    if not path.is_file():
        return [
            no_results(f"xy.{k}", "xy", c, p, t, "simulation")
            for k, c, p, t in zip(("theory", "control"), claims, paper, tests, strict=True)
        ]
    a = read_npz(path)
    x0 = float(a["x0"])
    sim, se, theory = (float(a[f"xy_x_{k}"][-1]) for k in ("mean", "se", "theory"))
    z_theory, z_move = (sim - theory) / se, (sim - x0) / se
    ok = abs(z_theory) <= 2 and abs(z_move) > 2
    drift = v.Decision(
        HOLDS if ok else FAILS,
        f"mean x {v.fmt(sim, 4)} +- {v.fmt(se, 2)} (standard error, "
        f"{int(a['n_trajectories']):,} trajectories) against theory {v.fmt(theory, 4)}; "
        f"moved {v.fmt(x0 - sim, 3)} from x0 = {v.fmt(x0)}",
        f"{v.fmt(abs(z_theory), 2)} standard errors from the theory (<= 2: "
        f"{abs(z_theory) <= 2}); {v.fmt(abs(z_move), 3)} from x0 (> 2: {abs(z_move) > 2})",
    )
    c_sim, c_se = float(a["control_x_mean"][-1]), float(a["control_x_se"][-1])
    z_c = (c_sim - x0) / c_se
    control = v.Decision(
        HOLDS if abs(z_c) <= 2 else FAILS,
        f"mean x {v.fmt(c_sim, 4)} +- {v.fmt(c_se, 2)} (standard error) against x0 = {v.fmt(x0)}",
        f"{v.fmt(abs(z_c), 2)} standard errors from x0 (<= 2: {abs(z_c) <= 2})",
    )
    return [
        result("xy.theory", "xy", claims[0], paper[0], tests[0], drift),
        result("xy.control", "xy", claims[1], paper[1], tests[1], control),
    ]
