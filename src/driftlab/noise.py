"""Counter-based random numbers for the noise of every step.

The noise of step ``t`` is a pure function of ``(stream seed, t, element index)``,
so a resumed run draws exactly the numbers an uninterrupted one would, and the
noise of one purpose (gradient, parameter, label, input) never changes another's.

Two generators are offered (``NoiseConfig.generator``):

``"hash"`` (default)
    A counter-based integer hash (the ``lowbias32`` finaliser of C. Wellons,
    applied twice with the stream seed and the step mixed in) gives uniform
    32-bit words; the Box-Muller transform turns pairs of them into standard
    normals. Logarithm, sine and cosine are evaluated with short polynomials
    (absolute error below 1e-6), which XLA fuses into one vectorised loop:
    about 2-2.5 ns a number on one CPU core against 10-25 ns for ``jax.random``'s
    threefry (benchmarks/RESULTS.md). Tails reach 6.66 standard deviations (the
    smallest uniform is 2^-32); the probability mass beyond that is 3e-11.
``"threefry"``
    ``jax.random.normal(jax.random.fold_in(key, t), shape)``: JAX's reference
    generator, slower on CPUs, kept to cross-check the fast one.

Both give float32 numbers; float64 runs cast them (the noise's own rounding
error, 6e-8 relative, is far below anything the science resolves).
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Generator = Literal["hash", "threefry"]
GENERATORS: tuple[str, ...] = ("hash", "threefry")

_GOLDEN = np.uint32(0x9E3779B9)
_LN2 = np.float32(np.log(2.0))
_SQRT_HALF = np.float32(np.sqrt(0.5))
_SQRT2 = np.float32(np.sqrt(2.0))
_TWO_M31 = np.float32(2.0**-31)
_TWO_M24 = np.float32(2.0**-24)


def hash32(x: jax.Array) -> jax.Array:
    """Wellons' ``lowbias32`` integer hash: a bijection on uint32 with good avalanche."""
    x = x ^ (x >> 16)
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _log_unit(u: jax.Array) -> jax.Array:
    """ln(u) for float32 u in (0, 1]: exponent from the bits, atanh series for the mantissa.

    ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), with m reduced to [sqrt(1/2), sqrt(2)),
    so |s| < 0.172 and five terms give an absolute error below 1e-6.
    """
    bits = lax.bitcast_convert_type(u, jnp.int32)
    exponent = (bits >> 23) - 127
    mantissa = lax.bitcast_convert_type((bits & 0x7FFFFF) | 0x3F800000, jnp.float32)
    big = mantissa > _SQRT2
    mantissa = jnp.where(big, mantissa * np.float32(0.5), mantissa)
    exponent = exponent + big.astype(jnp.int32)
    s = (mantissa - 1) / (mantissa + 1)
    s2 = s * s
    series = s * (2 + s2 * (2 / 3 + s2 * (2 / 5 + s2 * (2 / 7 + s2 * (2 / 9)))))
    return exponent.astype(jnp.float32) * _LN2 + series


def _cos_sin_turn(word: jax.Array) -> tuple[jax.Array, jax.Array]:
    """cos and sin of the angle 2 pi u, u uniform on [0, 1) read from a uint32 word.

    The top two bits choose the quadrant q; 24 further bits give phi in
    [-pi/4, pi/4); the angle is q pi/2 + pi/4 + phi. Taylor polynomials of degree
    9 (sin) and 8 (cos) are exact to 5e-7 on that interval.
    """
    quadrant = word >> 30
    # int32 -> float32 is one instruction; uint32 -> float32 is emulated on x86
    frac = ((word >> 6) & np.uint32(0xFFFFFF)).astype(jnp.int32).astype(jnp.float32) * _TWO_M24
    phi = (frac - np.float32(0.5)) * np.float32(np.pi / 2)
    p2 = phi * phi
    sin_phi = phi * (1 + p2 * (-1 / 6 + p2 * (1 / 120 + p2 * (-1 / 5040 + p2 * (1 / 362880)))))
    cos_phi = 1 + p2 * (-1 / 2 + p2 * (1 / 24 + p2 * (-1 / 720 + p2 * (1 / 40320))))
    c = _SQRT_HALF * (cos_phi - sin_phi)  # cos(pi/4 + phi)
    s = _SQRT_HALF * (cos_phi + sin_phi)  # sin(pi/4 + phi)
    q0, q1, q2 = quadrant == 0, quadrant == 1, quadrant == 2
    cos = jnp.where(q0, c, jnp.where(q1, -s, jnp.where(q2, -c, s)))
    sin = jnp.where(q0, s, jnp.where(q1, c, jnp.where(q2, -s, -c)))
    return cos, sin


