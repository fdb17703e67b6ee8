"""Figure 3C: noisy Hebbian/anti-Hebbian plasticity sparsifies a similarity-matching code.

Runs: ``driftlab hebbian`` (preset ``hebbian_ring``, the default, or
``hebbian_place``; :mod:`driftlab.hebbian.run`). Draws the loss, the fraction of
active neurons and the population-vector correlation over plasticity steps
(:mod:`driftlab.plots.fig3c`) from a run directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from driftlab.plots.fig3c import write_fig3c as draw  # numpy only: no JAX until run()

__all__ = ["PRESETS", "draw", "run"]

PRESETS: tuple[str, ...] = ("hebbian_ring", "hebbian_place")


def run(
    out_dir: str | Path,
    *,
    preset: str = "hebbian_ring",
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> tuple[Any, list[Path]]:
    """Train ``preset`` into ``out_dir`` (resumable), then draw it. Returns (the run's
    outcome, the figure's paths; none if the run diverged)."""
    from driftlab.hebbian.config import resolve_hebbian
    from driftlab.hebbian.run import execute_hebbian

    cfg = resolve_hebbian(preset=preset, overrides=overrides)
    result = execute_hebbian(cfg, out_dir, progress=progress)
    return result, draw(out_dir) if result.status == "complete" else []
