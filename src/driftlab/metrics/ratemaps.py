"""Rate maps and spatial information of hidden units (Figure 2C-D, Methods eq. 4).

Conventions (docs/conventions.md, "Measurements"; paper Methods, "Tuning properties of
units"): the position is signed by running direction, so that running up and
running down are separate locations; 100 equal bins; a unit's rate map is its
mean activity per bin (summed activity divided by occupancy); maps are smoothed
with a Gaussian of sd 6 bins for display and correlations. Spatial information
is Skaggs' (Skaggs et al. 1993): ``SI = sum_i p_i (r_i / r_bar) log2(r_i / r_bar)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.ndimage import gaussian_filter1d


class RateMaps(NamedTuple):
    """Rate maps of all units over the same bins.

    ``maps`` (units, bins): mean activity per bin, NaN for bins never visited;
    ``occupancy`` (bins,): number of samples per bin; ``edges`` (bins + 1,).
    """

    maps: np.ndarray
    occupancy: np.ndarray
    edges: np.ndarray


def signed_position(position: ArrayLike, *, origin: float | None = None) -> np.ndarray:
    """Position signed by running direction: ``(position - origin) * sign(step)``.

    ``position`` (T,) -> (T,). The step of sample t is
    ``position[t + 1] - position[t]``; the last sample takes the previous step;
    a zero step takes the sign of the previous nonzero step (+1 if there is none).
    Running up maps to ``[0, max - origin]`` and running down to
    ``[-(max - origin), 0]`` (mirrored), so the two directions fall in separate
    halves of the signed axis.

    ``origin``: the point measured from. ``None`` (default) uses
    ``position.min()``, so the halves never overlap whatever the coordinates
    (driftlab's corridor has y in [-y_max, y_max], centred on 0). ``origin=0.0``
    is the literal ``position * sign(step)`` of the authors' code, right only
    for non-negative positions; a position below an explicit ``origin`` raises
    ``ValueError`` (the directions would mix).

    >>> signed_position([0.0, 1.0, 2.0, 1.0, 0.0]).tolist()
    [0.0, 1.0, -2.0, -1.0, -0.0]
    """
    pos = np.asarray(position, dtype=np.float64)
    if pos.ndim != 1:
        raise ValueError(f"position must have shape (T,), got {pos.shape}")
    if pos.size == 0:
        return pos.copy()
    if origin is None:
        origin = float(np.nanmin(pos)) if np.isfinite(pos).any() else 0.0
    elif np.any(pos < origin):
        raise ValueError(
            f"position goes below origin={origin} (min {np.nanmin(pos)}): running up and "
            "down would mix; pass origin=None or a lower origin"
        )
    step = np.diff(pos)
    step = np.append(step, step[-1]) if step.size else np.zeros(1)
    sign = np.sign(np.nan_to_num(step))
    # forward-fill zero steps with the sign of the last nonzero step
    last = np.maximum.accumulate(np.where(sign != 0, np.arange(sign.size), 0))
    sign = sign[last]
    sign[sign == 0] = 1.0
    return np.asarray((pos - origin) * sign)


def checked_activity(
    activity: ArrayLike, position: ArrayLike, n_bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """``activity`` (T, units) and ``position`` (T,) as float64 arrays; ValueError if
    their shapes do not match or ``n_bins`` < 1."""
    act = np.asarray(activity, dtype=np.float64)
    pos = np.asarray(position, dtype=np.float64)
    if act.ndim != 2 or pos.shape != (act.shape[0],):
        raise ValueError(
            f"need activity (T, units) and position (T,), got {act.shape} and {pos.shape}"
        )
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    return act, pos


def bin_index(pos: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each position (-1 outside [edges[0], edges[-1]] or NaN); right edge inclusive."""
    n_bins = edges.size - 1
    idx = np.searchsorted(edges, pos, side="right") - 1
    idx[pos == edges[-1]] = n_bins - 1
    idx[(idx < 0) | (idx >= n_bins) | ~np.isfinite(pos)] = -1
    return np.asarray(idx)


def bin_edges(pos: np.ndarray, n_bins: int, bounds: tuple[float, float] | None) -> np.ndarray:
    if bounds is None:
        finite = pos[np.isfinite(pos)]
        if finite.size == 0:
            raise ValueError("position has no finite value")
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = float(bounds[0]), float(bounds[1])
        if not hi > lo:
            raise ValueError(f"bounds must satisfy low < high, got {bounds}")
    if hi == lo:  # a constant position: one unit-wide range around it
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, n_bins + 1)


def smooth_maps(maps: np.ndarray, smooth_sd: float) -> np.ndarray:
    """Gaussian smoothing (sd in bins) along the last axis by normalised convolution.

    ``smoothed = G * (m w) / G * w`` with ``w = [bin is not NaN]`` and ``m`` the map
    with NaN set to 0; non-periodic, zero outside the range (mode "constant").
    NaN bins neither contribute nor change: they stay NaN. A constant map stays
    constant.
    """
    m = np.asarray(maps, dtype=np.float64)
    valid = np.isfinite(m)
    w = valid.astype(np.float64)
    num = gaussian_filter1d(np.where(valid, m, 0.0), smooth_sd, axis=-1, mode="constant")
    den = gaussian_filter1d(w, smooth_sd, axis=-1, mode="constant")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.asarray(np.where(valid & (den > 0), out, np.nan))


