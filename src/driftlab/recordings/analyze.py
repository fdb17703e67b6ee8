"""``driftlab analyze``: the drift statistics of a recording of several sessions, as tables.

:func:`analyze` measures every session (:func:`driftlab.metrics.session_statistics`),
every pair of sessions (:func:`driftlab.metrics.pair_statistics`) and the trends:
each per-session statistic against the session's day, each pair statistic against
the time between the two sessions (:func:`driftlab.metrics.trend`: slope and its 95%
confidence interval). :func:`write_report` writes ``sessions.csv``, ``pairs.csv``,
``trends.csv`` and ``options.json`` into a folder (each file written whole, then
renamed).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from driftlab.metrics.sessions import (
    Session,
    SessionOptions,
    common_bounds,
    pair_statistics,
    session_statistics,
    trend,
)
from driftlab.storage import write_text

SESSION_COLUMNS = (
    "active_fraction",
    "place_fraction",  # of active cells; place_fraction_all: of every cell
    "mean_si",
    "mean_si_corrected",
    "decoding_error",
)
PAIR_COLUMNS = ("ratemap_corr", "pv_corr", "decoding_error")


@dataclass(frozen=True)
class DriftReport:
    """``sessions``: a row per session (name, day, cells, the per-session statistics);
    ``pairs``: a row per pair of sessions (first, second, lag in days, matched cells,
    the across-session statistics); ``trends``: a row per statistic (``table``
    sessions or pairs, ``against`` day or lag, slope, ci_low, ci_high, p_value, n)."""

    sessions: pd.DataFrame
    pairs: pd.DataFrame
    trends: pd.DataFrame
    options: SessionOptions


def analyze(sessions: Sequence[Session], opts: SessionOptions | None = None) -> DriftReport:
    """The :class:`DriftReport` of ``sessions`` (see the module docstring)."""
    opts = opts or SessionOptions()
    if not sessions:
        raise ValueError("no sessions to analyse")
    if opts.bounds is None:  # one set of bins for every session
        opts = dataclasses.replace(opts, bounds=common_bounds(sessions))
    results = [session_statistics(s, opts) for s in sessions]
    per_session = pd.DataFrame(
        {
            "name": [s.name for s in sessions],
            "day": [float(s.day) for s in sessions],
            "cells": [int(np.asarray(s.cells).size) for s in sessions],
            "place_cells": [int(np.sum(r.shuffle.place)) for r in results],
            **{c: [float(getattr(r, c)) for r in results] for c in SESSION_COLUMNS},
        }
    )
    per_session.insert(
        per_session.columns.get_loc("place_fraction") + 1,
        "place_fraction_all",
        per_session["place_cells"] / per_session["cells"],
    )
    pairs = pd.DataFrame([p._asdict() for p in pair_statistics(sessions, results)])
    rows = []
    for column in SESSION_COLUMNS:
        rows.append({"table": "sessions", "statistic": column, "against": "day"})
        rows[-1].update(dataclasses.asdict(trend(per_session["day"], per_session[column])))
    for column in PAIR_COLUMNS:
        rows.append({"table": "pairs", "statistic": column, "against": "lag"})
        if len(pairs):
            rows[-1].update(dataclasses.asdict(trend(pairs["lag"], pairs[column])))
    return DriftReport(per_session, pairs, pd.DataFrame(rows), opts)


def write_report(report: DriftReport, out: str | Path) -> list[Path]:
    """The report's tables (CSV) and options (JSON) in folder ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in (
        ("sessions", report.sessions),
        ("pairs", report.pairs),
        ("trends", report.trends),
    ):
        path = folder / f"{name}.csv"
        write_text(path, table.to_csv(index=False, float_format="%.6g"))
        written.append(path)
    path = folder / "options.json"
    write_text(path, json.dumps(dataclasses.asdict(report.options), indent=2) + "\n")
    return [*written, path]


def read_report(folder: str | Path) -> DriftReport:
    """A report written by :func:`write_report`."""
    root = Path(folder)
    options = json.loads((root / "options.json").read_text())
    if options.get("bounds") is not None:
        options["bounds"] = tuple(options["bounds"])
    return DriftReport(
        sessions=pd.read_csv(root / "sessions.csv"),
        pairs=pd.read_csv(root / "pairs.csv"),
        trends=pd.read_csv(root / "trends.csv"),
        options=SessionOptions(**options),
    )


def summary_lines(report: DriftReport) -> list[str]:
    """The report in a few lines for the terminal."""
    s = report.sessions
    lines = [
        f"{len(s)} sessions over {s['day'].max() - s['day'].min():.1f} days, "
        f"{int(s['cells'].median())} cells a session (median)"
    ]
    for _, row in s.iterrows():
        lines.append(
            f"  {row['name']} (day {row['day']:.1f}): place cells {row['place_fraction']:.2f} "
            f"of active ({row['active_fraction']:.2f} active), SI {row['mean_si']:.2f} bits "
            f"(corrected {row['mean_si_corrected']:.2f}), decoding error "
            f"{row['decoding_error']:.2f}"
        )
    for _, row in report.trends.iterrows():
        if not np.isfinite(row.get("ci_low", np.nan)):
            continue  # fewer than 3 points, or a constant statistic
        x = "per day" if row["against"] == "day" else "per day between sessions"
        lines.append(
            f"  trend of {row['statistic']} ({row['table']}) {x}: {row['slope']:+.4g} "
            f"[95% CI {row['ci_low']:+.4g}, {row['ci_high']:+.4g}]"
        )
    return lines
