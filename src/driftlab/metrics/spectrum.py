"""Summaries of a Hessian spectrum: pure numpy over eigenvalues (Figure 4).

The eigenvalues come from :mod:`driftlab.hessian` (JAX) or from a run's
``hessian.nc``; everything here reads arrays only, so figures and stores can
summarise stored spectra without JAX. :mod:`driftlab.hessian` re-exports these.

A count of "nonzero" eigenvalues needs a tolerance: |lambda| > rtol max|lambda|.
Only the zeros forced by silent ReLU units are exact
(:func:`zero_eigenvalues_from_silent_units`); the rest of the count moves with
rtol wherever the spectrum has no gap, so :func:`summarise` also reports the
counts at both ends of ``RTOL_RANGE`` and the widest gap inside it
(:func:`spectral_gap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_RTOL = 1e-7  # an eigenvalue counts as nonzero above this fraction of the largest |lambda|
# the range of relative tolerances over which counts are also reported: from just
# above float64 round-off of a Hessian of a few thousand parameters (1e-12) to
# well below the curvature the theory is about (1e-6)
RTOL_RANGE = (1e-12, 1e-6)
MIN_GAP_DECADES = 1.0  # a narrower largest gap in RTOL_RANGE is no gap


def format_rtol(r: float) -> str:
    """A tolerance as people write it: 1e-07 -> "1e-7", 2.5e-07 -> "2.5e-7"."""
    text = f"{r:g}"
    mantissa, _, exponent = text.partition("e")
    return f"{mantissa}e{int(exponent)}" if exponent else text


def count_nonzero(eigs: np.ndarray, rtol: float) -> int:
    """The eigenvalues with |lambda| > rtol * max |lambda| (0 for an all-zero spectrum)."""
    a = np.abs(np.asarray(eigs, np.float64))
    if not a.size:
        return 0
    return int(np.count_nonzero(a > rtol * a.max()))


def spectral_gap(
    eigs: np.ndarray, rtol_range: tuple[float, float] = RTOL_RANGE
) -> tuple[int, float]:
    """(count above the gap, the gap's width in decades): the widest gap of the
    spectrum inside the tolerance range.

    With |lambda| sorted descending, a_1 >= a_2 >= ... >= a_P (a_{P+1} = 0), the
    count at a tolerance rtol is k exactly when a_{k+1} <= rtol max|lambda| < a_k.
    Within the window [lo, hi] = rtol_range x max|lambda| the count is therefore k
    over log10(min(a_k, hi) / max(a_{k+1}, lo)) decades of rtol: the gap's width
    counted inside the window (the largest ratio of consecutive |lambda| there,
    at most log10(hi / lo)). Returns the k of the widest one (the smallest k on a
    tie) and its width; the whole window when no eigenvalue lies in it. An
    all-zero spectrum gives (0, the window's width). Every rtol in the gap's
    width gives the same count, so a wide gap makes the count tolerance-free; a
    width below ``MIN_GAP_DECADES`` means the spectrum has no gap in the range.
    """
    lo_rtol, hi_rtol = rtol_range
    if not 0 < lo_rtol < hi_rtol < 1:
        raise ValueError(f"rtol_range: expected 0 < low < high < 1, got {rtol_range}")
    window = float(np.log10(hi_rtol / lo_rtol))
    a = np.sort(np.abs(np.asarray(eigs, np.float64)))[::-1]
    if not a.size or a[0] == 0:
        return 0, window
    lo, hi = lo_rtol * a[0], hi_rtol * a[0]
    upper = a  # a_k, k = 1..P
    lower = np.append(a[1:], 0.0)  # a_{k+1}
    meets = (upper > lo) & (lower < hi)
    width = np.full(a.size, -np.inf)
    width[meets] = np.log10(np.minimum(upper[meets], hi) / np.maximum(lower[meets], lo))
    k = int(np.argmax(width))
    return k + 1, float(width[k])


@dataclass(frozen=True)
class HessianSummary:
    """What the paper reads from a spectrum (Methods, "Hessian and sparseness").

    ``nonzero``: eigenvalues with |lambda| > rtol * max |lambda|;
    ``sum_log_nonzero``: sum of log |lambda| over them (the quantity update noise
    lowers); ``trace``: sum of all eigenvalues (the one label noise lowers);
    ``negative``: nonzero eigenvalues below zero (away from a minimum), so
    ``n_positive`` and ``sum_log_positive`` (sum of log lambda over the positive
    nonzero ones) describe the curvature the theory is about (at an exact zero of
    the loss the Hessian is the Gauss-Newton matrix, with no negative eigenvalue).
    Every count and sum over "nonzero" eigenvalues is at ``rtol``.

    Tolerance-free summaries over the range ``rtol_min`` .. ``rtol_max``
    (``RTOL_RANGE``): ``n_nonzero_rtol_min`` and ``n_nonzero_rtol_max``, the
    counts at the range's two ends (the most and the fewest nonzero: every rtol
    in the range gives a count between them); ``gap_decades``, the width of the
    widest spectral gap inside the range (``spectral_gap``), and
    ``gap_n_nonzero``, the count above it, NaN when ``gap_decades`` is below
    ``min_gap_decades`` (no gap: no count is singled out by the spectrum).
    A spectrum with a non-finite eigenvalue gives NaN for every summary.
    """

    n_params: int
    n_nonzero: int | float
    frac_nonzero: float
    trace: float
    max: float
    sum_log_nonzero: float
    n_negative: int | float
    n_positive: int | float
    sum_log_positive: float
    rtol: float
    n_nonzero_rtol_min: int | float
    n_nonzero_rtol_max: int | float
    gap_decades: float
    gap_n_nonzero: int | float
    rtol_min: float
    rtol_max: float


def summarise(
    eigs: np.ndarray,
    *,
    rtol: float = DEFAULT_RTOL,
    rtol_range: tuple[float, float] = RTOL_RANGE,
    min_gap_decades: float = MIN_GAP_DECADES,
) -> HessianSummary:
    """Summaries of a full spectrum ``eigs`` (P,), nonzero meaning |lambda| > rtol max|lambda|;
    the band and gap over ``rtol_range`` (see ``HessianSummary``)."""
    if not 0 < rtol < 1:
        raise ValueError(f"rtol: expected a number in (0, 1), got {rtol}")
    if not 0 < rtol_range[0] < rtol_range[1] < 1:
        raise ValueError(f"rtol_range: expected 0 < low < high < 1, got {rtol_range}")
    if not min_gap_decades > 0:
        raise ValueError(f"min_gap_decades: expected a number > 0, got {min_gap_decades}")
    eigs = np.asarray(eigs, np.float64)
    lo_rtol, hi_rtol = float(rtol_range[0]), float(rtol_range[1])
    if not eigs.size or not np.all(np.isfinite(eigs)):
        nan = float("nan")
        return HessianSummary(
            int(eigs.size), nan, nan, nan, nan, nan, nan, nan, nan, rtol,
            nan, nan, nan, nan, lo_rtol, hi_rtol,
        )  # fmt: skip
    scale = float(np.max(np.abs(eigs)))
    nonzero = np.abs(eigs) > rtol * scale if scale > 0 else np.zeros(eigs.shape, bool)
    positive = nonzero & (eigs > 0)
    gap_count, gap_width = spectral_gap(eigs, (lo_rtol, hi_rtol))
    return HessianSummary(
        n_params=int(eigs.size),
        n_nonzero=int(nonzero.sum()),
        frac_nonzero=float(nonzero.mean()),
        trace=float(eigs.sum()),
        max=float(eigs.max()),
        sum_log_nonzero=float(np.log(np.abs(eigs[nonzero])).sum()),
        n_negative=int(np.count_nonzero(nonzero & (eigs < 0))),
        n_positive=int(positive.sum()),
        sum_log_positive=float(np.log(eigs[positive]).sum()),
        rtol=rtol,
        n_nonzero_rtol_min=count_nonzero(eigs, lo_rtol),
        n_nonzero_rtol_max=count_nonzero(eigs, hi_rtol),
        gap_decades=gap_width,
        gap_n_nonzero=gap_count if gap_width >= min_gap_decades else float("nan"),
        rtol_min=lo_rtol,
        rtol_max=hi_rtol,
    )


def zero_eigenvalues_from_silent_units(hidden: np.ndarray, d_in: int, d_out: int) -> int:
    """The zero eigenvalues that silent units imply: (d_in + 1 + d_out) per unit.

    ReLU only: there h = 0 implies act'(z) = 0; for tanh, leaky ReLU, softplus or
    sigmoid a unit at h <= 0 still passes gradient, and this count does not hold.
    hidden: (N, H) activity. A ReLU unit with h = 0 for every input has zero
    derivatives of the output with respect to its input weights (d_in), its bias
    (1) and its read-out weights (d_out), so its rows of H vanish (Methods,
    "Hessian and sparseness"): at least this many eigenvalues are exactly zero.
    """
    silent = int(np.count_nonzero(np.all(np.asarray(hidden) <= 0, axis=0)))
    return silent * (d_in + 1 + d_out)
