"""Accuracy of the engine on a GPU against float64 on the CPU, and an end-to-end batch.

    python benchmarks/gpu_checks.py

Trains the same batch of corridor networks (the quick preset's shape, 4 seeds)
for a few thousand noisy steps on the default device in float32 and on the CPU in
float64, and prints the relative difference of the final losses and the largest
parameter difference. Matmuls run at full precision (no TF32), so the float32 GPU
run should agree with float64 to about 1e-5 in the loss.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from driftlab.config import resolve
    from driftlab.model import mse_loss
    from driftlab.run import float_context, prepare
    from driftlab.simulate import make_chunk

    steps = 5000
    sets = ["seed=[0,1,2,3]", f"train.steps={steps}"]
    results = {}
    for label, dtype, device in (
        ("default device float32", "float32", jax.devices()[0]),
        ("cpu float64", "float64", jax.devices("cpu")[0]),
    ):
        cfg = resolve(preset="quick", overrides=[*sets, f"model.dtype={dtype}"])
        with float_context(dtype), jax.default_device(device):
            batch = prepare(cfg)
            chunk = make_chunk(batch.spec)
            t0 = time.perf_counter()
            out = chunk(
                batch.state0, batch.x, batch.y, batch.hyper, batch.streams, jnp.int32(steps)
            )
            jax.block_until_ready(out)
            elapsed = time.perf_counter() - t0
            loss = jax.vmap(mse_loss)(out.params, batch.x, batch.y)
            results[label] = (
                np.asarray(loss, np.float64),
                [np.asarray(a, np.float64) for a in out.params],
            )
        print(
            f"{label} on {device.device_kind}: {steps} steps x 4 networks "
            f"in {elapsed:.2f} s (compile included)"
        )
    (l32, p32), (l64, p64) = results.values()
    rel = np.abs(l32 - l64) / l64
    print(f"final loss float64: {l64}")
    print(f"relative loss difference float32 vs float64: max {rel.max():.2e}")
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(p32, p64, strict=True))
    print(f"largest parameter difference: {diff:.2e}")


if __name__ == "__main__":
    main()