def rate_maps(
    activity: ArrayLike,
    position: ArrayLike,
    n_bins: int = 100,
    *,
    bounds: tuple[float, float] | None = None,
    smooth_sd: float | None = None,
) -> RateMaps:
    """Rate maps: mean activity of each unit in each position bin.

    ``activity`` (T, units), ``position`` (T,) (pass :func:`signed_position` to
    separate running directions). ``n_bins`` equal bins over ``[min, max]`` of
    the position, or over ``bounds`` (samples outside are dropped; NaN positions
    always are). ``map[u, i] = sum_{t in bin i} activity[t, u] / occupancy[i]``;
    bins never visited are NaN.

    ``smooth_sd`` (in bins; the paper displays with 6): smooth each map with
    :func:`smooth_maps` (a Gaussian by normalised convolution that ignores NaN
    bins). ``occupancy`` is never smoothed.

    Returns ``RateMaps(maps (units, bins), occupancy (bins,), edges (bins + 1,))``.
    """
    act, pos = checked_activity(activity, position, n_bins)
    edges = bin_edges(pos, n_bins, bounds)
    idx = bin_index(pos, edges)
    keep = idx >= 0
    idx, act = idx[keep], act[keep]
    occupancy = np.bincount(idx, minlength=n_bins)
    sums = np.zeros((n_bins, act.shape[1]))
    if idx.size:
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
        sums[sorted_idx[starts]] = np.add.reduceat(act[order], starts, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        maps = np.where(occupancy[:, None] > 0, sums / occupancy[:, None], np.nan).T
    if smooth_sd is not None and smooth_sd > 0:
        maps = smooth_maps(maps, smooth_sd)
    elif smooth_sd is not None and smooth_sd < 0:
        raise ValueError(f"smooth_sd must be >= 0, got {smooth_sd}")
    return RateMaps(maps=np.asarray(maps), occupancy=occupancy, edges=edges)


def spatial_information(maps: ArrayLike, occupancy: ArrayLike) -> np.ndarray:
    """Skaggs spatial information in bits, one value per unit (paper eq. 4).

    ``SI = sum_i p_i (r_i / r_bar) log2(r_i / r_bar)``, ``r_bar = sum_i p_i r_i``,
    ``p_i = occupancy_i / sum_j occupancy_j``, with ``0 log 0 = 0``.

    ``maps`` (..., units, bins) rates (non-negative; e.g. ReLU activity),
    ``occupancy`` (bins,) counts or probabilities -> (..., units). Bins with zero
    occupancy or a NaN rate are ignored (``p`` renormalised over the rest, per
    unit). A unit with ``r_bar == 0`` (silent) has SI 0; a unit with no usable
    bin, or a negative rate, has SI NaN. Tiny negative rounding is clipped to 0.

    Closed forms: a uniform map has 0 bits; a map active in exactly one of n
    equally visited bins has ``log2(n)`` bits.

    >>> import numpy as np
    >>> spatial_information(np.array([[1.0, 0, 0, 0], [2.0, 2, 2, 2]]), np.ones(4)).tolist()
    [2.0, 0.0]
    """
    r = np.asarray(maps, dtype=np.float64)
    occ = np.asarray(occupancy, dtype=np.float64)
    valid = np.isfinite(r) & (occ > 0)
    p = np.where(valid, occ, 0.0)
    r = np.where(valid, r, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        p = p / p.sum(axis=-1, keepdims=True)
        r_bar = np.sum(p * r, axis=-1, keepdims=True)
        ratio = r / r_bar
        terms = np.where(ratio > 0, p * ratio * np.log2(np.where(ratio > 0, ratio, 1.0)), 0.0)
        si = np.maximum(np.sum(terms, axis=-1), 0.0)
    r_bar = r_bar[..., 0]
    si = np.where(r_bar == 0, 0.0, si)
    bad = ~valid.any(axis=-1) | np.any(valid & (r < 0), axis=-1)
    return np.asarray(np.where(bad, np.nan, si))


def place_units(si: ArrayLike, threshold: float = 0.01) -> np.ndarray:
    """Place units: boolean mask ``SI > threshold`` (bits; NaN is never a place unit)."""
    s = np.asarray(si, dtype=np.float64)
    return np.asarray(np.where(np.isfinite(s), s, -np.inf) > threshold)


def mean_place_si(si: ArrayLike, threshold: float = 0.01) -> np.ndarray:
    """Mean SI over place units (Figure 2C's blue curve); NaN where there are none.

    ``si`` (..., units) -> (...); a 0-d array for one vector.
    """
    s = np.asarray(si, dtype=np.float64)
    place = place_units(s, threshold)
    n = place.sum(axis=-1)
    total = np.sum(np.where(place, s, 0.0), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(n > 0, total / np.maximum(n, 1), np.nan))
