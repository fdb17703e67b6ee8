"""The field's drift statistics for recordings of the same cells over several sessions.

Per session (one animal running on a linear track, cells' activity per frame):

* movement: samples where the animal runs at least ``speed_threshold`` (position
  units per second, speed by central differences) are kept (Ziv et al. 2013 keep
  running epochs only);
* occupancy-normalised rate maps (:func:`occupancy_rate_maps`): per bin, the summed
  activity over the seconds spent there, ``r_i = sum_{t in i} a_t / (n_i dt)``, with
  ``dt`` the median frame interval; bins visited for less than ``min_occupancy``
  seconds are left out (NaN);
* Skaggs SI with a circular-shift shuffle test and the shuffle-corrected SI
  (:func:`driftlab.metrics.shuffle_spatial_information`) on the kept samples;
  place cells are active cells whose SI beats the shuffles' percentile;
* the place-cell fraction (of active cells), the fraction of active cells, the
  mean SI (raw and shuffle-corrected) of place cells, and the cross-validated
  decoding error (:func:`driftlab.metrics.decoding_error`).

Across sessions, for the cells matched between two sessions (by a cell id):

* the rate-map correlation of each matched cell that is a place cell in either
  session and active in both (Pearson over the bins valid in both sessions),
  averaged over those cells;
* the population-vector correlation (:func:`driftlab.metrics.population_vector_correlation`);
* the decoding error of session j's positions from session i's rate maps
  (nearest-template decoder, as within a session);

each as a function of the time between the sessions, and a straight-line fit of
any statistic over session time with its 95% confidence interval
(:func:`trend`). Ziv et al. (2013), Nat. Neurosci. 16, 264; Rubin et al. (2015),
eLife 4, e12247; Skaggs et al. (1993).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from driftlab.metrics.drift import (
    decoding_error,
    nearest_template,
    population_vector_correlation,
)
from driftlab.metrics.ratemaps import RateMaps, bin_edges, bin_index, rate_maps, smooth_maps
from driftlab.metrics.shuffle import ShuffleSI, shuffle_spatial_information


@dataclass(frozen=True)
class Session:
    """One recording session: ``activity`` (T, cells) per frame (events, deconvolved
    activity or dF/F; non-negative), ``position`` (T,) on a linear track, ``time``
    (T,) in seconds, ``cells`` (cells,) the ids that match cells across sessions,
    ``day``: when the session was recorded (days, any origin), ``name``."""

    activity: np.ndarray
    position: np.ndarray
    time: np.ndarray
    cells: np.ndarray
    day: float
    name: str = ""


@dataclass(frozen=True)
class SessionOptions:
    """How every session is measured (defaults: those common for mouse CA1 on a
    1-2 m track, position in cm)."""

    n_bins: int = 40
    bounds: tuple[float, float] | None = None  # the track's ends (default: the data's)
    speed_threshold: float = 2.0  # position units per second
    min_occupancy: float = 0.1  # seconds a bin must be visited
    n_shuffles: int = 500
    percentile: float = 95.0
    seed: int = 0
    decoding_block: int = 20  # samples per cross-validation block


def common_bounds(sessions: Sequence[Session]) -> tuple[float, float]:
    """The range of every session's positions: bounds that give all sessions one set of
    bins (NaN positions ignored)."""
    lo = min(float(np.nanmin(s.position)) for s in sessions)
    hi = max(float(np.nanmax(s.position)) for s in sessions)
    return lo, hi


def movement_mask(position: ArrayLike, time: ArrayLike, speed_threshold: float) -> np.ndarray:
    """(T,) bool: samples where ``|d position / d time| >= speed_threshold`` (central
    differences, :func:`numpy.gradient`); all True for a threshold of 0."""
    pos = np.asarray(position, dtype=np.float64)
    t = np.asarray(time, dtype=np.float64)
    if speed_threshold <= 0:
        return np.ones(pos.shape, dtype=bool)
    speed = np.abs(np.gradient(pos, t))
    return np.asarray(speed >= speed_threshold)


def frame_interval(time: ArrayLike) -> float:
    """The median interval between samples (seconds); ValueError for fewer than two
    samples or timestamps that do not increase."""
    t = np.asarray(time, dtype=np.float64)
    if t.size < 2:
        raise ValueError("time: at least two samples are needed")
    dt = np.diff(t)
    if not np.all(dt > 0):
        raise ValueError("time: timestamps must increase")
    return float(np.median(dt))


def occupancy_rate_maps(
    activity: ArrayLike,
    position: ArrayLike,
    time: ArrayLike,
    *,
    n_bins: int = 40,
    bounds: tuple[float, float] | None = None,
    speed_threshold: float = 0.0,
    min_occupancy: float = 0.0,
    smooth_sd: float | None = None,
) -> RateMaps:
    """Occupancy-normalised rate maps of the moving samples (see module docstring).

    ``maps`` (cells, bins): activity per second in each bin, NaN where the bin was
    visited for less than ``min_occupancy`` seconds; ``occupancy`` (bins,): seconds
    spent in each bin (moving samples only).
    """
    act = np.asarray(activity, dtype=np.float64)
    dt = frame_interval(time)
    keep = movement_mask(position, time, speed_threshold)
    pos = np.asarray(position, dtype=np.float64)
    edges = bin_edges(pos, n_bins, bounds)
    rm = rate_maps(act[keep], pos[keep], n_bins, bounds=(float(edges[0]), float(edges[-1])))
    seconds = rm.occupancy * dt
    maps = np.where(seconds[None, :] >= max(min_occupancy, 1e-300), rm.maps / dt, np.nan)
    if smooth_sd is not None:
        maps = smooth_maps(maps, smooth_sd)
    return RateMaps(maps=maps, occupancy=seconds, edges=edges)


class SessionResult(NamedTuple):
    """What :func:`session_statistics` measures in one session."""

    maps: RateMaps  # occupancy-normalised, unsmoothed
    shuffle: ShuffleSI  # per cell: si, corrected, p_value, place
    active: np.ndarray  # (cells,) bool: any activity on a moving sample
    place_fraction: float  # place cells / active cells
    active_fraction: float  # active cells / cells
    mean_si: float  # raw SI of place cells (bits), NaN without place cells
    mean_si_corrected: float  # shuffle-corrected SI of place cells
    decoding_error: float  # cross-validated, position units
    kept: np.ndarray  # (T,) bool: the samples measured (moving, in well-visited bins)


def _kept_samples(session: Session, opts: SessionOptions, edges: np.ndarray) -> np.ndarray:
    """Moving samples inside the track whose bin was visited for ``min_occupancy``."""
    keep = movement_mask(session.position, session.time, opts.speed_threshold)
    idx = bin_index(np.asarray(session.position, dtype=np.float64), edges)
    keep &= idx >= 0
    dt = frame_interval(session.time)
    seconds = np.bincount(idx[keep], minlength=edges.size - 1) * dt
    return np.asarray(keep & (seconds[np.maximum(idx, 0)] >= opts.min_occupancy))


def session_statistics(session: Session, opts: SessionOptions | None = None) -> SessionResult:
    """Rate maps, shuffle-tested place cells and the per-session drift statistics."""
    opts = opts or SessionOptions()
    pos = np.asarray(session.position, dtype=np.float64)
    edges = bin_edges(pos, opts.n_bins, opts.bounds)
    bounds = (float(edges[0]), float(edges[-1]))
    maps = occupancy_rate_maps(
        session.activity,
        pos,
        session.time,
        n_bins=opts.n_bins,
        bounds=bounds,
        speed_threshold=opts.speed_threshold,
        min_occupancy=opts.min_occupancy,
    )
    keep = _kept_samples(session, opts, edges)
    act = np.asarray(session.activity, dtype=np.float64)[keep]
    shuffled = shuffle_spatial_information(
        act,
        pos[keep],
        n_shuffles=opts.n_shuffles,
        percentile=opts.percentile,
        n_bins=opts.n_bins,
        bounds=bounds,
        rng=opts.seed,
    )
    active = np.asarray(act.sum(axis=0) > 0)
    place = np.asarray(shuffled.place)
    n_active = int(active.sum())
    return SessionResult(
        maps=maps,
        shuffle=shuffled,
        active=active,
        place_fraction=float(place.sum() / n_active) if n_active else float("nan"),
        active_fraction=float(n_active / active.size) if active.size else float("nan"),
        mean_si=float(np.mean(shuffled.si[place])) if place.any() else float("nan"),
        mean_si_corrected=(
            float(np.mean(shuffled.corrected[place])) if place.any() else float("nan")
        ),
        decoding_error=decoding_error(
            act, pos[keep], opts.n_bins, block=opts.decoding_block, bounds=bounds
        ),
        kept=keep,
    )


class PairResult(NamedTuple):
    """Two sessions compared over their matched cells."""

    first: int
    second: int
    lag: float  # days between them
    matched: int  # cells present in both
    ratemap_corr: float  # mean over matched place cells (in either) active in both
    ratemap_cells: int  # how many cells that mean is over
    pv_corr: float
    decoding_error: float  # second session's positions from the first's maps


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, the Pearson correlation over the columns finite in both; NaN when
    fewer than 3 such columns or a constant row."""
    out = np.full(a.shape[0], np.nan)
    for k in range(a.shape[0]):
        ok = np.isfinite(a[k]) & np.isfinite(b[k])
        if ok.sum() < 3:
            continue
        x, y = a[k, ok], b[k, ok]
        if x.std() > 0 and y.std() > 0:
            out[k] = float(np.corrcoef(x, y)[0, 1])
    return out


