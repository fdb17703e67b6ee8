"""Figure 2 of Ratzon, Derdikman & Barak (2023): the corridor network drifts and sparsifies.

Runs: ``driftlab run --preset fig2`` (the paper's network and training on the
corrected corridor), ``--preset fig2_authors`` (the authors' own setup, drawn in
their conventions) or ``quick`` (the default main job). ``draw(run_dir, out_dir,
*, network, place, loss)`` draws panels B-E from a run directory
(:func:`driftlab.plots.fig2.write_fig2`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from driftlab.plots.fig2 import Loss, Place
from driftlab.plots.fig2 import write_fig2 as draw  # numpy only: no JAX until run()

__all__ = ["AUTHORS_CONVENTIONS", "PRESETS", "conventions", "draw", "run"]

PRESETS: tuple[str, ...] = ("fig2", "fig2_authors", "quick")
AUTHORS_CONVENTIONS: tuple[str, ...] = ("fig2_authors",)
"""Presets whose Figure 2 is drawn in the authors' conventions (panel B's loss,
raw place units); the others get shuffle-tested place units and the loss against
the mean estimator."""


def conventions(preset: str | None) -> tuple[Place, Loss]:
    """(``place``, ``loss``) of :func:`draw` for a run of ``preset`` (None: a config file)."""
    if preset in AUTHORS_CONVENTIONS:
        return "raw", "authors"
    return "shuffle", "mean_estimator"


def run(
    out_dir: str | Path,
    *,
    preset: str = "fig2",
    overrides: Sequence[str] = (),
    progress: bool = True,
) -> tuple[Any, list[Path]]:
    """Train ``preset`` (with ``--set``-style ``overrides``) into ``out_dir`` (resumable),
    then draw it in the preset's conventions. Returns (the run's outcome, the figure's
    paths; none if the run diverged)."""
    from driftlab.config import resolve
    from driftlab.run import execute

    if preset not in PRESETS:
        from driftlab.config import ConfigError

        raise ConfigError(
            f"preset '{preset}': not a Figure 2 preset; allowed: {', '.join(PRESETS)}"
        )
    result = execute(resolve(preset=preset, overrides=overrides), out_dir, progress=progress)
    place, loss = conventions(preset)
    paths = draw(out_dir, place=place, loss=loss) if result.status == "complete" else []
    return result, paths
