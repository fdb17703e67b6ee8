"""The engine's counter-based noise (:mod:`driftlab.noise`, generator ``"hash"``) in numba.

The same numbers as :func:`driftlab.noise.hash_normal` and
:func:`driftlab.noise.hash_uniform` for the same (stream seed, step): the integer
hash is exact, and the float32 polynomials are evaluated in the same order
without contraction, so the two agree bit for bit on x86-64 (tested). The fused
engine draws its noise here, so a run gives the same trajectory on either
engine (to the rounding of the matrix products).

Every function writes into a caller's buffer (no allocation in the step loop);
integer arithmetic runs on uint64 values masked to 32 bits, since numba widens
integer arithmetic to 64 bits.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MASK = np.uint64(0xFFFFFFFF)
_GOLDEN = np.uint64(0x9E3779B9)
_MUL1 = np.uint64(0x7FEB352D)
_MUL2 = np.uint64(0x846CA68B)
_SEED_MIX = np.uint64(0x5BD1E995)
_S1, _S6, _S8, _S15, _S16, _S30 = (np.uint64(k) for k in (1, 6, 8, 15, 16, 30))
_LOW24 = np.uint64(0xFFFFFF)
_LOW23 = np.int32(0x7FFFFF)
_ONE_BITS = np.int32(0x3F800000)
_BIAS = np.int32(127)
_S23 = np.int32(23)

_F = np.float32
_HALF, _ONE, _TWO, _MINUS_TWO = _F(0.5), _F(1.0), _F(2.0), _F(-2.0)
_LN2 = _F(np.log(2.0))
_SQRT_HALF = _F(np.sqrt(0.5))
_SQRT2 = _F(np.sqrt(2.0))
_TWO_M31 = _F(2.0**-31)
_TWO_M24 = _F(2.0**-24)
_QUARTER_TURN = _F(np.pi / 2)
_L3, _L5, _L7, _L9 = _F(2 / 3), _F(2 / 5), _F(2 / 7), _F(2 / 9)
_S3, _S5, _S7, _S9 = _F(-1 / 6), _F(1 / 120), _F(-1 / 5040), _F(1 / 362880)
_C2, _C4, _C6, _C8 = _F(-1 / 2), _F(1 / 24), _F(-1 / 720), _F(1 / 40320)


@njit(inline="always")
def _hash32(x: np.uint64) -> np.uint64:
    x = x ^ (x >> _S16)
    x = (x * _MUL1) & _MASK
    x = x ^ (x >> _S15)
    x = (x * _MUL2) & _MASK
    return x ^ (x >> _S16)


@njit(cache=True, nogil=True, error_model="numpy")
def step_words(seed: np.ndarray, step: int, words: np.ndarray) -> None:
    """Fill ``words`` (uint32) with the stream's words for ``step``
    (:func:`driftlab.noise._step_words`)."""
    s0, s1 = np.uint64(seed[0]), np.uint64(seed[1])
    base = _hash32(s0 ^ _SEED_MIX)
    step_mix = _hash32(((np.uint64(step) & _MASK) * _GOLDEN & _MASK) ^ s1)
    for i in range(words.size):
        lane = _hash32((np.uint64(i) + base) & _MASK)
        words[i] = np.uint32(_hash32(lane ^ step_mix))


@njit(cache=True, nogil=True, error_model="numpy")
def fill_normal(seed: np.ndarray, step: int, out: np.ndarray, scratch: np.ndarray) -> None:
    """Fill ``out`` (float32, any size n) with the standard normals of
    :func:`driftlab.noise.hash_normal`: Box-Muller on pairs of hashed words.

    ``scratch``: a float32 buffer of at least :func:`scratch_size` (n) elements.
    Each pass is a branch-free loop that LLVM vectorises.
    """
    n = out.size
    half = (n + 1) // 2
    words = scratch[: 2 * half].view(np.uint32)
    step_words(seed, step, words)
    u = scratch[2 * half : 3 * half]
    for i in range(half):
        k = np.int32(np.uint64(words[i]) >> _S1)
        u[i] = min((_F(k) + _HALF) * _TWO_M31, _ONE)
    # ln(u): exponent from the bits, atanh series on the mantissa (noise._log_unit)
    bits = u.view(np.int32)
    mant = scratch[3 * half : 4 * half].view(np.int32)
    expo = scratch[4 * half : 5 * half].view(np.int32)
    for i in range(half):
        b = bits[i]
        expo[i] = (b >> _S23) - _BIAS
        mant[i] = (b & _LOW23) | _ONE_BITS
    mantissa = mant.view(np.float32)
    radius = u  # u is no longer needed: reuse its storage
    for i in range(half):
        m = mantissa[i]
        big = m > _SQRT2
        m = m * _HALF if big else m
        e = expo[i] + (1 if big else 0)
        s = (m - _ONE) / (m + _ONE)
        s2 = s * s
        series = s * (_TWO + s2 * (_L3 + s2 * (_L5 + s2 * (_L7 + s2 * _L9))))
        radius[i] = np.sqrt(_MINUS_TWO * (_F(e) * _LN2 + series))
    # cos and sin of 2 pi v by quadrant (noise._cos_sin_turn)
    for i in range(half):
        w = np.uint64(words[half + i])
        quadrant = w >> _S30
        frac = _F(np.int32((w >> _S6) & _LOW24)) * _TWO_M24
        phi = (frac - _HALF) * _QUARTER_TURN
        p2 = phi * phi
        sin_phi = phi * (_ONE + p2 * (_S3 + p2 * (_S5 + p2 * (_S7 + p2 * _S9))))
        cos_phi = _ONE + p2 * (_C2 + p2 * (_C4 + p2 * (_C6 + p2 * _C8)))
        c = _SQRT_HALF * (cos_phi - sin_phi)
        s_ = _SQRT_HALF * (cos_phi + sin_phi)
        swap = (quadrant & _S1) == 1  # quadrants 1 and 3 swap the roles of c and s
        a = s_ if swap else c
        bb = c if swap else s_
        cos = -a if (quadrant == 1 or quadrant == 2) else a
        sin = -bb if quadrant >= 2 else bb
        r = radius[i]
        out[i] = r * cos
        if half + i < n:
            out[half + i] = r * sin


@njit(cache=True, nogil=True, error_model="numpy")
def scratch_size(n: int) -> int:
    """Elements of float32 scratch :func:`fill_normal` needs for ``n`` numbers."""
    return 5 * ((n + 1) // 2)


@njit(cache=True, nogil=True, error_model="numpy")
def fill_uniform(seed: np.ndarray, step: int, out: np.ndarray, scratch: np.ndarray) -> None:
    """Fill ``out`` (float32) with the uniforms on [0, 1) of
    :func:`driftlab.noise.hash_uniform`; ``scratch``: at least ``out.size`` float32."""
    words = scratch[: out.size].view(np.uint32)
    step_words(seed, step, words)
    for i in range(out.size):
        out[i] = _F(np.int32(np.uint64(words[i]) >> _S8)) * _TWO_M24
