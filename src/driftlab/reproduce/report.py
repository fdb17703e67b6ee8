"""The report of ``driftlab reproduce``: ``report.md`` and ``report.html`` in its output folder.

Both say what was run (scale, exact command, folder, times, versions), count the
verdicts, list every claim of the paper in one table (figure, claim, the paper's
number, driftlab's number with its spread, the test, the verdict), then give one
section per figure: its images, caption and claims, each with why it got its
verdict. Claims of a figure that was not drawn come last, under "Claims without a
figure". The Markdown refers to the images by paths relative to the output folder;
the HTML is one self-contained file (images embedded as data URIs, inline CSS, no
script), valid HTML5 that is also well-formed XML. No JAX, no matplotlib.
"""

from __future__ import annotations

import base64
import html
import math
import mimetypes
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath
from typing import NamedTuple
from urllib.parse import quote

from driftlab.reproduce.results import (
    FAILS,
    HOLDS,
    NOT_RUN,
    UNTESTABLE,
    VERDICTS,
    ClaimResult,
    FigureEntry,
    JobInfo,
)
from driftlab.storage import write_text

TITLE = "driftlab reproduce: Ratzon, Derdikman & Barak (2024)"
COLUMNS = ("Figure", "Claim", "Paper", "driftlab (spread)", "Test", "Verdict")
_WIDTHS = (8, 25, 9, 18, 27, 13)  # per cent of the HTML table, column by column
UNFIGURED = "Claims without a figure"
_CLASS = {HOLDS: "holds", FAILS: "fails", UNTESTABLE: "untestable", NOT_RUN: "notrun"}
_MARK = {HOLDS: "✓", FAILS: "✗", UNTESTABLE: "?", NOT_RUN: "–"}
_PLURAL = {HOLDS: "hold", FAILS: "do not hold"}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,
"Liberation Sans",sans-serif;color:#1b1b1b;background:#fff;line-height:1.45;
max-width:72rem;margin:0 auto;padding:1rem 1.5rem 3rem}
h1{font-size:1.6rem;margin:.6rem 0 1rem}h2{font-size:1.3rem;margin-top:2.2rem;
border-bottom:1px solid #ccc;padding-bottom:.2rem}h3{font-size:1.05rem;margin:1.2rem 0 .4rem}
dl.meta,dl.claim{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.4rem 0}
dt{font-weight:600;color:#444}dd{margin:0;min-width:0;overflow-wrap:anywhere}
pre{background:#f3f3f3;border:1px solid #ddd;padding:.4rem .6rem;margin:0;
white-space:pre-wrap;overflow-wrap:anywhere}
ul.versions{list-style:none;margin:0;padding:0}ul.versions li{display:inline;margin-right:1.2rem}
table{border-collapse:collapse;table-layout:fixed;width:100%;margin:.6rem 0;font-size:.92rem}
th,td{border:1px solid #b8b8b8;padding:.35rem .55rem;vertical-align:top;text-align:left;
overflow-wrap:anywhere}th{background:#efefef}
.v{font-weight:600;white-space:normal;min-width:6.5rem}
.v-holds{background:#dcf1dc;color:#14501c}.v-fails{background:#f8d7d6;color:#8a1717}
.v-untestable{background:#fbe8b8;color:#634400}.v-notrun{background:#e6e6e6;color:#3d3d3d}
span.v{padding:.05rem .45rem;border-radius:.25rem;display:inline-block;min-width:0}
img{max-width:100%;height:auto;display:block;margin:.6rem 0;border:1px solid #eee}
.caption{color:#333;font-style:italic}.missing{border:1px dashed #a33;color:#8a1717;padding:.5rem}
div.claim{border-left:4px solid #ccc;padding:.2rem 0 .2rem .8rem;margin:.9rem 0}
div.b-holds{border-left-color:#2e8b3a}div.b-fails{border-left-color:#c0392b}
div.b-untestable{border-left-color:#d99a00}div.b-notrun{border-left-color:#999}
div.claim p{margin:.1rem 0 .3rem;font-weight:600}code.id{color:#666;font-weight:400}
"""


def verdict_counts(claims: Iterable[ClaimResult]) -> dict[str, int]:
    """How many claims got each verdict: every verdict of :data:`VERDICTS`, in that order."""
    counts = dict.fromkeys(VERDICTS, 0)
    for c in claims:
        counts[c.verdict] += 1
    return counts


def summary_line(claims: Sequence[ClaimResult]) -> str:
    """E.g. ``"12 hold, 1 does not hold, 2 not testable at this scale"`` (zeros left out)."""
    parts = [
        f"{n} {_PLURAL.get(v, v) if n != 1 else v}" for v, n in verdict_counts(claims).items() if n
    ]
    return ", ".join(parts) if parts else "no claims"


def _hms(seconds: float) -> str:
    """Seconds as ``H:MM:SS``; NaN (or infinite) as ``unknown``."""
    if not math.isfinite(seconds):
        return "unknown"
    s = round(max(seconds, 0.0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _wall(job: JobInfo) -> str:
    """This invocation's wall time, and the total over invocations when it differs."""
    this, total = _hms(job.wall_s), _hms(job.total_wall_s)
    if total in (this, "unknown"):
        return this
    return f"{this} this invocation, {total} in total over all invocations"


def _meta(job: JobInfo) -> list[tuple[str, str]]:
    """The header block's rows but the command and the versions, as (label, text)."""
    return [
        ("Scale", job.scale),
        ("Output directory", str(job.out_dir)),
        ("Started", job.started or "unknown"),
        ("Finished", job.finished or "unknown"),
        ("Wall time", _wall(job)),
    ]


def _rel(path: Path, out_dir: Path) -> str:
    """``path`` relative to ``out_dir``, POSIX separators (absolute if there is none)."""
    try:
        return PurePath(os.path.relpath(path, out_dir)).as_posix()
    except ValueError:  # another drive on Windows
        return PurePath(os.path.abspath(path)).as_posix()


def _md(text: str) -> str:
    """Markdown inline text: a backslash that would escape the next character and a
    ``<`` that could open a tag are escaped (both show as written); line breaks become
    ``<br>``."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    lines = [re.sub(r"\\(?=[!-/:-@\[-`{-~]|$)", r"\\\\", line) for line in lines]
    return "<br>".join(re.sub(r"<(?=[A-Za-z/!?])", r"\\<", line) for line in lines)


def _md_cell(text: str) -> str:
    """One Markdown table cell: :func:`_md` with pipes escaped; never empty."""
    return _md(text).replace("|", "\\|") or " "


def _md_code(text: str, block: bool = False) -> str:
    """``text`` as a Markdown code span (or fenced block) that no backtick in it closes."""
    longest = max((len(r) for r in re.findall(r"`+", text)), default=0)
    if block:
        fence = "`" * max(3, longest + 1)
        return f"{fence}\n{text}\n{fence}"
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def claims_table_md(claims: Sequence[ClaimResult]) -> str:
    """The claims as one Markdown table, in the order given: Figure | Claim | Paper |
    driftlab (spread) | Test | Verdict. Pipes, backslashes and ``<`` in a cell are
    escaped and line breaks become ``<br>``, so the table never breaks."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for c in claims:
        cells = (c.figure, c.claim, c.paper, c.measured, c.test, c.verdict)
        lines.append("| " + " | ".join(_md_cell(x) for x in cells) + " |")
    return "\n".join(lines)


class _Section(NamedTuple):
    """A section after the table: a figure (None: the claims of no figure) and its claims."""

    anchor: str
    title: str
    figure: FigureEntry | None
    claims: list[ClaimResult]


def _sections(figures: Sequence[FigureEntry], claims: Sequence[ClaimResult]) -> list[_Section]:
    """Each figure with its claims, in order, each with a unique anchor made from its
    id; then "Claims without a figure" if any claim's figure has no entry."""
    taken = {"contents", "claims", "unfigured"}
    out: list[_Section] = []
    for f in figures:
        base = re.sub(r"[^A-Za-z0-9_.-]", "-", f.id) or "figure"
        anchor, i = base, 1
        while anchor in taken:
            i += 1
            anchor = f"{base}-{i}"
        taken.add(anchor)
        out.append(_Section(anchor, f.title, f, [c for c in claims if c.figure == f.id]))
    ids = {f.id for f in figures}
    orphans = [c for c in claims if c.figure not in ids]
    return [*out, _Section("unfigured", UNFIGURED, None, orphans)] if orphans else out


def _md_claim(c: ClaimResult) -> list[str]:
    """One claim in a section: its sentence and id, then its numbers, test and verdict."""
    out = [
        f"- **{_md(c.claim)}** ({_md_code(c.id)})",
        f"  - Paper: {_md(c.paper)}",
        f"  - driftlab: {_md(c.measured)}",
        f"  - Test: {_md(c.test)}",
        f"  - Verdict: **{c.verdict}**",
    ]
    return [*out, f"  - Why: {_md(c.why)}"] if c.why else out


def _md_image(image: Path, alt: str, out_dir: Path) -> str:
    """An image link relative to ``out_dir``, or a note where the image is missing."""
    rel = _rel(image, out_dir)
    if not image.is_file():
        return f"(figure not drawn: {_md(rel)} missing)"
    alt = _md(alt).replace("[", "\\[").replace("]", "\\]")
    return f"![{alt}]({quote(rel)})"


def _render_md(
    out_dir: Path, job: JobInfo, figures: Sequence[FigureEntry], claims: Sequence[ClaimResult]
) -> str:
    """The whole Markdown report."""
    out = [f"# {_md(TITLE)}", ""]
    out += [f"- {label}: {_md(text)}" for label, text in _meta(job)]
    out.append("- Versions:" + ("" if job.versions else " not recorded"))
    out += [f"  - {_md(k)}: {_md(v)}" for k, v in job.versions.items()]
    out += ["", "Command:", "", _md_code(job.command, block=True), ""]
    out += [f"**Summary:** {len(claims)} claims: {summary_line(claims)}.", ""]
    out += ["## Claims", "", claims_table_md(claims), ""]
    for s in _sections(figures, claims):
        out += [f"## {_md(s.title)}", ""]
        if s.figure:
            for image in s.figure.images:
                out += [_md_image(image, s.title, out_dir), ""]
            out += [_md(s.figure.caption), ""] if s.figure.caption else []
            out += ["### Claims", ""]
        for c in s.claims:
            out += _md_claim(c)
        out += [""] if s.claims else ["No claim is tested on this figure.", ""]
    return "\n".join(out)


def _h(text: str) -> str:
    """Text escaped for HTML (quotes too), line breaks kept as ``<br />``."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "<br />".join(html.escape(line) for line in lines)


def _verdict_html(verdict: str, tag: str = "span") -> str:
    """The verdict as text with a mark, coloured by its class (never colour alone)."""
    mark = f'<span aria-hidden="true">{_MARK[verdict]} </span>'
    return f'<{tag} class="v v-{_CLASS[verdict]}">{mark}{html.escape(verdict)}</{tag}>'


def _img_html(image: Path, alt: str, out_dir: Path) -> str:
    """The image embedded as a data URI, or a visible note where it cannot be read."""
    try:
        data = base64.b64encode(image.read_bytes()).decode("ascii")
    except OSError:
        rel = html.escape(_rel(image, out_dir))
        return f'<p class="missing">(figure not drawn: {rel} missing)</p>'
    mime = mimetypes.guess_type(image.name)[0] or "image/png"
    return f'<img src="data:{mime};base64,{data}" alt="{html.escape(alt)}" />'


def _claim_html(c: ClaimResult) -> str:
    """One claim in a section, with its numbers, test, verdict and why."""
    rows = [("Paper", c.paper), ("driftlab", c.measured), ("Test", c.test)]
    dl = "".join(f"<dt>{k}</dt><dd>{_h(v)}</dd>" for k, v in rows)
    dl += f"<dt>Verdict</dt><dd>{_verdict_html(c.verdict)}</dd>"
    dl += f"<dt>Why</dt><dd>{_h(c.why)}</dd>" if c.why else ""
    return (
        f'<div class="claim b-{_CLASS[c.verdict]}"><p>{_h(c.claim)} '
        f'<code class="id">{html.escape(c.id)}</code></p><dl class="claim">{dl}</dl></div>'
    )


def _render_html(
    out_dir: Path, job: JobInfo, figures: Sequence[FigureEntry], claims: Sequence[ClaimResult]
) -> str:
    """The whole HTML report, one self-contained page."""
    sections = _sections(figures, claims)
    anchors = {s.figure.id: s.anchor for s in reversed(sections) if s.figure}  # first wins
    meta = "".join(f"<dt>{k}</dt><dd>{_h(v)}</dd>" for k, v in _meta(job))
    versions = "".join(f"<li>{_h(k)}: {_h(v)}</li>" for k, v in job.versions.items())
    versions = f'<ul class="versions">{versions}</ul>' if versions else "not recorded"
    command = f"<pre><code>{html.escape(job.command)}</code></pre>"
    toc = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    out = [
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8" />',
        '<meta name="viewport" content="width=device-width, initial-scale=1" />',
        f"<title>{html.escape(TITLE)}</title>\n<style>{_CSS}</style>\n</head>\n<body>",
        f"<h1>{html.escape(TITLE)}</h1>",
        f'<dl class="meta">{meta}<dt>Command</dt><dd>{command}</dd>'
        f"<dt>Versions</dt><dd>{versions}</dd></dl>",
        f"<p><strong>Summary:</strong> {len(claims)} claims: {summary_line(claims)}.</p>",
        '<nav id="contents"><h2>Contents</h2><ol><li><a href="#claims">Claims</a></li>'
        f"{toc}</ol></nav>",
    ]
    rows = []
    for c in claims:
        fig = html.escape(c.figure)
        fig = f'<a href="#{anchors[c.figure]}">{fig}</a>' if c.figure in anchors else fig
        cells = "".join(f"<td>{_h(x)}</td>" for x in (c.claim, c.paper, c.measured, c.test))
        rows.append(f"<tr><td>{fig}</td>{cells}{_verdict_html(c.verdict, 'td')}</tr>")
    head = "".join(
        f'<th style="width:{w}%">{html.escape(c)}</th>'
        for c, w in zip(COLUMNS, _WIDTHS, strict=True)
    )
    out.append(
        f'<section id="claims"><h2>Claims</h2><table><thead><tr>{head}</tr></thead>'
        f"<tbody>\n{chr(10).join(rows)}\n</tbody></table></section>"
    )
    for s in sections:
        part = [f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>']
        if s.figure:
            part += [_img_html(image, s.title, out_dir) for image in s.figure.images]
            part += [f'<p class="caption">{_h(s.figure.caption)}</p>'] if s.figure.caption else []
            part.append("<h3>Claims</h3>")
        part += [_claim_html(c) for c in s.claims] or ["<p>No claim is tested on this figure.</p>"]
        out.append("\n".join([*part, "</section>"]))
    out.append("</body>\n</html>\n")
    return "\n".join(out)


def write_report(
    out_dir: Path, job: JobInfo, figures: Sequence[FigureEntry], claims: Sequence[ClaimResult]
) -> tuple[Path, Path]:
    """Write ``out_dir/report.md`` and ``out_dir/report.html``, each atomically
    (:func:`driftlab.storage.write_text`); return ``(html, md)``.

    Image paths of ``figures`` are read as given (absolute, or relative to the
    current directory); an image that is missing gets a note in place of the image.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, page = out_dir / "report.md", out_dir / "report.html"
    write_text(md, _render_md(out_dir, job, figures, claims))
    write_text(page, _render_html(out_dir, job, figures, claims))
    return page, md
