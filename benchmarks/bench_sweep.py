"""Sweep throughput and per-run overhead, against ceilings measured in the same run.

Usage:

    python benchmarks/bench_sweep.py                    # 16 table1 runs of 200,000 steps
    python benchmarks/bench_sweep.py --runs 24 --steps 500000 --json out.json
    python benchmarks/bench_sweep.py --gpu --runs 1100 --steps 20000 --pack 1100
        # a GPU: the whole table1 sweep padded into one program, one worker; prints
        # network-steps/s and the projected duration of the full 10^7-step sweep

Measures, on the first ``--runs`` runs of the ``table1`` preset at ``--steps``
steps (every shape, rule and noise as the sweep has them):

1. the sweep on one worker, then on ``--workers`` workers (default: every core), each
   into a fresh directory, wall time from the command's start to its summary;
2. each run's engine rate (steps/s of its chunk loop, from its status.json) and its
   wall time in the worker (attempts/<id>.json).

Reported: the parallel efficiency, the N-worker sweep's network-steps/s over N times
the one-worker sweep's (the ceiling: N independent copies of the same work), and
over N times the runs' engine rate (the ceiling of no overhead at all); and the
per-run overhead (worker wall time less steps / engine rate: planning, compiling,
writing) as a fraction of the run's training time (steps / engine rate): run it
with ``--steps 1000000`` for the fraction of a 10^6-step run. The median over the
second half of the one-worker sweep shows the overhead once the worker's caches
of compiled shapes are warm.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def _sweep(runs: list[Any], out: Path, workers: int, pack: int = 0) -> float:
    from driftlab.sweep.execute import run_sweep

    start = time.perf_counter()
    outcome = run_sweep(
        "bench", runs, out, workers=workers, pack=pack, progress=False, summarise=lambda _: None
    )
    wall = time.perf_counter() - start
    if outcome.failed:
        raise SystemExit(f"{outcome.failed} runs failed in {out}")
    return wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="table1")
    parser.add_argument("--runs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--pack", type=int, default=0, help="pack size of the timed sweep")
    parser.add_argument(
        "--gpu", action="store_true", help="time one sweep only (with --pack) and project"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.gpu:
        return _gpu(args)
    os.environ.setdefault("DRIFTLAB_CHECKPOINT_SECONDS", "10")

    from driftlab.sweep import store
    from driftlab.sweep.execute import ordered, plan_of
    from driftlab.sweep.spec import expand, load_spec

    runs = expand(load_spec(args.preset, steps=args.steps))[: args.runs]
    order = {entry.id: i for i, entry in enumerate(ordered(plan_of("bench", runs)))}
    runs = sorted(runs, key=lambda r: order[r.id])  # the order the one worker ran them
    steps = sum(r.config.train.steps for r in runs)
    with tempfile.TemporaryDirectory() as tmp:
        one = _sweep(runs, Path(tmp) / "one", 1)
        many = _sweep(runs, Path(tmp) / "many", args.workers)
        rates, overheads, fractions = [], [], []
        for r in runs:
            status = store.read_status(Path(tmp) / "one", r.id)
            wall = store.read_attempts(Path(tmp) / "one", r.id)["wall_s"]
            rate = float(status["steps_per_second"])
            rates.append(rate)
            overhead = wall - r.config.train.steps / rate
            overheads.append(overhead)
            fractions.append(overhead / (r.config.train.steps / rate))
    engine = steps / sum(r.config.train.steps / rate for r, rate in zip(runs, rates, strict=True))
    result = {
        "preset": args.preset,
        "runs": len(runs),
        "steps_per_run": args.steps,
        "workers": args.workers,
        "one_worker_s": one,
        "n_workers_s": many,
        "one_worker_rate": steps / one,
        "n_workers_rate": steps / many,
        "engine_rate": engine,
        "efficiency_vs_one_worker": (steps / many) / (args.workers * steps / one),
        "efficiency_vs_engine": (steps / many) / (args.workers * engine),
        "overhead_s_median": statistics.median(overheads),
        "overhead_s_max": max(overheads),
        "overhead_fraction_of_run_median": statistics.median(fractions),
        "overhead_fraction_of_run_max": max(fractions),
        "overhead_s_median_second_half": statistics.median(overheads[len(overheads) // 2 :]),
        "overhead_fraction_of_run_median_second_half": statistics.median(
            fractions[len(fractions) // 2 :]
        ),
    }
    print(
        f"{args.preset}: {len(runs)} runs x {args.steps:,} steps\n"
        f"  1 worker:  {one:7.1f} s  {steps / one:10,.0f} network-steps/s\n"
        f"  {args.workers} workers: {many:7.1f} s  {steps / many:10,.0f} network-steps/s\n"
        f"  engine rate (chunk loop only, mean over runs): {engine:,.0f} steps/s\n"
        f"  parallel efficiency: {result['efficiency_vs_one_worker']:.1%} of {args.workers} x "
        f"one worker; {result['efficiency_vs_engine']:.1%} of {args.workers} x the engine rate\n"
        f"  per-run overhead: median {result['overhead_s_median']:.2f} s, max "
        f"{result['overhead_s_max']:.2f} s = median "
        f"{result['overhead_fraction_of_run_median']:.1%} (max "
        f"{result['overhead_fraction_of_run_max']:.1%}) of a run's training time\n"
        f"  the one worker's second half of runs (its caches warm): median "
        f"{result['overhead_s_median_second_half']:.2f} s = "
        f"{result['overhead_fraction_of_run_median_second_half']:.1%} of a run's training time"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def _gpu(args: argparse.Namespace) -> int:
    """One sweep of ``--runs`` runs, packed, on one worker: its throughput and the
    projected duration of the full preset at its own steps."""
    from driftlab.sweep.spec import expand, load_spec

    full = expand(load_spec(args.preset))
    full_steps = sum(r.config.train.steps for r in full)
    runs = expand(load_spec(args.preset, steps=args.steps))[: args.runs]
    steps = sum(r.config.train.steps for r in runs)
    with tempfile.TemporaryDirectory() as tmp:
        wall = _sweep(runs, Path(tmp) / "gpu", 1, args.pack)
    rate = steps / wall
    result = {
        "preset": args.preset,
        "runs": len(runs),
        "steps_per_run": args.steps,
        "pack": args.pack,
        "wall_s": wall,
        "network_steps_per_s": rate,
        "full_sweep_network_steps": full_steps,
        "projected_full_sweep_h": full_steps / rate / 3600,
    }
    print(
        f"{args.preset} on the GPU: {len(runs)} runs x {args.steps:,} steps in packs of "
        f"{args.pack}: {wall:.1f} s, {rate:,.0f} network-steps/s (compiling and writing "
        f"included); the full sweep ({full_steps:.3g} network-steps) would take "
        f"{result['projected_full_sweep_h']:.2f} h"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
