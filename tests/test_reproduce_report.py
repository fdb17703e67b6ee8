"""The report of ``driftlab reproduce``: report.md and report.html from claims and figures."""

from __future__ import annotations

import base64
import html
import math
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from driftlab.reproduce.report import claims_table_md, verdict_counts, write_report
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

PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
NASTY = "a <b>bold</b> & a|b claim\nsecond line"
VOID = {"meta", "img", "br", "hr", "input", "link", "col", "wbr", "source", "area", "base"}


def _claim(id: str, figure: str, verdict: str, claim: str = "", why: str = "") -> ClaimResult:
    return ClaimResult(
        id=id,
        figure=figure,
        claim=claim or f"claim {id} says something about drift",
        paper="0.5",
        measured=f"0.4{id[-1]} +- 0.06 (mean +- sd, 3 networks)",
        test=f"one-sided t-test of {id} below the start, p < 0.05",
        verdict=verdict,
        why=why,
    )


def _job(out: Path, wall: float = 125.0, total: float = 3661.0) -> JobInfo:
    return JobInfo(
        scale="smoke",
        command="driftlab reproduce --scale smoke --out 'runs/r 1'",
        out_dir=out,
        versions={"driftlab": "0.2.0", "JAX": "0.10.1", "jaxlib": "0.10.1", "Python": "3.11.7"},
        started="2024-05-01 10:00:00",
        finished="2024-05-01 11:01:01",
        wall_s=wall,
        total_wall_s=total,
    )


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, list[FigureEntry], list[ClaimResult], dict[Path, bytes]]:
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    drawn = out / "figures" / "fig2.png"
    fig = Figure(figsize=(2, 1.5))
    fig.subplots().plot([0, 1, 2], [1, 0, 1])
    fig.savefig(drawn, dpi=40)
    tiny = out / "figures" / "fig3a.png"
    tiny.write_bytes(PNG_1X1)
    figures = [
        FigureEntry("fig2", "Figure 2: drift & loss", (drawn, tiny), "3 networks, 600 steps"),
        FigureEntry("fig3a", "Figure 3A <sparseness>", (tiny,)),
    ]
    claims = [
        _claim("c1", "fig2", HOLDS),
        _claim("c2", "fig2", FAILS, why="the slope was positive"),
        _claim("c3", "fig3a", UNTESTABLE, why="too few runs"),
        _claim("c4", "fig3a", HOLDS),
        _claim("c5", "fig9", NOT_RUN, why="--only fig2,fig3a"),
    ]
    return out, figures, claims, {drawn: drawn.read_bytes(), tiny: PNG_1X1}


Setup = tuple[Path, list[FigureEntry], list[ClaimResult], dict[Path, bytes]]


