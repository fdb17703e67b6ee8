"""Put a reproduce job's claims table into a Markdown file, between two markers.

``python -m driftlab.reproduce.readme JOB_DIR README.md`` replaces what lies
between :data:`START` and :data:`END` in ``README.md`` with a line saying how the
job was run (scale, command, machine, duration) and the report's claims table
(:func:`driftlab.reproduce.report.claims_table_md`), both read from
``JOB_DIR/claims.json``. The README's table is thus the command's output, never
typed in; ``tests/test_readme.py`` checks that it equals the table made from the
stored ``claims.json`` it came from.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from driftlab.reproduce.report import claims_table_md, summary_line
from driftlab.reproduce.results import ClaimResult

START = "<!-- driftlab reproduce: claims table (generated; do not edit) -->"
END = "<!-- end of the generated claims table -->"


def read_claims(path: Path) -> tuple[str, dict[str, Any], list[ClaimResult]]:
    """The scale, the job record and the claims of a ``claims.json``."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    claims = [ClaimResult(**c) for c in raw["claims"]]
    return str(raw["scale"]), dict(raw.get("job", {})), claims


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


def block(scale: str, job: Mapping[str, Any], claims: Sequence[ClaimResult]) -> str:
    """The generated text: how the job ran, the verdict counts, the claims table."""
    versions = job.get("versions", {})
    runs = job.get("invocations") or [{}]
    first = runs[0]
    walls = [float(r["wall_s"]) for r in runs if r.get("wall_s") is not None]
    took = f"in {_duration(sum(walls))}" if walls else "in an unknown time"
    if len(runs) > 1:
        took += f" over {len(runs)} invocations (the later ones resumed it)"
    machine = versions.get("machine", "an unknown machine")
    head = (
        f"`{first.get('command', 'driftlab reproduce')}` ({scale} scale) on {machine}, "
        f"{versions.get('backend', '')}, driftlab {versions.get('driftlab', '?')}, JAX "
        f"{versions.get('JAX', '?')}: finished {took} ({job.get('finished', '')}). "
        f"Claims: {summary_line(claims)}."
    )
    return f"{START}\n{head}\n\n{claims_table_md(claims)}\n{END}"


def replace(text: str, new_block: str) -> str:
    """``text`` with the block between the markers (markers included) replaced;
    ValueError when the markers are missing or out of order."""
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        raise ValueError(f"the markers {START!r} and {END!r} are not both there, in order")
    return text[:i] + new_block + text[j + len(END) :]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m driftlab.reproduce.readme JOB_DIR README.md", file=sys.stderr)
        return 2
    job_dir, readme = Path(args[0]), Path(args[1])
    scale, job, claims = read_claims(job_dir / "claims.json")
    text = readme.read_text(encoding="utf-8")
    readme.write_text(replace(text, block(scale, job, claims)), encoding="utf-8")
    print(f"{readme}: claims table of {job_dir} ({len(claims)} claims)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
