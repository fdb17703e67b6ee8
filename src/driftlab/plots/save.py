"""Writing a figure as PNG and PDF, atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftlab.storage import atomic_write


def save_figure(fig: Any, folder: Path, stem: str) -> list[Path]:
    """Write ``folder/stem.png`` (150 dpi) and ``folder/stem.pdf``; return their paths."""
    paths = []
    for ext in ("png", "pdf"):
        path = folder / f"{stem}.{ext}"

        def save(p: Path, fmt: str = ext) -> None:
            fig.savefig(p, format=fmt, dpi=150)

        atomic_write(path, save)
        paths.append(path)
    return paths


def write_run_figure(
    fig: Any, run_dir: str | Path, out_dir: str | Path | None, stem: str, *, network: int = 0
) -> list[Path]:
    """Save a run's figure as ``stem[_network<N>].png/.pdf`` in ``out_dir`` (default
    RUN_DIR/figures), close it, and return the paths."""
    import matplotlib.pyplot as plt

    target = Path(out_dir) if out_dir is not None else Path(run_dir) / "figures"
    suffix = "" if network == 0 else f"_network{network}"
    paths = save_figure(fig, target, f"{stem}{suffix}")
    plt.close(fig)
    return paths
