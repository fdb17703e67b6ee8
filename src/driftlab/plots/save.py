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
