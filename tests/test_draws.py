"""Start-of-run draws: the numbers of ``jax.random`` bit for bit, one compiled program
for many shapes (driftlab.draws), and the host-side stacking of states."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from driftlab import draws
from driftlab.model import init_params
from driftlab.runner.checkpoint import stack

SHAPES = [(1,), (7,), (100, 13), (17, 100), (150, 18), (1000,), (1025,), (3, 5, 7)]


def _bits(a: object) -> np.ndarray:
    arr = np.asarray(a)
    return arr.view(np.uint64 if arr.dtype == np.float64 else np.uint32)


@pytest.mark.parametrize("shape", SHAPES)
def test_draws_equal_jax_random_bit_for_bit(shape: tuple[int, ...]) -> None:
    key = jax.random.key(11)
    assert np.array_equal(
        _bits(draws.normal(key, shape)), _bits(jax.random.normal(key, shape, jnp.float32))
    )
    assert np.array_equal(
        _bits(draws.uniform(key, shape)), _bits(jax.random.uniform(key, shape, jnp.float32))
    )


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("sd", [np.sqrt(2.0 / 13), 2.0 / 100])
def test_scaled_normal_keeps_the_promotion_of_the_old_expression(x64: bool, sd: float) -> None:
    """A numpy scalar sd is strongly typed (the product is float64 under x64), a
    Python float is weak (float32): the same as ``sd * jax.random.normal(...)``."""
    key = jax.random.key(5)
    dtypes = ["float32", "float64"] if x64 else ["float32"]
    with jax.enable_x64(x64):  # type: ignore[no-untyped-call,operator]
        for dtype in dtypes:
            for shape in [(100, 13), (3,), (17, 100)]:
                old = (sd * jax.random.normal(key, shape, jnp.float32).astype(dtype)).astype(dtype)
                new = draws.scaled_normal(key, shape, sd, dtype)
                assert new.dtype == old.dtype
                assert np.array_equal(_bits(new), _bits(old)), (dtype, shape)


def test_many_shapes_share_one_program() -> None:
    key = jax.random.key(0)
    draws.normal(key, (3,))
    before = draws._flat_normal._cache_size()  # type: ignore[attr-defined]
    for d in range(1, 21):
        draws.normal(key, (d, 37))
    assert draws._flat_normal._cache_size() == before  # type: ignore[attr-defined]
    assert draws.bucket(1) == draws.MIN_BUCKET
    assert draws.bucket(1025) == 2048 and draws.bucket(2048) == 2048


def test_without_partitionable_threefry_the_draw_is_the_direct_one() -> None:
    key = jax.random.key(2)
    with jax.threefry_partitionable(False):  # type: ignore[no-untyped-call,operator]
        direct = jax.random.normal(key, (7, 3), jnp.float32)
        assert np.array_equal(_bits(draws.normal(key, (7, 3))), _bits(direct))


def test_init_params_are_the_draws_of_the_paper_scales() -> None:
    key = jax.random.key(4)
    p = init_params(key, 13, 100, 7, regime="lazy")
    km, kb, kn = jax.random.split(key, 3)
    sd_in = np.sqrt(2.0 / 13)
    assert np.array_equal(_bits(p.m), _bits(sd_in * jax.random.normal(km, (100, 13))))
    assert np.array_equal(_bits(p.b), _bits(sd_in * jax.random.normal(kb, (100,))))
    assert np.array_equal(_bits(p.n), _bits(2.0 / 100 * jax.random.normal(kn, (7, 100))))
    assert isinstance(p.m, jax.Array)


def test_stack_on_the_host_keeps_values_and_keys() -> None:
    keys = [jax.random.key(i) for i in range(3)]
    trees = [
        {"w": jnp.full((2, 3), float(i)), "k": k, "s": jnp.uint32(i)} for i, k in enumerate(keys)
    ]
    out = stack(trees)
    assert out["w"].shape == (3, 2, 3) and float(out["w"][2, 0, 0]) == 2.0
    assert out["s"].dtype == jnp.uint32
    assert jax.dtypes.issubdtype(out["k"].dtype, jax.dtypes.prng_key)
    assert np.array_equal(
        np.asarray(jax.random.key_data(out["k"])),
        np.stack([np.asarray(jax.random.key_data(k)) for k in keys]),
    )
