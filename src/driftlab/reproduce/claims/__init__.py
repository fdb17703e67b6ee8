"""The paper's claims, measured on the results of ``driftlab reproduce`` and given a verdict.

Each ``claim_*`` function reads stored results only (run and sweep directories
under the job's folder) and returns :class:`~driftlab.reproduce.results.ClaimResult`
objects, their tests from :mod:`driftlab.reproduce.verdicts`. The thresholds are
fixed here, before any result is seen, from what the paper's words mean:

* "converges fast": 90% of the log-loss fall is done within the first 1% of the
  run's steps (the paper's runs converge in well under 10^4 of 10^6-10^7 steps);
* "the loss stays flat / does not rise": the log10 loss moves by less than
  :data:`FLAT_DECADES` (a factor of 2 in the loss) between the decade of steps
  after convergence and the last 10% of the run;
* "falls", "rises": the one-sided 95% bound of the mean change over networks
  lies beyond 0 (a median over a sweep's runs: its distribution-free bound);
* "a small fraction" of units: a median ratio under 1/2; "most": over 1/2;
* "sparsifies": the active-units ratio's bound lies under :data:`SPARSIFIED`
  (noise-free GD stays at 0.98-1.00);
* "does not change": every network's active units move by at most
  :data:`UNCHANGED` after convergence;
* "matches the theory": the simulated mean lies within 2 standard errors of it.

Where the paper states a number, ``paper`` quotes it; most of its claims are
qualitative (read off figures), and say so.

Modules: ``common`` (reading results, the thresholds), ``fig2``, ``fig3`` (A, B,
C), ``fig4`` (and 5B), ``supplement`` (S1, S2), ``landscapes`` (the (x y)^2 drift).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from driftlab.reproduce.claims.common import convergence_index
from driftlab.reproduce.claims.fig2 import fig2_claims
from driftlab.reproduce.claims.fig3 import fig3a_claims, fig3b_claims, fig3c_claims
from driftlab.reproduce.claims.fig4 import fig4_claims, fig5b_claims, rank_shift
from driftlab.reproduce.claims.landscapes import xy_claims
from driftlab.reproduce.claims.supplement import fall_step, s1_claims, s2_claims
from driftlab.reproduce.results import NOT_RUN, ClaimResult

__all__ = ["convergence_index", "evaluate", "fall_step", "rank_shift"]


def evaluate(
    out: Path, figures: Sequence[str], stage_dir: Callable[[str], Path]
) -> list[ClaimResult]:
    """Every claim measured on the job in ``out`` (``stage_dir(stage)``: a stage's
    folder); the claims of figures not in ``figures`` get the verdict ``not run``."""
    measures: dict[str, Callable[[], list[ClaimResult]]] = {
        "fig2": lambda: fig2_claims(stage_dir("fig2")),
        "fig3a": lambda: fig3a_claims(stage_dir("table1"), stage_dir("generality")),
        "fig3b": lambda: fig3b_claims(stage_dir("noise_scan")),
        "fig3c": lambda: fig3c_claims(stage_dir("fig3c")),
        "fig4": lambda: fig4_claims(stage_dir("fig4")),
        "fig5b": lambda: fig5b_claims(stage_dir("hessians")),
        "s1": lambda: s1_claims(stage_dir("table1")),
        "s2": lambda: s2_claims(stage_dir("update_vs_label")),
        "xy": lambda: xy_claims(stage_dir("xy")),
    }
    found: list[ClaimResult] = []
    for figure, measure in measures.items():
        if figure in figures:
            found.extend(measure())
        else:
            found.extend(
                ClaimResult(c.id, c.figure, c.claim, c.paper, "-", c.test, NOT_RUN, "--only")
                for c in measure()
            )
    return found