def _step_words(seed: jax.Array, step: jax.Array, n: int) -> jax.Array:
    """``n`` uniform uint32 words for (seed, step).

    word_i = h(h(i + h(s0)) ^ h(step * phi ^ s1)) for the stream seed (s0, s1): two
    streams give the same numbers only if both 32-bit words of their seeds agree
    (odds 2^-64 a pair, against 2^-32 with one word: 0.1% for a 3,300-stream sweep).
    """
    seed = jnp.asarray(seed, jnp.uint32)
    lane = hash32(lax.iota(jnp.uint32, n) + hash32(seed[0] ^ np.uint32(0x5BD1E995)))
    step_mix = hash32(jnp.asarray(step).astype(jnp.uint32) * _GOLDEN ^ seed[1])
    return hash32(lane ^ step_mix)


def hash_normal(seed: jax.Array, step: jax.Array, n: int) -> jax.Array:
    """``n`` standard normal float32 numbers for (stream seed, step), by Box-Muller.

    z_i = r_i cos(2 pi v_i), z_{h+i} = r_i sin(2 pi v_i), r_i = sqrt(-2 ln u_i),
    u_i = (floor(w_i / 2) + 1/2) 2^-31, v_i = w_{h+i} 2^-32, w the hashed words,
    h = ceil(n / 2).
    """
    half = (n + 1) // 2
    words = _step_words(seed, step, 2 * half).reshape(2, half)
    u = ((words[0] >> 1).astype(jnp.int32).astype(jnp.float32) + np.float32(0.5)) * _TWO_M31
    u = jnp.minimum(u, np.float32(1.0))
    radius = jnp.sqrt(np.float32(-2.0) * _log_unit(u))
    cos, sin = _cos_sin_turn(words[1])
    return jnp.stack([radius * cos, radius * sin]).reshape(2 * half)[:n]


def hash_uniform(seed: jax.Array, step: jax.Array, n: int) -> jax.Array:
    """``n`` float32 numbers uniform on [0, 1) for (stream seed, step)."""
    words = _step_words(seed, step, n)
    return (words >> 8).astype(jnp.int32).astype(jnp.float32) * _TWO_M24


def stream_seed(key: jax.Array) -> jax.Array:
    """The seed of the hash generator for one stream key: two uint32 words, shape (2,)."""
    return jax.random.bits(key, (2,), jnp.uint32)


def normal(
    generator: Generator, stream: jax.Array, step: jax.Array, shape: tuple[int, ...]
) -> jax.Array:
    """Standard normal float32 array of ``shape`` for one stream at ``step``.

    ``stream`` is a (2,) uint32 seed for ``"hash"`` and a typed PRNG key for ``"threefry"``.
    """
    size = int(np.prod(shape))
    if generator == "hash":
        return hash_normal(stream, step, size).reshape(shape)
    return jax.random.normal(jax.random.fold_in(stream, step), shape, jnp.float32)


def uniform(
    generator: Generator, stream: jax.Array, step: jax.Array, shape: tuple[int, ...]
) -> jax.Array:
    """Uniform float32 array on [0, 1) of ``shape`` for one stream at ``step``."""
    size = int(np.prod(shape))
    if generator == "hash":
        return hash_uniform(stream, step, size).reshape(shape)
    return jax.random.uniform(jax.random.fold_in(stream, step), shape, jnp.float32)


def make_stream(generator: Generator, key: jax.Array) -> jax.Array:
    """The per-stream state the generator needs: a (2,) uint32 seed, or the key itself."""
    return stream_seed(key) if generator == "hash" else key
