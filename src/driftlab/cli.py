"""The ``driftlab`` command line: argument parsing, progress, exit codes; no science.

Exit codes: 0 success, 1 a run diverged or failed, 2 bad input (config, arguments).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


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
        help="start from a named preset: quick (the default without a config file), fig2",
    )
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one field, e.g. --set train.steps=5000 --set noise.update.sd=[0.01,0.03]",
    )
    run.add_argument("--out", help="run directory (default: runs/<preset-or-config>-<hash>)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--no-figures", action="store_true", help="do not write Figure 2 next to the run"
    )
    run.add_argument(
        "--cpus",
        type=_cpus,
        default=os.environ.get("DRIFTLAB_CPUS", "1"),
        help="CPU cores this process may use (default 1, fastest for one small network; 'all')",
    )
    fig = sub.add_parser(
        "figure",
        help="draw a paper figure from a run directory",
        description="Draw a paper figure from stored results (never runs a simulation).",
    )
    fig.add_argument("name", choices=FIGURES, help="which figure: fig2 (Figure 2 B-E)")
    fig.add_argument("run_dir", help="a run directory written by 'driftlab run'")
    fig.add_argument("--out", help="folder for the PNG and PDF (default: RUN_DIR/figures)")
    fig.add_argument("--network", type=int, default=0, help="which network of a batch (default 0)")
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
    gen.add_argument("--seeds", type=int, default=3, help="networks per condition (default 3)")
    gen.add_argument("--quiet", action="store_true", help="no progress bars")
    gen.add_argument("--cpus", type=_cpus, default=os.environ.get("DRIFTLAB_CPUS", "1"))
    return parser


FIGURES = ("fig2",)


def _default_out(config: str | None, preset: str | None, digest: str) -> Path:
    stem = Path(config).stem if config else (preset or "quick")
    return Path("runs") / f"{stem}-{digest}"


def _cmd_run(args: argparse.Namespace) -> int:
    from driftlab.cpu import limit_cpus

    if args.cpus:
        limit_cpus(args.cpus)
    from driftlab.config import ConfigError, resolve
    from driftlab.run import config_hash, execute

    try:
        cfg = resolve(args.config, preset=args.preset, overrides=args.overrides)
        out = (
            Path(args.out) if args.out else _default_out(args.config, args.preset, config_hash(cfg))
        )
        n_networks = len(cfg.batch())
        base = args.preset or ("defaults" if args.config else "quick")
        print(
            f"driftlab: {n_networks} network{'s' if n_networks > 1 else ''}, "
            f"{cfg.train.steps:,} steps ({base} + {args.config or 'no file'}"
            f"{' + --set' if args.overrides else ''}) -> {out}",
            file=sys.stderr,
        )
        result = execute(cfg, out, progress=not args.quiet)
    except ConfigError as err:
        print(f"driftlab: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    _summarise(result.out_dir)
    corridor = cfg.task.name == "corridor"
    if not args.no_figures and result.status == "complete" and cfg.record.hidden and corridor:
        from driftlab.plots import write_fig2

        try:
            paths = write_fig2(result.out_dir)
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


def _summarise(out_dir: Path) -> None:
    from driftlab.run import load_run

    ts = load_run(out_dir)["timeseries"]
    first, last = ts.isel(time=0), ts.isel(time=-1)
    print(f"run directory: {out_dir}")
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


def _cmd_figure(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if not (run_dir / "timeseries.nc").is_file():
        print(
            f"driftlab: error: run_dir '{run_dir}': not a driftlab run directory "
            "(no timeseries.nc)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from driftlab.plots import write_fig2

    try:
        paths = write_fig2(run_dir, args.out, network=args.network)
    except (FileNotFoundError, ValueError) as err:
        print(f"driftlab: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    for path in paths:
        print(f"wrote {path}")
    return EXIT_OK


def _cmd_generality(args: argparse.Namespace) -> int:
    from driftlab.cpu import limit_cpus

    if args.cpus:
        limit_cpus(args.cpus)
    if args.steps < 1 or args.seeds < 1:
        print("driftlab: error: --steps and --seeds: expected positive integers", file=sys.stderr)
        return EXIT_USAGE
    from driftlab.reproduce import run_generality

    paths = run_generality(
        args.out,
        steps=args.steps,
        seeds=args.seeds,
        progress=not args.quiet,
        log=lambda line: print(line, file=sys.stderr),
    )
    print(f"figure: {paths[0]}  (and .pdf)")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "generality":
        return _cmd_generality(args)
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "figure":
        return _cmd_figure(args)
    return EXIT_USAGE  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
