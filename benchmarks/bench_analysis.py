"""Analysis throughput: the Hebbian step and the Hessian records, against a measured ceiling.

Usage (CPU, pinned to one core, as in benchmarks/RESULTS.md):

    python benchmarks/bench_analysis.py [--rounds 5] [--json out.json]

Each figure is timed in interleaved rounds with the ceiling of bench_engine.py
(a 2048^2 float32 matmul on the same core) and reported as the median round's
rate and its ratio to the ceiling, with the spread. FLOP counts are estimates,
stated with each figure:

* Hebbian ring step (100 neurons, 2-D inputs, after convergence): the fixed-point
  loop costs about 2 n^2 + 8 n per iteration (lateral input M y and the updates),
  times the mean iterations per input measured on the same state, plus the
  plasticity, about 4 n d + 4 n^2.
* Dense Hessian record (corridor, H = 100, 3,600 parameters, 150 samples): P
  Hessian-vector products of about 4 forward passes each (2 N (d_in H + H d_out)
  FLOPs a pass) plus eigvalsh, counted as its tridiagonalisation, 4/3 P^3
  (float64, so the float32 ceiling overstates what is reachable).
* Lanczos record (Figure 2's network, 18,000 parameters): (80 + 100) products of 4
  forward passes, plus the reorthogonalisation, 4 k^2 P summed over k <= 80.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import interleaved, make_matmul


def make_hebbian(steps: int) -> tuple[Callable[[], None], float]:
    """A compiled chunk of the converged default ring model, and its FLOPs a step."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from driftlab.hebbian.config import resolve_hebbian
    from driftlab.hebbian.engine import make_chunk, make_population
    from driftlab.hebbian.run import prepare_hebbian

    batch = prepare_hebbian(resolve_hebbian(preset="hebbian_ring"))
    chunk = make_chunk(batch.dynamics)
    state, _ = chunk(batch.state0, batch.X, batch.hyper, batch.streams, jnp.int32(3000))
    fixed = make_population(batch.dynamics)(state.params, batch.X, batch.hyper)
    iters = float(np.mean(np.asarray(fixed.iterations)))
    n, d = (int(s) for s in np.asarray(state.params.W).shape[1:])
    flops = iters * (2 * n * n + 8 * n) + 4 * n * d + 4 * n * n
    n_steps = jnp.int32(steps)
    jax.block_until_ready(chunk(state, batch.X, batch.hyper, batch.streams, n_steps))

    def go() -> None:
        jax.block_until_ready(chunk(state, batch.X, batch.hyper, batch.streams, n_steps))

    print(f"  ring model: {n} neurons, {d}-D inputs, {iters:.0f} fixed-point iterations an input")
    return go, flops


def make_hessian(method: str, hidden: int) -> tuple[Callable[[], None], float, int]:
    """One Hessian record of a corridor network, compiled; its FLOPs and parameter count."""
    import jax
    import numpy as np

    from driftlab.config import resolve
    from driftlab.hessian.recorder import HessianOptions, hessian_record
    from driftlab.run import prepare

    batch = prepare(resolve(preset="quick", overrides=[f"model.hidden={hidden}"]))
    x, y = np.asarray(batch.x), np.asarray(batch.y)
    n_samples, d_in, d_out = x.shape[1], x.shape[2], y.shape[2]
    p = hidden * (d_in + 1 + d_out)
    cfg = HessianOptions(method=method)
    key = jax.random.key(0)
    forward = 2 * n_samples * (d_in * hidden + hidden * d_out)
    if method == "dense":
        flops = p * 4 * forward + 4 / 3 * p**3
    else:
        k = cfg.lanczos_steps
        flops = (k + cfg.hutchinson_samples) * 4 * forward + sum(4 * j * j * p for j in range(k))
    params = batch.state0.params
    hessian_record(params, x, y, activation="relu", key=key, options=cfg)  # compile

    def go() -> None:  # returns host arrays: nothing left running when it returns
        hessian_record(params, x, y, activation="relu", key=key, options=cfg)

    return go, flops, p


def report(name: str, unit: str, per_call: float, flops: float, times: Any) -> dict[str, Any]:
    t_work, t_matmul, ceiling_flops = times
    rates = [per_call / t for t in t_work]
    ratios = [
        (per_call * flops / t) / (ceiling_flops / tm)
        for t, tm in zip(t_work, t_matmul, strict=True)
    ]
    rate = statistics.median(rates)
    row = {
        "rate": rate,
        "unit": unit,
        "gflops": rate * flops / 1e9,
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "ceiling_gflops_median": statistics.median(ceiling_flops / tm / 1e9 for tm in t_matmul),
    }
    print(
        f"  {name:34s} {rate:>10,.2f} {unit}  {row['gflops']:6.2f} GFLOP/s  "
        f"ratio to ceiling {100 * row['ratio_median']:5.1f}% "
        f"[{100 * row['ratio_min']:.1f}-{100 * row['ratio_max']:.1f}%]  "
        f"(ceiling {row['ceiling_gflops_median']:,.0f} GFLOP/s)"
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per figure")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from driftlab.cpu import limit_cpus

    limit_cpus(1)
    import jax

    size = 2048
    matmul = make_matmul(size)
    ceiling = 2.0 * size**3
    device = jax.devices()[0]
    print(f"device: {device.device_kind} ({device.platform}), jax {jax.__version__}")
    results: dict[str, Any] = {"device": device.device_kind, "jax": jax.__version__}

    steps = 2000
    hebbian, flops = make_hebbian(steps)
    t_work, t_matmul = interleaved(hebbian, matmul, args.rounds)
    results["hebbian_ring"] = report(
        "Hebbian ring step", "steps/s", steps, flops, (t_work, t_matmul, ceiling)
    )
    for method, hidden in (("dense", 100), ("lanczos", 500)):
        record, flops, p = make_hessian(method, hidden)
        t_work, t_matmul = interleaved(record, matmul, args.rounds)
        results[f"hessian_{method}"] = report(
            f"Hessian record, {method}, P = {p:,}",
            "records/s",
            1,
            flops,
            (t_work, t_matmul, ceiling),
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
