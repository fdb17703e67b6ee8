"""``driftlab analyze``: drift statistics of a recording of several sessions (NWB files,
or one netCDF/npz file of arrays).

Kept apart from :mod:`driftlab.cli` (the other commands) so that neither grows past a
readable size; :func:`add_parser` and :func:`run` are its two entry points.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from driftlab.errors import EXIT_OK, ConfigError

if TYPE_CHECKING:
    from driftlab.metrics.sessions import SessionOptions

EXAMPLE_SESSIONS = 5


def _bounds(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH (e.g. 0,100), got {text!r}") from None
    if not hi > lo:
        raise argparse.ArgumentTypeError(f"expected LOW < HIGH, got {text!r}")
    return lo, hi


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The ``analyze`` subcommand and its options."""
    p = sub.add_parser(
        "analyze",
        help="drift statistics of recorded sessions (NWB files, one per session)",
        description=(
            "Measure drift the way the field does in recordings of the same cells over "
            "sessions: place cells by a shuffle test, spatial information, decoding, and "
            "across sessions the rate-map and population-vector correlations and decoding, "
            "with trends over time. Writes sessions.csv, pairs.csv, trends.csv and "
            "drift-report.png into --out."
        ),
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="INPUT",
        help="NWB files (one per session, or one of several sessions as epochs), one "
        ".nc/.npz file of every session, or a driftlab corridor run directory (a virtual "
        "experiment: its records as sessions)",
    )
    p.add_argument(
        "--example",
        action="store_true",
        help=f"write {EXAMPLE_SESSIONS} synthetic sessions with known drift as NWB files "
        "(OUT/example) and analyse them",
    )
    p.add_argument("--out", help="folder of the report (default: runs/analyze-NAME)")
    p.add_argument("--label", help="the dataset's name in the figure (default: the folder's)")
    p.add_argument(
        "--match",
        default="global_id",
        help="column of the ROI (or units) table that identifies a cell across sessions "
        "(default global_id)",
    )
    p.add_argument(
        "--cell-map",
        help="instead of --match: a CSV (or .npy) of ROI indices, a row per cell and a column "
        "per session in time order (0-based; -1 or empty: not found), e.g. from CellReg",
    )
    p.add_argument("--series", help="the RoiResponseSeries to read (default: deconvolved)")
    p.add_argument("--bins", type=int, default=40, help="position bins (default 40)")
    p.add_argument("--bounds", type=_bounds, help="the track's ends, LOW,HIGH (default: data)")
    p.add_argument(
        "--speed",
        type=float,
        help="minimum running speed, position units/s (default 2; 0 for a run directory)",
    )
    p.add_argument(
        "--min-occupancy", type=float, default=0.1, help="seconds a bin must be visited (0.1)"
    )
    p.add_argument("--shuffles", type=int, default=500, help="shuffles per cell (default 500)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffles (default 0)")
    v = p.add_argument_group("a virtual experiment on a run directory")
    v.add_argument("--network", type=int, default=0, help="which network of the batch (0)")
    v.add_argument("--cells", type=int, help="units sampled as cells (default: all)")
    v.add_argument("--sessions", type=int, help="record points used (default: all after 0)")
    v.add_argument("--laps", type=int, default=20, help="runs of the trajectory a session (20)")
    v.add_argument(
        "--observation",
        choices=("none", "poisson", "calcium"),
        default="poisson",
        help="what is recorded of the hidden activity (default poisson events)",
    )
    v.add_argument("--rate", type=float, default=2.0, help="mean event rate, events/s (2)")
    v.add_argument(
        "--steps-per-day", type=float, help="training steps a day (default: a day a record)"
    )


