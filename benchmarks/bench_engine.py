"""Engine throughput: network-steps per second and GFLOP/s against a measured ceiling.

Usage (CPU, pinned to one core, as in benchmarks/RESULTS.md):

    python benchmarks/bench_engine.py
    python benchmarks/bench_engine.py --gpu          # on a machine with a GPU
    python benchmarks/bench_engine.py --json out.json

The ceiling is a large float32 matmul at full precision, on the same device (one
core on a CPU). Shared machines drift in speed, so each figure is measured in
interleaved rounds: the ceiling, then the engine, then the ceiling again..., and
the ratio is taken round by round; the median round is reported with the
spread. Each shape is timed with update noise (the science configuration),
without it (the cost of the noise), and with autodiff instead of the
hand-written gradient; on a GPU also as a fixed-length ``lax.scan``.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
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
    dtype: str = "float32"


CPU_SHAPES = (
    Shape("figure-2 (H=500, 150 samples, 18->17)", 150, 18, 500, 17, 0.0139),
    Shape("sweep (H=100, 20 samples, 20->20)", 20, 20, 100, 20, 0.03),
)
FLOAT64_SHAPES = tuple(
    Shape(f"{s.name} float64", s.samples, s.d_in, s.hidden, s.d_out, s.update_sd, dtype="float64")
    for s in CPU_SHAPES
)
"""The authors computed in float64: the same shapes at that precision (noise variant)."""
GRID_SAMPLES = (1, 2, 5, 10, 20)
GRID_DIMS = (1, 2, 5, 10, 20)
"""``--shape-sweep``: samples x d_in = d_out at H = 100 (the paper's sweep is mostly small)."""
GPU_SHAPES = (
    Shape("sweep x1024 vmapped", 20, 20, 100, 20, 0.03, networks=1024),
    Shape("sweep x8192 vmapped", 20, 20, 100, 20, 0.03, networks=8192),
    Shape("figure-2 x64 vmapped", 150, 18, 500, 17, 0.0139, networks=64),
    Shape("sweep x1 (loop overhead)", 20, 20, 100, 20, 0.03),
)


@dataclass(frozen=True)
class Variant:
    label: str
    noise: bool = True
    gradient: str = "manual"
    static: bool = False
    unroll: int = 1
    engine: str = "jax"


CPU_VARIANTS = (
    Variant("noise"),
    Variant("noise_fused", engine="fused"),
    Variant("no_noise", noise=False),
    Variant("no_noise_fused", noise=False, engine="fused"),
    Variant("noise_autodiff", gradient="autodiff"),
)
FLOAT64_VARIANTS = (Variant("noise"), Variant("noise_fused", engine="fused"))
GPU_VARIANTS = (
    *(v for v in CPU_VARIANTS if v.engine == "jax"),  # the fused engine is for CPUs
    Variant("noise_static_scan", static=True),
    Variant("noise_static_unroll8", static=True, unroll=8),
)


def _seconds(fn: Callable[[], None]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def make_matmul(size: int) -> Callable[[], None]:
    """One (size x size) @ (size x size) float32 matmul at full precision, compiled."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    mm = jax.jit(lambda u: jnp.matmul(u, u, precision=lax.Precision.HIGHEST))
    mm(a).block_until_ready()
    return lambda: mm(a).block_until_ready()  # type: ignore[no-any-return]


def make_engine(shape: Shape, steps: int, variant: Variant) -> Callable[[], None]:
    """A compiled chunk of ``steps`` steps of ``shape``'s batch, ready to time."""
    import jax
    import jax.numpy as jnp

    from driftlab.fused.chunk import make_fused_chunk
    from driftlab.model import init_params
    from driftlab.simulate import EngineSpec, Hyper, init_state, make_chunk, make_streams

    x64 = shape.dtype == "float64"
    with jax.enable_x64(x64):  # type: ignore[operator]
        spec = EngineSpec(update_noise=variant.noise, gradient=variant.gradient)
        keys = jax.random.split(jax.random.key(0), shape.networks)
        states, streams = [], []
        for k in keys:
            p = init_params(
                k, shape.d_in, shape.hidden, shape.d_out, regime="rich", dtype=shape.dtype
            )
            states.append(init_state(spec, p, 0.1))
            streams.append(make_streams("hash", k))
        state = jax.tree.map(lambda *xs: jnp.stack(xs), *states)
        stream = jax.tree.map(lambda *xs: jnp.stack(xs), *streams)
        b = shape.networks
        x = jax.random.uniform(keys[0], (b, shape.samples, shape.d_in), shape.dtype)
        y = jax.random.uniform(keys[-1], (b, shape.samples, shape.d_out), shape.dtype)
        ones = jnp.ones(b, shape.dtype)
        hyper = Hyper(
            lr=0.1 * ones,
            update_sd=shape.update_sd * ones,
            label_scale=0 * ones,
            input_sd=0 * ones,
        )
        static = steps if variant.static else None
        if variant.engine == "fused":
            chunk = make_fused_chunk(spec)
        else:
            chunk = make_chunk(spec, static_steps=static, unroll=variant.unroll)
        n = jnp.int32(steps)
        jax.block_until_ready(chunk(state, x, y, hyper, stream, n))  # compile and warm up

    def go() -> None:
        with jax.enable_x64(x64):  # type: ignore[operator]
            jax.block_until_ready(chunk(state, x, y, hyper, stream, n))

    return go


def interleaved(
    engine: Callable[[], None], matmul: Callable[[], None], rounds: int
) -> tuple[list[float], list[float]]:
    """Seconds of the engine and of the ceiling matmul (best of 3), alternately."""
    t_engine, t_matmul = [], []
    for _ in range(rounds):
        t_matmul.append(min(_seconds(matmul) for _ in range(3)))
        t_engine.append(_seconds(engine))
    return t_engine, t_matmul


def bench_noise(n: int, steps: int, generator: str = "hash") -> float:
    """Nanoseconds per standard normal of a generator ("hash" or "threefry"), n a step."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    from driftlab import noise

    gen: noise.Generator = "hash" if generator == "hash" else "threefry"
    stream = noise.make_stream(gen, jax.random.key(0))

    @jax.jit
    def draw(k: jax.Array) -> jax.Array:
        def body(t: jax.Array, acc: jax.Array) -> jax.Array:
            return acc + noise.normal(gen, k, t, (n,))

        return lax.fori_loop(0, steps, body, jnp.zeros(n))

    draw(stream).block_until_ready()
    best = min(_seconds(lambda: draw(stream).block_until_ready()) for _ in range(3))
    return 1e9 * best / (n * steps)


def rate(shape: Shape, variant: Variant, seconds: float) -> float:
    """Network-steps/s of ``shape`` on ``variant``, best of 3 chunks of about ``seconds``."""
    probe = make_engine(shape, 500, variant)
    steps = max(500, int(500 * seconds / _seconds(probe)))
    go = make_engine(shape, steps, variant)
    return shape.networks * steps / min(_seconds(go) for _ in range(3))


def auto_engine(shape: Shape) -> str:
    """The engine ``driftlab run`` picks by itself for ``shape`` with update noise."""
    from driftlab.engines import choose_engine
    from driftlab.simulate import EngineSpec

    dims = (shape.samples, shape.d_in, shape.hidden, shape.d_out)
    return choose_engine(EngineSpec(update_noise=True), dims, "auto")


def _per_step(fn: Callable[[Any], Any], params: Any, seconds: float, x64: bool = False) -> float:
    """Microseconds a step of ``params <- params - 1e-6 fn(params)`` in a compiled loop."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    with jax.enable_x64(x64):  # type: ignore[operator]

        def descend(steps: jax.Array, p: Any) -> Any:
            def body(_: jax.Array, q: Any) -> Any:
                return jax.tree.map(lambda a, g: a - 1e-6 * g, q, fn(q))

            return lax.fori_loop(0, steps, body, p)

        run = jax.jit(descend)
        jax.block_until_ready(run(jnp.int32(10), params))
        probe = _seconds(lambda: jax.block_until_ready(run(jnp.int32(200), params)))
        steps = max(200, int(200 * seconds / probe))
        best = min(
            _seconds(lambda: jax.block_until_ready(run(jnp.int32(steps), params))) for _ in range(3)
        )
    return 1e6 * best / steps


def breakdown(shape: Shape, seconds: float) -> dict[str, float]:
    """Microseconds a step of ``shape`` (one network) spends, cumulatively: the five
    products alone (float32, and float64), the gradient (products, bias, activation
    and its mask), and the JAX engine's whole step without and with update noise."""
    import jax

    from driftlab.model import PRECISION, Params, init_params, mse_grad

    mm = functools.partial(jax.numpy.matmul, precision=PRECISION)
    out: dict[str, float] = {}
    for dtype in ("float32", "float64"):
        x64 = dtype == "float64"
        with jax.enable_x64(x64):  # type: ignore[operator]
            k = jax.random.key(0)
            params = init_params(k, shape.d_in, shape.hidden, shape.d_out, dtype=dtype)
            x = jax.random.uniform(k, (shape.samples, shape.d_in), dtype)
            y = jax.random.uniform(jax.random.fold_in(k, 1), (shape.samples, shape.d_out), dtype)

        def products(p: Params, x: Any = x) -> Params:
            z = mm(x, p.m.T)
            e = mm(z, p.n.T)
            return Params(mm(x.T, mm(e, p.n)).T, p.b, mm(e.T, z))

        name = "products_float64" if x64 else "products"
        out[name] = _per_step(products, params, seconds, x64)
        if not x64:
            out["gradient"] = _per_step(lambda p, x=x, y=y: mse_grad(p, x, y), params, seconds)
    out["step_no_noise"] = 1e6 / rate(shape, Variant("no_noise", noise=False), seconds)
    out["step_noise"] = 1e6 / rate(shape, Variant("noise"), seconds)
    print(
        f"where a step of {shape.name} goes (JAX, us, cumulative): the five products "
        f"{out['products']:.1f} (in float64 {out['products_float64']:.1f}); the gradient "
        f"{out['gradient']:.1f}; the step without noise {out['step_no_noise']:.1f}; "
        f"with update noise {out['step_noise']:.1f}"
    )
    return out


def bench_fused_noise(n: int, steps: int) -> float:
    """Nanoseconds per standard normal of the fused engine's draw (same stream as "hash")."""
    import numpy as np

    from driftlab.fused.noise import fill_normal, scratch_size

    seed, out = np.asarray([1, 2], np.uint32), np.empty(n, np.float32)
    scratch = np.empty(scratch_size(n), np.float32)
    fill_normal(seed, 0, out, scratch)

    def draw() -> None:
        for t in range(steps):
            fill_normal(seed, t, out, scratch)

    return 1e9 * min(_seconds(draw) for _ in range(3)) / (n * steps)


def targets(results: dict[str, Any], by_name: dict[str, Any]) -> None:
    """Issue 15's targets against this run (the engine ``driftlab run`` picks)."""
    fig2, sweep = (by_name[s.name] for s in CPU_SHAPES)
    lines = [
        ("Figure 2 shape, % of the ceiling", 100 * fig2["auto_ratio"], 70.0),
        ("sweep shape, network-steps/s", sweep["auto_rate"], 60_000.0),
    ]
    small = [r for r in results.get("shape_sweep", []) if r["samples"] == 5 and r["d_in"] == 5]
    if small:
        lines.append(("samples 5, 5 -> 5, network-steps/s", small[0]["network_steps_per_s"], 150e3))
    print("targets (issue 15):")
    for label, got, want in lines:
        print(f"  {label}: {got:,.1f} (target {want:,.0f}) {'met' if got >= want else 'MISSED'}")
    for name, slow in results["float64_slowdown"].items():
        verdict = "met" if slow <= 2 else "MISSED"
        print(f"  float64 slowdown, {name}: {slow:.2f}x (target <= 2) {verdict}")
    results["targets"] = [{"what": a, "got": b, "target": c} for a, b, c in lines]
    parts = results.get("breakdown_figure2")
    if parts:
        from driftlab.model import flops_per_step

        s = CPU_SHAPES[0]
        flops = flops_per_step(s.samples, s.d_in, s.hidden, s.d_out)
        ceiling = fig2["noise"]["ceiling_gflops_median"] * 1e9
        shares = ", ".join(
            f"{k} {1e8 * flops / v / ceiling:.0f}%" for k, v in parts.items() if "64" not in k
        )
        print(f"  Figure 2 at the pace of each part alone, % of the ceiling: {shares}")


def shape_sweep(seconds: float) -> list[dict[str, Any]]:
    """Network-steps/s of one network with update noise over :data:`GRID_SAMPLES` x
    :data:`GRID_DIMS` (d_in = d_out) at H = 100, on both engines; prints the rate of
    the engine ``driftlab run`` picks, and fused / jax."""
    rows = []
    for samples in GRID_SAMPLES:
        for d in GRID_DIMS:
            shape = Shape(f"{samples}x{d}", samples, d, 100, d, 0.03)
            jax_rate = rate(shape, Variant("noise"), seconds)
            fused_rate = rate(shape, Variant("noise_fused", engine="fused"), seconds)
            auto = auto_engine(shape)
            rows.append(
                {
                    "samples": samples,
                    "d_in": d,
                    "d_out": d,
                    "jax": jax_rate,
                    "fused": fused_rate,
                    "auto": auto,
                    "network_steps_per_s": fused_rate if auto == "fused" else jax_rate,
                }
            )
    cells = {(r["samples"], r["d_in"]): r for r in rows}
    head = "samples \\ d_in=d_out " + "".join(f"{d:>10d}" for d in GRID_DIMS)
    print(f"shape sweep (H = 100, update noise, one core), {seconds:.2f} s a figure")
    print("network-steps/s of the engine driftlab run picks (auto):")
    print(head)
    for samples in GRID_SAMPLES:
        line = "".join(f"{cells[samples, d]['network_steps_per_s']:>10,.0f}" for d in GRID_DIMS)
        print(f"{samples:>21d} {line}")
    print("fused / jax (auto picks fused where marked *):")
    print(head)
    for samples in GRID_SAMPLES:
        line = "".join(
            f"{cells[samples, d]['fused'] / cells[samples, d]['jax']:>9.2f}"
            + ("*" if cells[samples, d]["auto"] == "fused" else " ")
            for d in GRID_DIMS
        )
        print(f"{samples:>21d} {line}")
    return rows


def _process_rate(core: int, seconds: float, start: Any, out: Any) -> None:
    """In a fresh process pinned to ``core``: the sweep shape's network-steps/s over
    about ``seconds``, timed once every process has compiled (``start``, a barrier),
    so that their timed spans overlap."""
    from driftlab.cpu import limit_cpus

    limit_cpus(1, start=core)
    shape = CPU_SHAPES[1]
    variant = Variant("auto", engine=auto_engine(shape))
    probe = make_engine(shape, 500, variant)
    steps = max(500, int(500 * seconds / 4 / _seconds(probe)))
    go = make_engine(shape, steps, variant)
    start.wait()
    t0 = time.perf_counter()
    for _ in range(4):
        go()
    out.put(4 * steps / (time.perf_counter() - t0))


def processes(seconds: float) -> dict[str, float]:
    """The sweep shape in one process, then in one process per core at once (each
    pinned to its own core): their summed rate over the lone one's."""
    import multiprocessing
    import os

    ctx = multiprocessing.get_context("spawn")
    cores = len(os.sched_getaffinity(0))
    rates = {}
    for n in (1, cores):
        start, out = ctx.Barrier(n), ctx.Queue()
        procs = [ctx.Process(target=_process_rate, args=(k, seconds, start, out)) for k in range(n)]
        for p in procs:
            p.start()
        rates[n] = sum(out.get() for _ in procs)
        for p in procs:
            p.join()
    ratio = rates[cores] / rates[1]
    print(
        f"processes: 1 alone {rates[1]:,.0f} network-steps/s; {cores} at once "
        f"{rates[cores]:,.0f} in all: {ratio:.2f}x one process (sweep shape, one per core)"
    )
    return {"one": rates[1], "all": rates[cores], "cores": cores, "ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="benchmark the default GPU device")
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one CPU core")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per timed chunk")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per figure")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--processes",
        action="store_true",
        help="only: one process against one per core at once (the sweep shape)",
    )
    parser.add_argument(
        "--shape-sweep",
        action="store_true",
        help="also time a grid of small shapes (samples x d_in = d_out at H = 100)",
    )
    args = parser.parse_args()
    if args.processes:
        result = processes(max(args.seconds, 2.0))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        return

    if not args.gpu and not args.all_cores:
        from driftlab.cpu import limit_cpus

        limit_cpus(1)
    import jax

    from driftlab.model import flops_per_step, n_params

    device = jax.devices()[0]
    print(f"device: {device.device_kind} ({device.platform}), jax {jax.__version__}")
    size = 8192 if args.gpu else 2048
    matmul = make_matmul(size)
    ceiling_flops = 2 * size**3
    results: dict[str, Any] = {"device": device.device_kind, "jax": jax.__version__, "shapes": []}
    for shape in GPU_SHAPES if args.gpu else (*CPU_SHAPES, *FLOAT64_SHAPES):
        flops = flops_per_step(shape.samples, shape.d_in, shape.hidden, shape.d_out)
        probe = make_engine(shape, 200, Variant("noise"))
        steps = max(200, int(200 * args.seconds / _seconds(probe)))
        row: dict[str, Any] = {"shape": shape.name, "networks": shape.networks, "steps": steps}
        print(f"{shape.name}: {shape.networks} network(s) x {steps:,} steps per round")
        variants = FLOAT64_VARIANTS if shape.dtype == "float64" else CPU_VARIANTS
        for variant in GPU_VARIANTS if args.gpu else variants:
            t_engine, t_matmul = interleaved(
                make_engine(shape, steps, variant), matmul, args.rounds
            )
            rates = [steps * shape.networks / t for t in t_engine]
            ratios = [
                (rate * flops) / (ceiling_flops / tm)
                for rate, tm in zip(rates, t_matmul, strict=True)
            ]
            ceilings = [ceiling_flops / tm / 1e9 for tm in t_matmul]
            rate = statistics.median(rates)
            row[variant.label] = {
                "network_steps_per_s": rate,
                "gflops": rate * flops / 1e9,
                "ratio_median": statistics.median(ratios),
                "ratio_min": min(ratios),
                "ratio_max": max(ratios),
                "ceiling_gflops_median": statistics.median(ceilings),
            }
            r = row[variant.label]
            print(
                f"  {variant.label:22s} {rate:>12,.0f} network-steps/s  "
                f"{r['gflops']:7.1f} GFLOP/s  "
                f"ratio to ceiling {100 * r['ratio_median']:5.1f}% "
                f"[{100 * r['ratio_min']:.1f}-{100 * r['ratio_max']:.1f}%]  "
                f"(ceiling {r['ceiling_gflops_median']:,.0f} GFLOP/s)"
            )
        if not args.gpu:
            row["auto"] = auto_engine(shape)
            picked = row["noise_fused" if row["auto"] == "fused" else "noise"]
            faster = (
                "fused"
                if row["noise_fused"]["network_steps_per_s"] > row["noise"]["network_steps_per_s"]
                else "jax"
            )
            row["auto_rate"], row["auto_ratio"] = (
                picked["network_steps_per_s"],
                picked["ratio_median"],
            )
            print(
                f"  driftlab run picks {row['auto']} here ({picked['network_steps_per_s']:,.0f} "
                f"network-steps/s, {100 * picked['ratio_median']:.1f}% of the ceiling); "
                f"measured faster: {faster}"
            )
        if shape.networks == 1 and shape.dtype == "float32":
            p = n_params(shape.d_in, shape.hidden, shape.d_out)
            ns = bench_noise(p, max(200, steps // 4))
            row["noise_ns_per_normal"] = ns
            row["noise_share"] = p * ns * 1e-9 * row["noise"]["network_steps_per_s"]
            print(
                f"  noise: {p:,} normals a step at {ns:.2f} ns = "
                f"{100 * row['noise_share']:.0f}% of a noisy step"
            )
        results["shapes"].append(row)
    by_name = {row["shape"]: row for row in results["shapes"]}
    for shape in () if args.gpu else CPU_SHAPES:
        f32 = by_name[shape.name]["auto_rate"]
        f64 = by_name[f"{shape.name} float64"]["auto_rate"]
        results.setdefault("float64_slowdown", {})[shape.name] = f32 / f64
        print(f"float64 against float32 (the engine run picks), {shape.name}: {f32 / f64:.2f}x")
    if args.shape_sweep and not args.gpu:
        results["shape_sweep"] = shape_sweep(args.seconds / 4)
    if not args.gpu:
        for name in ("hash", "threefry"):
            ns = bench_noise(18_000, 2000, name)
            results[f"noise_{name}_ns"] = ns
            print(f"normal draws, generator {name!r}: {ns:.2f} ns per number (18,000 a step)")
        results["breakdown_figure2"] = breakdown(CPU_SHAPES[0], args.seconds)
        ns = bench_fused_noise(18_000, 2000)
        results["noise_fused_ns"] = ns
        print(f"normal draws, fused engine (the 'hash' stream): {ns:.2f} ns per number")
        targets(results, by_name)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
