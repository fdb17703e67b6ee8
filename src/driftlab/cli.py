"""The ``driftlab`` command line: argument parsing, progress, exit codes; no science.

Every error a user can cause is one line on stderr and an exit code
(:mod:`driftlab.errors`): 0 success, 1 every network diverged, 2 bad input
(config, arguments, ``--out``, a damaged run directory), 3 the run directory is
in use by another process, 4 a file could not be written during the run, 130
Ctrl-C and 143 SIGTERM (both stop after a checkpoint; rerun to resume).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from driftlab.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_OK,
    EXIT_USAGE,
    DriftlabError,
    RunInterruptedError,
)

MAX_MESSAGE = 600  # characters of an error message shown


def _cpus(text: str) -> int:
    if text == "all":
        return 0
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"--cpus: expected a positive integer or 'all', got {text!r}"
        )
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text[:40]!r}")
    return value


def _add_run_options(parser: argparse.ArgumentParser, example: str, *, figure: str) -> None:
    """The options every training command shares: --set, --out, --quiet, --no-figures, --cpus."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one field, e.g. {example}",
    )
    parser.add_argument("--out", help="run directory (default: runs/<preset-or-config>-<hash>)")
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    parser.add_argument(
        "--check",
        action="store_true",
        help="validate the config and print what would run; train nothing, write nothing",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="delete the run already in --out (this config's or another's) and start over",
    )
    parser.add_argument(
        "--no-figures", action="store_true", help=f"do not write {figure} next to the run"
    )
    parser.add_argument(
        "--cpus",
        type=_cpus,
        default=os.environ.get("DRIFTLAB_CPUS", "1"),
        help="CPU cores this process may use (default 1, fastest for one small network; 'all')",
    )
    _add_engine_option(parser)


def _add_engine_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--engine",
        choices=("auto", "jax", "fused"),  # driftlab.engines.ENGINES (which imports JAX)
        help="feed-forward engine: jax (the reference, any device), fused (numba on one CPU "
        "core, same trajectories to rounding) or auto (default: the faster for the run; "
        "environment variable DRIFTLAB_ENGINE)",
    )


