"""Measures of representational drift between time points (Figure 2E-F).

* :func:`ratemap_correlation_matrix`: Figure 2E, the mean Pearson correlation
  of each unit's rate map between two time points, over units that are place
  units at both.
* :func:`population_vector_correlation`: per-bin correlation of the population
  vectors at two time points, averaged over bins.
* :func:`decoding_error`: position decoding error from the hidden activity
  (Figure 2F, right; the paper reproduces experimental data there and states no
  decoder, so the one used here is stated in its docstring).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from driftlab.metrics.ratemaps import bin_edges, checked_activity, rate_maps

# a map whose peak-to-peak range is below this fraction of its largest absolute
# value counts as constant (its correlation is undefined)
_CONSTANT_RTOL = 1e-9


def _pearson(a: np.ndarray, b: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Pearson correlation of ``a`` and ``b`` along ``axis``, NaN entries ignored pairwise.

    Returns ``(r, defined)``: ``defined`` is False where fewer than 2 entries are
    shared or either series is constant over them; ``r`` is 0 there.
    """
    m = np.isfinite(a) & np.isfinite(b)
    n = m.sum(axis=axis, keepdims=True)
    a0, b0 = np.where(m, a, 0.0), np.where(m, b, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        da = np.where(m, a0 - a0.sum(axis=axis, keepdims=True) / n, 0.0)
        db = np.where(m, b0 - b0.sum(axis=axis, keepdims=True) / n, 0.0)
    cov = np.sum(da * db, axis=axis)
    va, vb = np.sum(da * da, axis=axis), np.sum(db * db, axis=axis)

    def varies(x: np.ndarray) -> np.ndarray:
        hi = np.max(np.where(m, x, -np.inf), axis=axis)
        lo = np.min(np.where(m, x, np.inf), axis=axis)
        scale = np.max(np.where(m, np.abs(x), 0.0), axis=axis)
        with np.errstate(invalid="ignore"):
            return np.asarray((hi - lo) > _CONSTANT_RTOL * scale)

    defined = (n.squeeze(axis) >= 2) & varies(a) & varies(b) & (va > 0) & (vb > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(defined, cov / np.sqrt(np.where(defined, va * vb, 1.0)), 0.0)
    return np.clip(r, -1.0, 1.0), defined


def ratemap_correlation_matrix(maps: ArrayLike, place: ArrayLike) -> np.ndarray:
    """Mean rate-map correlation between every pair of time points (Figure 2E).

    ``maps`` (times, units, bins), ``place`` (times, units) boolean (e.g.
    :func:`~driftlab.metrics.place_units` of each time's SI). Entry (i, j) is
    ``mean_{u in P_ij} corr(maps[i, u], maps[j, u])``, with ``P_ij`` the units that
    are place units at both times i and j, ``corr`` the Pearson correlation over
    bins (bins NaN at either time ignored), and units whose map is constant
    (or has fewer than 2 shared bins) at either time skipped.

    Returns (times, times), symmetric; the diagonal is 1 where any place unit
    (with a non-constant map) exists; NaN where no unit qualifies.
    """
    m = np.asarray(maps, dtype=np.float64)
    pl = np.asarray(place, dtype=bool)
    if m.ndim != 3 or pl.shape != m.shape[:2]:
        raise ValueError(
            f"need maps (times, units, bins) and place (times, units), got {m.shape}, {pl.shape}"
        )
    n_times = m.shape[0]
    out = np.full((n_times, n_times), np.nan)
    for i in range(n_times):
        r, defined = _pearson(m[i][None], m[i:], axis=-1)  # (times - i, units)
        use = defined & pl[i][None] & pl[i:]
        count = use.sum(axis=-1)
        total = np.sum(np.where(use, r, 0.0), axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            row = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        out[i, i:] = row
        out[i:, i] = row
    return out


def population_vector_correlation(maps_a: ArrayLike, maps_b: ArrayLike) -> float:
    """Mean over bins of the correlation of the population vectors at two times.

    ``maps_a``, ``maps_b`` (units, bins). For each bin k, the Pearson correlation
    across units of ``maps_a[:, k]`` and ``maps_b[:, k]`` (units NaN in either
    ignored); bins where it is undefined (no data, or a constant vector) are
    skipped. Returns the mean over the rest, NaN if none.
    """
    a = np.asarray(maps_a, dtype=np.float64)
    b = np.asarray(maps_b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"need two (units, bins) maps of one shape, got {a.shape}, {b.shape}")
    r, defined = _pearson(a, b, axis=0)
    return float(np.mean(r[defined])) if defined.any() else float("nan")


def nearest_template(
    activity: np.ndarray, maps: np.ndarray, edges: np.ndarray, use: np.ndarray
) -> np.ndarray:
    """Decoded positions (T,): for each population vector ``activity[t]`` (T, units), the
    centre of the bin among ``use`` (bins,) bool whose column of ``maps`` (units, bins)
    is nearest in Euclidean distance; NaN everywhere if no bin is used."""
    if not use.any():
        return np.full(activity.shape[0], np.nan)
    templates = maps[:, use].T  # (used bins, units)
    centres = (0.5 * (edges[:-1] + edges[1:]))[use]
    # squared Euclidean distance, (samples, used bins)
    d2 = (
        np.sum(activity**2, axis=1)[:, None]
        - 2.0 * activity @ templates.T
        + np.sum(templates**2, axis=1)[None, :]
    )
    return np.asarray(centres[np.argmin(d2, axis=1)])


def _decode_fold(
    train_act: np.ndarray,
    train_pos: np.ndarray,
    test_act: np.ndarray,
    edges: np.ndarray,
) -> np.ndarray:
    """Predicted positions of the test samples from the training half's rate maps."""
    n_bins = edges.size - 1
    rm = rate_maps(train_act, train_pos, n_bins, bounds=(float(edges[0]), float(edges[-1])))
    return nearest_template(test_act, rm.maps, edges, rm.occupancy > 0)


def decoding_error(
    activity: ArrayLike,
    position: ArrayLike,
    n_bins: int = 100,
    *,
    block: int = 5,
    bounds: tuple[float, float] | None = None,
) -> float:
    """Cross-validated position decoding error (mean absolute error, position's units).

    Decoder: nearest rate-map template. ``n_bins`` equal bins span ``[min, max]``
    of the whole ``position`` (or ``bounds``); the training samples give rate maps (unsmoothed;
    bins never visited in training are excluded); each test sample's population
    vector ``activity[t]`` is assigned to the bin whose population vector
    ``maps[:, i]`` is nearest in Euclidean distance, and the predicted position
    is that bin's centre. Two-fold cross-validation over interleaved blocks of
    ``block`` consecutive samples: train on the even blocks, test on the odd
    ones, and vice versa, so that both folds cover the whole track (two halves of
    a short trajectory need not: on the 150-sample corridor they visit different
    positions). Returns ``mean_t |predicted_t - position_t|`` over all test samples
    of both folds (NaN if no prediction is possible).

    ``activity`` (T, units), ``position`` (T,). Pass :func:`signed_position` to
    decode running direction as well (a wrong direction then counts as a large
    error). A perfect code gives about the gap between the visited bins of the
    training fold (half a bin width when every bin is visited); activity unrelated to
    position gives about the error of a constant guess (a third of the range for
    a uniform occupancy and a random guess, a quarter for a central one).
    """
    act, pos = checked_activity(activity, position, n_bins)
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    if pos.size < 2 * block:
        raise ValueError(f"decoding needs at least 2 blocks of {block} samples")
    edges = bin_edges(pos, n_bins, bounds)
    even = (np.arange(pos.size) // block) % 2 == 0
    first, second = even, ~even
    pred = np.concatenate(
        [
            _decode_fold(act[first], pos[first], act[second], edges),
            _decode_fold(act[second], pos[second], act[first], edges),
        ]
    )
    truth = np.concatenate([pos[second], pos[first]])
    err = np.abs(pred - truth)
    ok = np.isfinite(err)
    return float(np.mean(err[ok])) if ok.any() else float("nan")