def _table_rows(md: str) -> list[list[str]]:
    """The rows of the first Markdown table, each split on its unescaped pipes."""
    lines = md.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("| Figure |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells, cell, escaped = [], "", False
        for ch in line.strip()[1:]:
            if ch == "|" and not escaped:
                cells.append(cell.strip())
                cell = ""
            else:
                cell += ch
            escaped = ch == "\\" and not escaped
        assert cell == "", line  # the row ends with an unescaped pipe
        rows.append(cells)
    return rows


class _Balance(HTMLParser):
    """Every non-void tag closed, in order; void tags never closed; ids and fragment links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.ids += [a["id"] or ""] if "id" in a else []
        self.links += [a["href"] or ""] if "href" in a else []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in VOID, tag
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        assert tag not in VOID, tag
        assert self.stack, f"</{tag}> closes nothing"
        assert self.stack.pop() == tag, tag


def test_both_files_hold_every_claim(setup: Setup) -> None:
    out, figures, claims, _ = setup
    page, md_path = write_report(out, _job(out), figures, claims)
    assert (page, md_path) == (out / "report.html", out / "report.md")
    md, text = md_path.read_text(encoding="utf-8"), page.read_text(encoding="utf-8")
    for c in claims:
        for field in (c.claim, c.measured, c.test, c.verdict):
            assert field in md
            assert html.escape(field) in text
        if c.why:
            assert c.why in md
            assert html.escape(c.why) in text
    line = "5 claims: 2 hold, 1 does not hold, 1 not testable at this scale, 1 not run."
    assert line in md
    assert line in text
    assert "# driftlab reproduce: Ratzon, Derdikman & Barak (2024)" in md
    assert "<title>driftlab reproduce: Ratzon, Derdikman &amp; Barak (2024)</title>" in text


def test_verdict_counts_in_order() -> None:
    claims = [_claim("a1", "f", FAILS), _claim("a2", "f", FAILS), _claim("a3", "f", NOT_RUN)]
    counts = verdict_counts(claims)
    assert list(counts) == list(VERDICTS)
    assert counts == {HOLDS: 0, FAILS: 2, UNTESTABLE: 0, NOT_RUN: 1}


def test_header_block(setup: Setup) -> None:
    out, figures, claims, _ = setup
    job = _job(out)
    _, md_path = write_report(out, job, figures, claims)
    md = md_path.read_text(encoding="utf-8")
    assert f"```\n{job.command}\n```" in md
    assert "- Scale: smoke" in md
    assert str(out) in md
    assert "2024-05-01 10:00:00" in md and "2024-05-01 11:01:01" in md
    assert "0:02:05 this invocation, 1:01:01 in total over all invocations" in md
    where = [md.index(f"  - {k}: {v}") for k, v in job.versions.items()]
    assert where == sorted(where)
    write_report(out, _job(out, wall=3661.4, total=3661.0), figures, claims)
    assert "- Wall time: 1:01:01\n" in md_path.read_text(encoding="utf-8")
    write_report(out, _job(out, wall=math.nan, total=math.nan), figures, claims)
    assert "- Wall time: unknown\n" in md_path.read_text(encoding="utf-8")


def test_html_is_self_contained(setup: Setup) -> None:
    out, figures, claims, pngs = setup
    page, _ = write_report(out, _job(out), figures, claims)
    text = page.read_text(encoding="utf-8")
    for bad in ('src="http', 'href="http', "<link", "<script", "url("):
        assert bad not in text
    assert '<meta charset="utf-8" />' in text
    srcs = re.findall(r'<img src="([^"]*)" alt="([^"]*)" />', text)
    assert len(srcs) == 3  # fig2 draws two images, fig3a one
    expected = [pngs[p] for f in figures for p in f.images]
    for (src, alt), want, title in zip(
        srcs, expected, [figures[0].title, figures[0].title, figures[1].title], strict=True
    ):
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1], validate=True) == want
        assert html.unescape(alt) == title


def test_markdown_images_relative(setup: Setup) -> None:
    out, figures, claims, _ = setup
    _, md_path = write_report(out, _job(out), figures, claims)
    md = md_path.read_text(encoding="utf-8")
    assert "(figures/fig2.png)" in md
    assert "](figures/fig3a.png)" in md
    assert str(out / "figures") not in md


def test_escaping_keeps_html_and_table_intact(setup: Setup) -> None:
    out, figures, claims, _ = setup
    claims = [*claims, _claim("c6", "fig2", FAILS, claim=NASTY, why="why | <i>&")]
    page, md_path = write_report(out, _job(out), figures, claims)
    text, md = page.read_text(encoding="utf-8"), md_path.read_text(encoding="utf-8")
    assert "<b>" not in text and "<i>" not in text
    assert "a &lt;b&gt;bold&lt;/b&gt; &amp; a|b claim<br />second line" in text
    ET.fromstring(text)  # still well-formed
    rows = _table_rows(md)
    assert len(rows) == 2 + len(claims)
    assert all(len(r) == 6 for r in rows), rows
    assert rows[-1][1] == "a \\<b>bold\\</b> & a\\|b claim<br>second line"
    assert rows[-1][5] == FAILS
    assert _table_rows(claims_table_md(claims)) == rows


def test_claims_table_md_in_order() -> None:
    claims = [_claim(f"x{i}", "fig2", HOLDS) for i in (3, 1, 2)]
    rows = _table_rows(claims_table_md(claims))
    assert rows[0] == ["Figure", "Claim", "Paper", "driftlab (spread)", "Test", "Verdict"]
    assert [r[1] for r in rows[2:]] == [c.claim for c in claims]


def test_missing_image_gives_a_note(setup: Setup) -> None:
    out, figures, claims, _ = setup
    gone = FigureEntry("fig4", "Figure 4", (out / "figures" / "fig4.png",), "not drawn")
    page, md_path = write_report(out, _job(out), [*figures, gone], claims)
    note = "(figure not drawn: figures/fig4.png missing)"
    assert note in md_path.read_text(encoding="utf-8")
    text = page.read_text(encoding="utf-8")
    assert f'<p class="missing">{note}</p>' in text
    assert text.count("<img ") == 3


def test_claims_without_a_figure(setup: Setup) -> None:
    out, figures, claims, _ = setup
    page, md_path = write_report(out, _job(out), figures, claims)
    md = md_path.read_text(encoding="utf-8")
    orphan = claims[-1]
    assert md.index("## Claims without a figure") < md.rindex(orphan.claim)
    assert md.index(orphan.claim) < md.index("## Figure 2")  # in the table too
    text = page.read_text(encoding="utf-8")
    section = text[text.index('<section id="unfigured">') :]
    assert "Claims without a figure" in section and orphan.claim in section
    assert '<a href="#unfigured">' in text
    assert text.count(orphan.claim) == 2  # the table and the section


def test_figure_sections_hold_their_claims(setup: Setup) -> None:
    out, figures, claims, _ = setup
    page, _ = write_report(out, _job(out), figures, claims)
    text = page.read_text(encoding="utf-8")
    fig2 = text[text.index('<section id="fig2">') : text.index('<section id="fig3a">')]
    assert claims[0].claim in fig2 and claims[1].claim in fig2
    assert claims[2].claim not in fig2
    assert "3 networks, 600 steps" in fig2
    assert '<td class="v v-fails">' in text and '<td class="v v-untestable">' in text


def test_write_is_atomic_and_replaces(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    out, figures, claims, _ = setup
    write_report(out, _job(out), figures, claims)
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.html", "report.md"]
    write_report(out, _job(out), figures, claims[:1])
    for name in ("report.md", "report.html"):
        assert claims[1].claim not in (out / name).read_text(encoding="utf-8")
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.html", "report.md"]

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_report(out, _job(out), figures, claims)
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.html", "report.md"]
    assert claims[1].claim not in (out / "report.md").read_text(encoding="utf-8")


def test_html_well_formed(setup: Setup) -> None:
    out, figures, claims, _ = setup
    odd = FigureEntry("fig 2/b", "Odd id", ())
    page, _ = write_report(
        out, _job(out), [*figures, odd, odd], [*claims, _claim("o1", "fig 2/b", HOLDS)]
    )
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>\n<html")
    parser = _Balance()
    parser.feed(text)
    parser.close()
    assert parser.stack == []
    assert len(parser.ids) == len(set(parser.ids))
    for link in parser.links:
        assert link.startswith("#") and link[1:] in parser.ids, link
    assert len(parser.links) >= 1 + 4 + len(claims)  # contents, sections, table's figure links
    root = ET.fromstring(text)
    assert root.tag == "html"
    assert [h.text for h in root.iter("h2")][:2] == ["Contents", "Claims"]


def test_bad_verdict_raises() -> None:
    with pytest.raises(ValueError, match="verdict 'passes'"):
        _claim("z1", "fig2", "passes")
