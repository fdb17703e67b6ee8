"""Progress of a run, as a tqdm bar."""

from __future__ import annotations

from typing import Any


def progress_bar(total: int, initial: int, networks: int) -> Any:
    """A bar over the run's steps, starting at ``initial`` (a resumed run)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="step",
        unit_scale=True,
        desc=f"training {networks} network{'s' if networks > 1 else ''}",
        dynamic_ncols=True,
        smoothing=0.1,
    )