def _options(args: argparse.Namespace) -> SessionOptions:
    from driftlab.metrics.sessions import SessionOptions

    checks = (
        ("--bins", args.bins >= 2, "at least 2"),
        ("--shuffles", args.shuffles >= 19, "at least 19"),
        ("--speed", args.speed is None or args.speed >= 0, "at least 0"),
        ("--min-occupancy", args.min_occupancy >= 0, "at least 0"),
        ("--laps", args.laps >= 1, "at least 1"),
        ("--rate", args.rate > 0, "above 0"),
        ("--cells", args.cells is None or args.cells >= 1, "at least 1"),
        ("--sessions", args.sessions is None or args.sessions >= 1, "at least 1"),
        ("--steps-per-day", args.steps_per_day is None or args.steps_per_day > 0, "above 0"),
    )
    for flag, ok, allowed in checks:
        if not ok:
            raise ConfigError(f"{flag}: {getattr(args, flag[2:].replace('-', '_'))} ({allowed})")
    run_dir = any(Path(p).is_dir() for p in args.inputs)
    speed = args.speed if args.speed is not None else (0.0 if run_dir else 2.0)
    return SessionOptions(
        n_bins=args.bins,
        bounds=args.bounds,
        speed_threshold=speed,
        min_occupancy=args.min_occupancy,
        n_shuffles=args.shuffles,
        seed=args.seed,
    )


def write_example(folder: Path) -> list[Path]:
    """Five synthetic sessions (200 cells, half with a place field; fields remap with
    probability 0.2 and vanish with 0.1 a session and narrow from 12 to 7 cm) as NWB
    files in ``folder``."""
    from driftlab.recordings.nwb import write_session
    from driftlab.recordings.synthetic import synthetic_sessions

    sessions, _ = synthetic_sessions(
        n_sessions=EXAMPLE_SESSIONS, remap=0.2, vanish=0.1, width=(12.0, 7.0), seed=0
    )
    return [write_session(s, folder / f"session-{i + 1}.nwb") for i, s in enumerate(sessions)]


def run(args: argparse.Namespace) -> int:
    """Read, measure, write the tables and the figure, print a summary."""
    opts = _options(args)
    inputs = [Path(p) for p in args.inputs]
    if args.example and inputs:
        raise ConfigError("analyze: give input files or --example, not both")
    if not args.example and not inputs:
        raise ConfigError("analyze: give NWB, .nc or .npz files, a run directory, or --example")
    arrays = [p for p in inputs if p.suffix in (".nc", ".npz") or p.is_dir()]
    if arrays and len(inputs) > 1:
        raise ConfigError(f"{arrays[0]}: it holds every session; give it alone")
    out = Path(args.out or f"runs/analyze-{'example' if args.example else inputs[0].stem}")
    if args.example:
        where = out / "example"
        print(f"writing {EXAMPLE_SESSIONS} synthetic sessions to {where} ...", file=sys.stderr)
        inputs = write_example(out / "example")
    from driftlab.plots.drift_report import write_drift_report
    from driftlab.recordings.analyze import analyze, summary_lines, write_report
    from driftlab.recordings.arrays import read_arrays
    from driftlab.recordings.nwb import read_sessions

    if arrays and arrays[0].is_dir():
        from driftlab.recordings.virtual import Virtual, virtual_sessions

        how = Virtual(
            network=args.network,
            cells=args.cells,
            sessions=args.sessions,
            laps=args.laps,
            observation=args.observation,
            rate=args.rate,
            steps_per_day=args.steps_per_day,
            seed=args.seed,
        )
        sessions = virtual_sessions(arrays[0], how)
    elif arrays:
        sessions = read_arrays(arrays[0])
    else:
        from driftlab.recordings.nwb import read_cell_map

        cell_map = read_cell_map(args.cell_map) if args.cell_map else None
        sessions = read_sessions(inputs, match=args.match, series=args.series, cell_map=cell_map)
    shuffles = opts.n_shuffles
    print(f"measuring {len(sessions)} sessions ({shuffles} shuffles a cell) ...", file=sys.stderr)
    report = analyze(sessions, opts)
    paths = write_report(report, out)
    paths += write_drift_report([report], [args.label or out.name], out)
    for line in summary_lines(report):
        print(line)
    for path in paths:
        print(f"wrote {path}")
    return EXIT_OK