def _matched(a: Session, b: Session) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of the cells present in both sessions, in the same order."""
    _, ia, ib = np.intersect1d(np.asarray(a.cells), np.asarray(b.cells), return_indices=True)
    return ia, ib


def cross_decoding_error(
    train_maps: np.ndarray,
    edges: np.ndarray,
    test_activity: np.ndarray,
    test_position: np.ndarray,
    dt: float,
) -> float:
    """Mean |error| of decoding ``test_position`` from ``test_activity`` (T, cells) as
    the centre of the bin whose ``train_maps`` column (a rate per second) is nearest
    to the sample's activity per second (bins NaN in any cell left out;
    :func:`driftlab.metrics.drift.nearest_template`)."""
    if test_activity.shape[0] == 0:
        return float("nan")
    use = np.all(np.isfinite(train_maps), axis=0)
    decoded = nearest_template(test_activity / dt, train_maps, edges, use)
    return float(np.mean(np.abs(decoded - test_position)))


def pair_statistics(
    sessions: Sequence[Session], results: Sequence[SessionResult]
) -> list[PairResult]:
    """Every ordered pair of sessions (i before j) compared over their matched cells,
    on the samples each session's result measured (``kept``).

    The sessions' rate maps must share their bins: measure them with the same
    ``bounds`` (:func:`common_bounds`); ValueError otherwise."""
    every = [r.maps.edges for r in results]
    if any(e.shape != every[0].shape or not np.allclose(e, every[0]) for e in every):
        raise ValueError(
            "the sessions' rate maps have different bins: measure every session with the "
            "same SessionOptions(bounds=...) (common_bounds(sessions))"
        )
    out = []
    for i in range(len(sessions)):
        for j in range(i + 1, len(sessions)):
            a, b = sessions[i], sessions[j]
            ia, ib = _matched(a, b)
            ra, rb = results[i], results[j]
            place = np.asarray(ra.shuffle.place)[ia] | np.asarray(rb.shuffle.place)[ib]
            both = ra.active[ia] & rb.active[ib] & place
            corr = _pearson_rows(ra.maps.maps[ia][both], rb.maps.maps[ib][both])
            keep = rb.kept
            dec = cross_decoding_error(
                ra.maps.maps[ia],
                ra.maps.edges,
                np.asarray(b.activity, dtype=np.float64)[keep][:, ib],
                np.asarray(b.position, dtype=np.float64)[keep],
                frame_interval(b.time),
            )
            out.append(
                PairResult(
                    first=i,
                    second=j,
                    lag=float(b.day - a.day),
                    matched=int(ia.size),
                    ratemap_corr=float(np.nanmean(corr)) if np.isfinite(corr).any() else np.nan,
                    ratemap_cells=int(np.isfinite(corr).sum()),
                    pv_corr=population_vector_correlation(ra.maps.maps[ia], rb.maps.maps[ib]),
                    decoding_error=dec,
                )
            )
    return out


@dataclass(frozen=True)
class Trend:
    """A straight-line fit y = intercept + slope x by least squares, with the 95%
    confidence interval of the slope (Student t, n - 2 degrees of freedom) and the
    two-sided p-value of slope = 0; NaN when fewer than 3 finite points."""

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int


def trend(x: ArrayLike, y: ArrayLike) -> Trend:
    """:class:`Trend` of ``y`` over ``x`` (points with a NaN in either are left out)."""
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    n = int(xs.size)
    if n < 3 or np.ptp(xs) == 0:
        nan = float("nan")
        return Trend(nan, nan, nan, nan, nan, n)
    fit = stats.linregress(xs, ys)
    half = float(stats.t.ppf(0.975, n - 2) * fit.stderr)
    return Trend(
        slope=float(fit.slope),
        intercept=float(fit.intercept),
        ci_low=float(fit.slope - half),
        ci_high=float(fit.slope + half),
        p_value=float(fit.pvalue),
        n=n,
    )
