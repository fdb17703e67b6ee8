"""What ``driftlab reproduce`` reports: a claim's measurement and verdict, a figure, the job.

Plain data, no JAX and no matplotlib: :mod:`driftlab.reproduce.claims` fills these
from stored results, :mod:`driftlab.reproduce.report` writes them out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HOLDS = "holds"
FAILS = "does not hold"
UNTESTABLE = "not testable at this scale"
NOT_RUN = "not run"
VERDICTS: tuple[str, ...] = (HOLDS, FAILS, UNTESTABLE, NOT_RUN)
"""Every verdict a claim can get: the test passed, the test failed, the results at
this scale cannot decide (too few runs, too short), or its experiment was not run
(``--only``)."""


@dataclass(frozen=True)
class ClaimResult:
    """One claim of the paper, measured.

    ``figure``: the figure id it belongs to (``fig2``, ``fig3a``, ...; see
    :data:`driftlab.reproduce.stages.FIGURES`); ``claim``: the paper's claim in one
    sentence; ``paper``: the paper's number where it gives one, else ``"-"``;
    ``measured``: driftlab's number with its spread and how many networks or runs,
    e.g. ``"0.41 +- 0.06 (mean +- sd, 3 networks)"``; ``test``: the stated test and
    threshold; ``verdict``: one of :data:`VERDICTS`; ``why``: a sentence on what
    decided the verdict (why not, for any verdict but ``holds``)."""

    id: str
    figure: str
    claim: str
    paper: str
    measured: str
    test: str
    verdict: str
    why: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r}: not one of {', '.join(VERDICTS)}")


@dataclass(frozen=True)
class FigureEntry:
    """A figure of the report: its id, title, image files (PNG; a PDF beside each),
    and a caption saying what was run to make it."""

    id: str
    title: str
    images: tuple[Path, ...]
    caption: str = ""


@dataclass(frozen=True)
class JobInfo:
    """What made the report: the scale, the exact command, versions, timing."""

    scale: str
    command: str
    out_dir: Path
    versions: dict[str, str] = field(default_factory=dict)
    started: str = ""
    finished: str = ""
    wall_s: float = float("nan")
    """Seconds of this command's last invocation (a resumed job: that part only)."""
    total_wall_s: float = float("nan")
    """Seconds summed over every invocation that worked on this directory."""
