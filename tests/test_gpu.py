"""GPU checks (opt in with ``-m gpu``; skipped without a GPU): float32 on the GPU runs
at full precision (never TF32), so it tracks float64 on the CPU as closely as float32
on the CPU does."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from driftlab.config import resolve
from driftlab.model import mse_loss
from driftlab.run import float_context, prepare
from driftlab.simulate import make_chunk

pytestmark = pytest.mark.gpu


def _gpu() -> jax.Device | None:
    try:
        return jax.devices("gpu")[0]
    except RuntimeError:
        return None


def _final_loss(dtype: str, device: jax.Device, steps: int) -> np.ndarray:
    """Final clean losses of the quick preset's network, 4 seeds, ``steps`` noisy steps."""
    cfg = resolve(
        preset="quick", overrides=["seed=[0,1,2,3]", f"train.steps={steps}", f"model.dtype={dtype}"]
    )
    with float_context(dtype), jax.default_device(device):
        batch = prepare(cfg)
        out = make_chunk(batch.spec)(
            batch.state0, batch.x, batch.y, batch.hyper, batch.streams, jnp.int32(steps)
        )
        return np.asarray(jax.vmap(mse_loss)(out.params, batch.x, batch.y), np.float64)


def test_float32_on_the_gpu_tracks_float64_like_float32_on_the_cpu() -> None:
    gpu = _gpu()
    if gpu is None:
        pytest.skip("no GPU")
    cpu = jax.devices("cpu")[0]
    steps = 10_000
    reference = _final_loss("float64", cpu, steps)
    cpu32 = np.abs(_final_loss("float32", cpu, steps) - reference) / reference
    gpu32 = np.abs(_final_loss("float32", gpu, steps) - reference) / reference
    # TF32 (10 mantissa bits against float32's 23) moved the loss by ~3%; full-precision
    # float32 on either device differs from float64 by rounding alone
    assert gpu32.max() <= 3 * cpu32.max() + 1e-6, (gpu32, cpu32)
