"""Engine throughput: network-steps per second and GFLOP/s against a measured ceiling.

Usage (CPU, one core, as in benchmarks/RESULTS.md):

    python benchmarks/bench_engine.py
    python benchmarks/bench_engine.py --gpu          # on a machine with a GPU
    python benchmarks/bench_engine.py --json out.json

Each shape is timed with update noise (the science configuration), without it
(to show the cost of drawing the noise) and, for scale, the noise draws alone.
The ceiling is a large float32 matmul timed in the same process on the same
device (one core on a CPU), so the printed ratio is to a limit, not a bare time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


@dataclass(frozen=True)
class Shape:
    name: str
    samples: int
    d_in: int
    hidden: int
    d_out: int
    update_sd: float
    networks: int = 1


CPU_SHAPES = (
    Shape("figure-2 (H=500, 150 samples, 18->17)", 150, 18, 500, 17, 0.0139),
    Shape("sweep (H=100, 20 samples, 20->20)", 20, 20, 100, 20, 0.03),
)
GPU_SHAPES = (
    Shape("sweep x1024 vmapped", 20, 20, 100, 20, 0.03, networks=1024),
    Shape("figure-2 x64 vmapped", 150, 18, 500, 17, 0.0139, networks=64),
    Shape("sweep x1 (loop overhead)", 20, 20, 100, 20, 0.03),
)


def _best_time(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_ceiling(size: int, repeats: int = 5) -> float:
    """GFLOP/s of a (size x size) @ (size x size) float32 matmul at full precision."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    mm = jax.jit(lambda u: jnp.matmul(u, u, precision=lax.Precision.HIGHEST))
    mm(a).block_until_ready()
    t = _best_time(lambda: mm(a).block_until_ready(), repeats)
    return 2 * size**3 / t / 1e9


def bench_shape(
    shape: Shape,
    steps: int,
    *,
    noise: bool,
    generator: str = "hash",
    static: bool = False,
    unroll: int = 1,
) -> float:
    """Network-steps per second of the engine's chunk for ``shape``.

    ``static``: a fixed-length ``lax.scan`` chunk of ``steps`` steps instead of the
    dynamic-length loop.
    """
    import jax
    import jax.numpy as jnp

    from driftlab.model import init_params
    from driftlab.simulate import EngineSpec, Hyper, init_state, make_chunk, make_streams

    spec = EngineSpec(update_noise=noise, generator=generator)
    keys = jax.random.split(jax.random.key(0), shape.networks)
    states, streams = [], []
    for k in keys:
        p = init_params(k, shape.d_in, shape.hidden, shape.d_out, regime="rich")
        states.append(init_state(spec, p, 0.1))
        streams.append(make_streams(generator, k))
    state = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
    stream = jax.tree.map(lambda *xs: jnp.stack(xs), *streams)
    b = shape.networks
    x = jax.random.uniform(keys[0], (b, shape.samples, shape.d_in))
    y = jax.random.uniform(keys[-1], (b, shape.samples, shape.d_out))
    ones = jnp.ones(b)
    hyper = Hyper(
        lr=0.1 * ones, update_sd=shape.update_sd * ones, label_scale=0 * ones, input_sd=0 * ones
    )
    chunk = make_chunk(spec, static_steps=steps if static else None, unroll=unroll)
    out = chunk(state, x, y, hyper, stream, jnp.int32(10))  # compile
    jax.block_until_ready(out)

    def go() -> None:
        jax.block_until_ready(chunk(state, x, y, hyper, stream, jnp.int32(steps)))

    return steps * b / _best_time(go, 3)


def bench_noise(n: int, steps: int, generator: str) -> float:
    """Standard normals per second from the engine's generator, n per step."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    from driftlab import noise

    stream = noise.make_stream(generator, jax.random.key(0))  # type: ignore[arg-type]

    @jax.jit
    def draw(k: jax.Array) -> jax.Array:
        def body(t: jax.Array, acc: jax.Array) -> jax.Array:
            return acc + noise.normal(generator, k, t, (n,))  # type: ignore[arg-type]

        return lax.fori_loop(0, steps, body, jnp.zeros(n))

    draw(stream).block_until_ready()
    return n * steps / _best_time(lambda: draw(stream).block_until_ready(), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="benchmark the default GPU device")
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one CPU core")
    parser.add_argument("--seconds", type=float, default=2.0, help="target seconds per timing")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    if not args.gpu and not args.all_cores:
        from driftlab.cpu import limit_cpus

        limit_cpus(1)
    import jax

    from driftlab.model import flops_per_step, n_params

    device = jax.devices()[0]
    print(f"device: {device.device_kind} ({device.platform}), jax {jax.__version__}")
    ceiling = matmul_ceiling(8192 if args.gpu else 2048)
    print(f"ceiling: float32 matmul {ceiling:,.0f} GFLOP/s (full precision)")
    results: dict[str, Any] = {
        "device": device.device_kind,
        "ceiling_gflops": ceiling,
        "shapes": [],
    }
    shapes = GPU_SHAPES if args.gpu else CPU_SHAPES
    for shape in shapes:
        flops = flops_per_step(shape.samples, shape.d_in, shape.hidden, shape.d_out)
        # calibrate the step count to about args.seconds
        probe = bench_shape(shape, 200, noise=True)
        steps = max(200, int(probe * args.seconds / shape.networks))
        row: dict[str, Any] = {"shape": shape.name, "networks": shape.networks, "steps": steps}
        variants: list[tuple[str, bool, bool, int]] = [
            ("noise", True, False, 1),
            ("no_noise", False, False, 1),
        ]
        if args.gpu:
            variants += [
                ("noise_static_scan", True, True, 1),
                ("noise_static_unroll8", True, True, 8),
            ]
        for label, noisy, static, unroll in variants:
            rate = bench_shape(shape, steps, noise=noisy, static=static, unroll=unroll)
            gflops = rate * flops / 1e9
            row[label] = {"network_steps_per_s": rate, "gflops": gflops, "ratio": gflops / ceiling}
        p = n_params(shape.d_in, shape.hidden, shape.d_out)
        if shape.networks == 1:
            normals = bench_noise(p, max(200, steps // 4), "hash")
            row["noise_ns_per_normal"] = 1e9 / normals
            row["noise_share"] = p / normals * row["noise"]["network_steps_per_s"]
        results["shapes"].append(row)
        n, q = row["noise"], row["no_noise"]
        for extra in ("noise_static_scan", "noise_static_unroll8"):
            if extra in row:
                print(
                    f"  {extra}: {row[extra]['network_steps_per_s']:,.0f} network-steps/s "
                    f"({100 * row[extra]['ratio']:.2f}% of ceiling)"
                )
        print(
            f"{shape.name}: {n['network_steps_per_s']:,.0f} network-steps/s with update noise "
            f"({n['gflops']:.1f} GFLOP/s, {100 * n['ratio']:.1f}% of ceiling); "
            f"{q['network_steps_per_s']:,.0f} without noise ({100 * q['ratio']:.1f}%)"
            + (
                f"; noise {row['noise_ns_per_normal']:.2f} ns/normal = "
                f"{100 * row['noise_share']:.0f}% of a noisy step"
                if "noise_share" in row
                else ""
            )
        )
    if not args.gpu:
        for gen in ("hash", "threefry"):
            rate = bench_noise(18_000, 2000, gen)
            results[f"noise_{gen}_ns"] = 1e9 / rate
            print(
                f"normal draws, generator {gen!r}: {1e9 / rate:.2f} ns per number (18,000 a step)"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