def _add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """Where a sweep's runs train (``sweep``, and every sweep of ``reproduce``)."""
    parser.add_argument(
        "--backend",
        choices=("local", "dask"),
        default="local",
        help="local: worker processes on this machine (default); dask: a Dask LocalCluster, "
        "or the cluster of --scheduler",
    )
    parser.add_argument(
        "--workers", type=_positive, help="worker processes (default: one per core)"
    )
    parser.add_argument(
        "--scheduler",
        help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 (implies "
        "--backend dask; OUT must be on a file system the workers share)",
    )
    parser.add_argument(
        "--pack",
        type=_positive,
        default=0,
        help="train up to N runs of one padded shape as one vmapped program (for a GPU, "
        "e.g. --pack 1024 --workers 1; off by default: on a CPU each run alone is faster)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    _add_engine_option(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="driftlab",
        description="Representational drift as implicit regularisation: simulate and measure.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="train networks with noisy learning into a run directory (resumable)",
        description=(
            "Train from a YAML/TOML config (default: the 'quick' preset). Rerunning the "
            "same command resumes an interrupted run."
        ),
    )
    run.add_argument(
        "config",
        nargs="?",
        help="YAML or TOML config file; its fields override --preset if given, else the "
        "built-in defaults (Figure 2's network without noise)",
    )
    run.add_argument(
        "--preset",
        help="start from a named preset: quick (the default without a config file), fig2, "
        "fig2_authors, fig4_update, fig4_label",
    )
    _add_run_options(
        run, "--set train.steps=5000 --set noise.update.sd=[0.01,0.03]", figure="Figure 2"
    )
    fig = sub.add_parser(
        "figure",
        help="draw a paper figure from a run or sweep directory",
        description=(
            "Draw a paper figure: fig2, fig3c and fig4 B-D from stored runs; fig3 (3A-B), "
            "fig5b, s1 and s2 from a sweep directory ('driftlab sweep'); fig4's panel A "
            "and xy-drift simulate their two-dimensional landscapes on the spot (seconds)."
        ),
    )
    fig.add_argument(
        "name",
        choices=FIGURES,
        help="fig2 (Figure 2 B-E of a corridor run), fig3 (Figure 3A-B of a sweep: table1 "
        "or noise_scan), fig5b (nonzero Hessian eigenvalues against active units, a sweep "
        "with Hessian records), s1 / s2 (time courses per algorithm / update vs label "
        "noise, a sweep), fig3c (Figure 3C of a 'driftlab hebbian' "
        "run), fig4 (Figure 4: A valley, B-C from a "
        "run with Hessian records, D from --label-run), xy-drift (the (x y)^2 drift against "
        "theory; no run needed), drift-report (the drift statistics of one or several "
        "'driftlab analyze' folders side by side)",
    )
    fig.add_argument(
        "run_dir",
        nargs="*",
        help="a run directory written by 'driftlab run' (fig2, fig4), a sweep directory "
        "written by 'driftlab sweep' (fig3, fig5b, s1, s2), or 'driftlab analyze' folders "
        "(drift-report)",
    )
    fig.add_argument(
        "--kept-only",
        action="store_true",
        help="fig3, fig5b, s1, s2: only the runs the authors' filter keeps",
    )
    fig.add_argument("--out", help="folder for the PNG and PDF (default: RUN_DIR/figures)")
    fig.add_argument("--network", type=int, default=0, help="which network of a batch (default 0)")
    fig.add_argument(
        "--place",
        choices=("shuffle", "raw"),
        help="fig2: place units of panels C-E: shuffle (default; shuffle-tested, "
        "shuffle-corrected SI) or raw (SI > 0.01 bits, the paper's measure)",
    )
    fig.add_argument(
        "--loss",
        choices=("mean_estimator", "authors"),
        help="fig2: panel B's log loss: mean_estimator (default; 0 = the mean estimator) "
        "or authors (the authors' Fig. 2B convention)",
    )
    fig.add_argument(
        "--label-run",
        help="fig4: run with label noise and Hessian records for panel D (default: RUN_DIR)",
    )
    fig.add_argument(
        "--times",
        help="fig4: the two Hessian record steps of panel C, e.g. 21737,200000 "
        "(default: the record nearest a tenth of the last, and the last)",
    )
    heb = sub.add_parser(
        "hebbian",
        help="train the Hebbian/anti-Hebbian similarity-matching network (Figure 3C; resumable)",
        description=(
            "Noisy Hebbian/anti-Hebbian plasticity in the non-negative similarity-matching "
            "network of Qin et al. (2023), as in Figure 3C. Rerunning resumes."
        ),
    )
    heb.add_argument(
        "config", nargs="?", help="YAML or TOML config file (fields override --preset)"
    )
    heb.add_argument(
        "--preset",
        help="hebbian_ring (the default: 100 neurons, ring inputs) or hebbian_place "
        "(200 place cells from 270 grid-cell slices)",
    )
    _add_run_options(
        heb, "--set train.sigma=[0,0.001] --set network.neurons=200", figure="Figure 3C"
    )
    gen = sub.add_parser(
        "generality",
        help="train every learning rule and noise on a small task; one comparison figure",
        description=(
            "The generality experiment (Table 1, Figure 3A): GD with and without update "
            "or label noise, Adam, RMSprop and SED on a random task; resumable."
        ),
    )
    gen.add_argument("--out", default="runs/generality", help="folder (default runs/generality)")
    gen.add_argument("--steps", type=int, default=300_000, help="steps per run (default 3e5)")
    gen.add_argument(
        "--long-steps",
        type=int,
        default=10_000_000,
        help="steps for the slow learner, SED (default 1e7, the paper's run length)",
    )
    gen.add_argument("--seeds", type=int, default=3, help="networks per condition (default 3)")
    gen.add_argument("--quiet", action="store_true", help="no progress bars")
    gen.add_argument("--cpus", type=_cpus, default=os.environ.get("DRIFTLAB_CPUS", "1"))
    plan = sub.add_parser(
        "plan",
        help="expand a sweep spec into its runs and list them (writes nothing)",
        description=(
            "Read a sweep spec (YAML/TOML: base config, varied fields, weighted branches, "
            "count, seed), expand it deterministically and print one line per run: its id "
            "(a hash of its resolved config), branch and the values of its varied fields."
        ),
    )
    plan.add_argument(
        "spec",
        help="sweep spec file (YAML or TOML), or a preset: table1 (Table 1's random set), "
        "noise_scan (Figure 3B), update_vs_label (Figure S2), hessians (Figure 5B)",
    )
    plan.add_argument(
        "--steps", type=_positive, help="steps of every run (shrinks a sweep for a laptop)"
    )
    plan.add_argument("--count", type=_positive, help="number of runs (replaces the spec's)")
    sweep = sub.add_parser(
        "sweep",
        help="run a sweep (many runs from a spec) on this machine or a Dask cluster",
        description=(
            "Plan a sweep spec or preset, run every run not yet finished (one resumable run "
            "directory each, under OUT/runs), then rebuild OUT/summary.parquet (a row per run) "
            "and OUT/timecourses.nc. Rerun the same command to continue after a stop or a "
            "crash: finished runs are read, not recomputed. 'driftlab sweep summary OUT' "
            "prints the per-group table (median and quartiles per algorithm and noise)."
        ),
    )
    sweep.add_argument(
        "spec",
        help="sweep spec file (YAML or TOML), or a preset: table1, noise_scan, update_vs_label, "
        "hessians; "
        "or 'summary' followed by a sweep directory",
    )
    sweep.add_argument("sweep_dir", nargs="?", help="with 'summary': the sweep directory")
    sweep.add_argument("--out", help="sweep directory (default: sweeps/NAME-HASH of the plan)")
    sweep.add_argument(
        "--steps", type=_positive, help="steps of every run (shrinks a sweep for a laptop)"
    )
    sweep.add_argument("--count", type=_positive, help="number of runs (replaces the spec's)")
    _add_sweep_options(sweep)
    sweep.add_argument(
        "--kept-only",
        action="store_true",
        help="summary: only runs the authors' filter keeps (column authors_filter_kept)",
    )
    from driftlab.reproduce.scales import SCALE_NAMES
    from driftlab.reproduce.stages import FIGURES as REPRODUCE_FIGURES

    rep = sub.add_parser(
        "reproduce",
        help="run every experiment of the paper, draw every figure, report every claim",
        description=(
            "Run the experiments behind Figures 2, 3A-C, 4, 5B, S1, S2 and the (x y)^2 drift "
            "(resumable runs and sweeps under OUT), draw the figures, and write OUT/report.html "
            "(self-contained) and OUT/report.md: each claim of the paper with driftlab's "
            "measurement and a verdict. Rerun the same command to continue after a stop."
        ),
    )
    rep.add_argument(
        "--scale",
        choices=SCALE_NAMES,
        default="laptop",
        help="smoke (every code path, about 1.5 minutes on one core), laptop (default: about "
        "40 minutes on 2 cores, every claim decidable), paper (the paper's sizes)",
    )
    rep.add_argument("--out", help="folder of the job (default: runs/reproduce-SCALE)")
    rep.add_argument(
        "--only",
        metavar="FIG,...",
        help="only these figures (and their claims): " + ", ".join(REPRODUCE_FIGURES),
    )
    _add_sweep_options(rep)
    from driftlab.cli_analyze import add_parser as add_analyze

    add_analyze(sub)
    return parser


FIGURES = ("fig2", "fig3", "fig3c", "fig4", "fig5b", "s1", "s2", "xy-drift", "drift-report")
SWEEP_FIGURES = ("fig3", "fig5b", "s1", "s2")


def _default_out(config: str | None, preset: str | None, digest: str) -> Path:
    stem = Path(config).stem if config else (preset or "quick")
    return Path("runs") / f"{stem}-{digest}"


def _cmd_run(args: argparse.Namespace) -> int:
    from driftlab.cpu import limit_cpus

    if args.cpus:
        limit_cpus(args.cpus)
    from driftlab.config import (
        check_resources,
        config_hash,
        config_layers,
        describe_noise,
        field_source,
        resolve,
    )
    from driftlab.run import execute

    cfg = resolve(args.config, preset=args.preset, overrides=args.overrides)
    check_resources(cfg)
    out = Path(args.out) if args.out else _default_out(args.config, args.preset, config_hash(cfg))
    n_networks = cfg.n_networks
    base = args.preset or ("defaults" if args.config else "quick")

    layers = config_layers(args.config, preset=args.preset, overrides=args.overrides)

    def source(path: str) -> str:
        return field_source(path, layers)

    print(f"driftlab: {describe_noise(cfg, source)}", file=sys.stderr)
    print(
        f"driftlab: {n_networks} network{'s' if n_networks > 1 else ''}, "
        f"{cfg.train.steps:,} steps ({base} + {args.config or 'no file'}"
        f"{' + --set' if args.overrides else ''}) -> {out}",
        file=sys.stderr,
    )
    if args.check:
        return _checked(cfg, out)
    result = execute(cfg, out, progress=not args.quiet, restart=args.restart)
    _summarise(result.out_dir)
    corridor = cfg.task.name == "corridor"
    if not args.no_figures and result.status == "complete" and cfg.record.hidden and corridor:
        from driftlab.experiments import fig2

        place, loss = fig2.conventions(args.preset)
        try:
            paths = fig2.draw(result.out_dir, place=place, loss=loss)
        except ValueError as err:  # e.g. network 0 diverged and left no rate maps
            print(f"driftlab: no figure for network 0: {err}", file=sys.stderr)
        else:
            print(f"figure: {paths[0]}  (and .pdf)")
            if n_networks > 1:
                print(f"  (network 0; others: driftlab figure fig2 {result.out_dir} --network N)")
    if result.status == "diverged":
        print(
            f"driftlab: every network diverged; see {result.out_dir / 'status.json'}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _checked(cfg: Any, out: Path) -> int:
    """``--check``: what the valid config ``cfg`` would take; nothing is written."""
    from driftlab.config import config_hash
    from driftlab.config.schema import show_bytes

    need = cfg.resources()
    print(
        f"config is valid: {config_hash(cfg)} -> {out}; about {show_bytes(need.memory_bytes)} "
        f"of memory, {show_bytes(need.disk_bytes)} on disk"
    )
    return EXIT_OK


def _summarise(out_dir: Path) -> None:
    from driftlab.rundir import load_run, read_status

    ts = load_run(out_dir)["timeseries"]
    first, last = ts.isel(time=0), ts.isel(time=-1)
    engine = read_status(out_dir).get("engine")
    print(f"run directory: {out_dir}" + (f" (engine: {engine})" if engine else ""))
    for i in range(ts.sizes["network"]):
        f, la = first.isel(network=i), last.isel(network=i)
        print(
            f"  network {i}: step {int(la.step)}: log10 loss/var {float(la.log_loss):+.2f}, "
            f"active units {float(f.active_units):.2f} -> {float(la.active_units):.2f}, "
            f"active pairs {float(f.active):.2f} -> {float(la.active):.2f}"
            + (
                f"  [diverged at step {int(la.diverged_step)}: {la.diverged_reason.values!s}]"
                if int(la.diverged_step) >= 0
                else ""
            )
        )
    if "spike_network" in ts and ts.sizes.get("spike", 0):
        for n, start, end, peak in zip(
            ts.spike_network.values,
            ts.spike_start.values,
            ts.spike_end.values,
            ts.spike_peak.values,
            strict=True,
        ):
            print(
                f"  transient spike tolerated: network {n}, steps {start}-{end}, peak log10 "
                f"loss/var {peak:+.2f} (train.divergence {ts.attrs['divergence_rule']})"
            )


def one_line(message: str) -> str:
    """``message`` as one printable line of at most :data:`MAX_MESSAGE` characters."""
    text = " ".join("".join(c if c.isprintable() else " " for c in message).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def _usage_error(message: str) -> int:
    print(f"driftlab: error: {one_line(message)}", file=sys.stderr)
    return EXIT_USAGE


def _run_dir(text: str | None, what: str) -> Path:
    """The path of a run directory; ValueError with a one-line reason if it is not one."""
    if text is None:
        raise ValueError(
            f"{what}: required for this figure (a run directory written by 'driftlab run')"
        )
    path = Path(text)
    if not (path / "timeseries.nc").is_file():
        raise ValueError(f"{what} '{path}': not a driftlab run directory (no timeseries.nc)")
    return path


def _times(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(
            f"--times: expected two steps separated by a comma, e.g. 1000,200000; got {text!r}"
        )
    return int(parts[0]), int(parts[1])


def _cmd_figure(args: argparse.Namespace) -> int:
    if args.name == "drift-report":
        return _draw_drift_report(args.run_dir, args.out)
    if len(args.run_dir) > 1:
        return _usage_error(f"figure {args.name}: takes one directory, got {len(args.run_dir)}")
    args.run_dir = args.run_dir[0] if args.run_dir else None
    extra = [
        flag
        for flag, value, used_by in (
            ("--label-run", args.label_run, ("fig4",)),
            ("--times", args.times, ("fig4",)),
            ("--place", args.place, ("fig2",)),
            ("--loss", args.loss, ("fig2",)),
            ("run_dir", args.run_dir, ("fig2", "fig3c", "fig4", *SWEEP_FIGURES)),
            ("--kept-only", args.kept_only or None, SWEEP_FIGURES),
        )
        if value is not None and args.name not in used_by
    ]
    if extra:
        return _usage_error(f"{extra[0]}: does not apply to figure {args.name}")
    if args.name == "xy-drift":
        from driftlab.experiments.landscapes import run_xy_drift

        out = Path(args.out or "runs/xy-drift")
        print("simulating noisy GD on (x y)^2 and its control ...", file=sys.stderr)
        paths = run_xy_drift(out)
    elif args.name in SWEEP_FIGURES:
        from driftlab.sweep.figures import draw

        if args.run_dir is None:
            return _usage_error(f"figure {args.name}: give a sweep directory ('driftlab sweep')")
        try:
            paths = draw(args.name, args.run_dir, args.out, kept_only=args.kept_only)
        except ValueError as err:
            return _usage_error(str(err))
    else:
        try:
            paths = _draw_run_figure(args, _run_dir(args.run_dir, "run_dir"))
        except (FileNotFoundError, ValueError) as err:
            return _usage_error(str(err))
    for path in paths:
        print(f"wrote {path}")
    return EXIT_OK


def _draw_drift_report(folders: list[str], out: str | None) -> int:
    """``driftlab figure drift-report DIR...``: 'driftlab analyze' reports side by side."""
    from driftlab.plots.drift_report import write_drift_report
    from driftlab.recordings.analyze import read_report

    if not folders:
        return _usage_error("figure drift-report: give one or more 'driftlab analyze' folders")
    reports = []
    for folder in folders:
        if not (Path(folder) / "sessions.csv").is_file():
            return _usage_error(f"{folder}: no sessions.csv (not a 'driftlab analyze' folder)")
        reports.append(read_report(folder))
    target = Path(out) if out else Path(folders[0])
    for path in write_drift_report(reports, [Path(f).name for f in folders], target):
        print(f"wrote {path}")
    return EXIT_OK


def _draw_run_figure(args: argparse.Namespace, run_dir: Path) -> list[Path]:
    if args.name == "fig2":
        from driftlab.experiments import fig2

        return fig2.draw(
            run_dir,
            args.out,
            network=args.network,
            place=args.place or "shuffle",
            loss=args.loss or "mean_estimator",
        )
    if args.name == "fig3c":
        from driftlab.experiments import fig3c

        return fig3c.draw(run_dir, args.out, network=args.network)
    from driftlab.experiments import fig4

    label_run = None if args.label_run is None else _run_dir(args.label_run, "--label-run")
    return fig4.draw(
        run_dir,
        args.out,
        label_run=label_run,
        network=args.network,
        times=_times(args.times),
        log=lambda line: print(f"driftlab: {line}", file=sys.stderr),
    )


def _cmd_generality(args: argparse.Namespace) -> int:
    from driftlab.cpu import limit_cpus

    if args.cpus:
        limit_cpus(args.cpus)
    from driftlab.config import MAX_STEPS

    for flag, value in (("--steps", args.steps), ("--long-steps", args.long_steps)):
        if not 1 <= value <= MAX_STEPS:
            print(
                f"driftlab: error: {flag}: expected an integer in [1, {MAX_STEPS}], got {value}",
                file=sys.stderr,
            )
            return EXIT_USAGE
    if args.seeds < 1:
        print(
            f"driftlab: error: --seeds: expected a positive integer, got {args.seeds}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from driftlab.experiments.generality import run_generality

    paths = run_generality(
        args.out,
        steps=args.steps,
        long_steps=args.long_steps,
        seeds=args.seeds,
        progress=not args.quiet,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"figure: {paths[0]}  (and .pdf)")
    return EXIT_OK


def _cmd_hebbian(args: argparse.Namespace) -> int:
    from driftlab.cpu import limit_cpus

    if args.cpus:
        limit_cpus(args.cpus)
    from driftlab.config import check_resources, config_hash
    from driftlab.hebbian.config import resolve_hebbian
    from driftlab.hebbian.run import execute_hebbian, summarise_hebbian

    cfg = resolve_hebbian(args.config, preset=args.preset, overrides=args.overrides)
    check_resources(cfg)
    stem = Path(args.config).stem if args.config else (args.preset or "hebbian_ring")
    out = Path(args.out) if args.out else Path("runs") / f"{stem}-{config_hash(cfg)}"
    print(f"driftlab hebbian: {cfg.train.steps:,} plasticity steps -> {out}", file=sys.stderr)
    if args.check:
        return _checked(cfg, out)
    result = execute_hebbian(cfg, out, progress=not args.quiet, restart=args.restart)
    print("\n".join(summarise_hebbian(result.out_dir)))
    if not args.no_figures and result.status == "complete":
        from driftlab.experiments import fig3c

        paths = fig3c.draw(result.out_dir)
        print(f"figure: {paths[0]}  (and .pdf)")
    if result.status == "diverged":
        print(f"driftlab: the run diverged; see {result.out_dir / 'status.json'}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _print_notices() -> None:
    """Show a run's notices (driftlab.run.RunNotice) as one line each, not as warnings."""
    import warnings

    from driftlab.storage import RunNotice

    default = warnings.showwarning

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(category, type) and issubclass(category, RunNotice):
            print(f"driftlab: notice: {message}", file=sys.stderr)
        else:
            default(message, category, *args, **kwargs)

    warnings.showwarning = show


def _use_file_backend() -> None:
    """The command line writes figures to files: matplotlib's non-interactive Agg
    backend (the library never chooses a backend; a notebook keeps its own)."""
    import matplotlib

    matplotlib.use("Agg")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = None if argv is None else list(argv)
    _use_file_backend()
    if getattr(args, "engine", None):  # read by every run, worker processes included
        os.environ["DRIFTLAB_ENGINE"] = args.engine
    if args.command in ("run", "generality", "hebbian", "reproduce"):
        _print_notices()
    try:
        if os.environ.get("DRIFTLAB_ENGINE"):  # a bad value fails here, not in every worker
            from driftlab.engines import requested_engine

            requested_engine()
        return _dispatch(args)
    except RunInterruptedError as err:
        print(f"driftlab: {one_line(str(err))}", file=sys.stderr)
        return err.exit_code
    except DriftlabError as err:
        print(f"driftlab: error: {one_line(str(err))}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:  # before training started, or a second Ctrl-C
        print(
            "driftlab: interrupted; rerun the same command to resume from the last checkpoint",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except OSError as err:  # e.g. a figure on a full disk; a run's own files are RunIOError
        where = f": '{err.filename}'" if err.filename else ""
        print(f"driftlab: error: {one_line(str(err.strerror or err))}{where}", file=sys.stderr)
        return EXIT_IO


def _cmd_plan(args: argparse.Namespace) -> int:
    from driftlab.sweep.spec import describe, expand, load_spec

    spec = load_spec(args.spec, steps=args.steps, count=args.count)
    runs = expand(spec)
    per_branch: dict[str, int] = {}
    for run in runs:
        per_branch[run.branch] = per_branch.get(run.branch, 0) + 1
    steps = sum(run.config.train.steps * run.config.n_networks for run in runs)
    shares = ", ".join(f"{name} {n:,}" for name, n in per_branch.items())
    print(f"sweep '{spec.name}': {len(runs):,} runs ({shares}), {steps:,} network-steps")
    print("\n".join(describe(runs)))
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace) -> int:
    if args.spec == "summary":
        return _cmd_sweep_summary(args)
    if args.sweep_dir is not None:
        return _usage_error(
            f"{args.sweep_dir}: unexpected argument (only 'summary' takes a folder)"
        )
    if args.kept_only:
        return _usage_error("--kept-only: applies to 'driftlab sweep summary' only")
    import hashlib

    from driftlab.sweep.execute import run_sweep
    from driftlab.sweep.spec import expand, load_spec

    spec = load_spec(args.spec, steps=args.steps, count=args.count)
    runs = expand(spec)
    digest = hashlib.sha256(" ".join(r.id for r in runs).encode()).hexdigest()[:8]
    out = Path(args.out or f"sweeps/{spec.name}-{digest}")
    steps = sum(r.config.train.steps * r.config.n_networks for r in runs)
    print(f"driftlab: sweep '{spec.name}': {len(runs):,} runs, {steps:,} network-steps -> {out}")
    outcome = run_sweep(
        spec.name,
        runs,
        out,
        backend=args.backend,
        workers=args.workers,
        scheduler=args.scheduler,
        progress=not args.quiet,
        pack=args.pack,
    )
    print(
        f"sweep '{spec.name}': {outcome.complete:,} complete, {outcome.diverged:,} diverged, "
        f"{outcome.failed:,} failed of {outcome.runs:,} runs ({outcome.skipped:,} were already "
        f"finished)"
    )
    if outcome.summary is not None:
        print(f"summary: {outcome.summary}")
    if outcome.failed:
        print(
            f"driftlab: {outcome.failed:,} runs failed (their errors: {out}/attempts/ and the "
            "summary's reason column); rerun the same command to try them again",
            file=sys.stderr,
        )
    if outcome.exit_code == EXIT_INTERRUPTED:
        print("driftlab: stopped; rerun the same command to continue", file=sys.stderr)
    return outcome.exit_code


def _cmd_sweep_summary(args: argparse.Namespace) -> int:
    if args.sweep_dir is None:
        return _usage_error(
            "sweep summary: give the sweep directory, e.g. sweeps/noise_scan-1a2b3c4d"
        )
    from driftlab.sweep import store
    from driftlab.sweep.groups import group_table
    from driftlab.sweep.summary import write_summary

    out = Path(args.sweep_dir)
    store.read_plan(out)  # one line when it is not a sweep directory
    import pandas as pd

    path = write_summary(out)
    table = group_table(pd.read_parquet(path), kept_only=args.kept_only)
    csv = out / store.GROUPS_CSV
    table.to_csv(csv, index=False)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"summary: {path}\ngroups: {csv}")
    return EXIT_OK


def _cmd_reproduce(args: argparse.Namespace) -> int:
    import shlex

    from driftlab.reproduce.job import reproduce
    from driftlab.reproduce.report import claims_table_md, summary_line

    command = "driftlab " + shlex.join(sys.argv[1:] if args.argv is None else args.argv)
    outcome = reproduce(
        args.scale,
        args.out,
        only=args.only,
        backend=args.backend,
        workers=args.workers,
        scheduler=args.scheduler,
        pack=args.pack,
        progress=not args.quiet,
        command=command,
    )
    print(claims_table_md(outcome.claims))
    print(f"claims: {summary_line(outcome.claims)}")
    print(f"report: {outcome.html}  (and {outcome.md.name})")
    if outcome.failed:
        print(
            f"driftlab: runs of {', '.join(outcome.failed)} failed; rerun the same command to "
            "retry them",
            file=sys.stderr,
        )
    return outcome.exit_code


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "analyze":
        from driftlab.cli_analyze import run as run_analyze

        return run_analyze(args)
    if args.command == "reproduce":
        return _cmd_reproduce(args)
    if args.command == "sweep":
        return _cmd_sweep(args)
    if args.command == "plan":
        return _cmd_plan(args)
    if args.command == "hebbian":
        return _cmd_hebbian(args)
    if args.command == "generality":
        return _cmd_generality(args)
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "figure":
        return _cmd_figure(args)
    return EXIT_USAGE  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
