"""Measurements of the Hebbian/anti-Hebbian network, over plain arrays.

Notation: X (T, d) the inputs, Y (T, n) the fixed-point rates of the n neurons
for every input, both as float64 NumPy arrays (recorded data works as well).

Similarity-matching loss (non-negative similarity matching with a bias term and
l1/l2 regularisers; Pehlevan, Sengupta & Chklovskii 2018, Neural Comput. 30:84,
eq. 1; Sengupta et al. 2018, NeurIPS, eq. 2 for alpha and y >= 0; Qin et al.
2023, Methods, for lambda1 and lambda2)::

    L(Y) = 1/(2 T^2) sum_{t,t'} (x_t . x_t' - alpha - y_t . y_t')^2
           + 1/T sum_t (2 lambda1 |y_t|_1 + lambda2 |y_t|^2)

Its stationarity conditions in y_t, with W = Y^T X / T, M = Y^T Y / T and
b = sqrt(alpha) mean_t y_t (the averages the plasticity rules track), are the
fixed-point equations of the neural dynamics, so the network's online learning
descends L. Figure 3C of Ratzon, Derdikman & Barak (2023) plots a loss of the
authors' MATLAB run whose formula is not published; ``similarity_loss`` is the
objective above (nonnegative: the constant 1/(2 T^2) |X X^T - alpha|^2 is kept).

Fraction active (Qin et al. 2023 code): a neuron is active when its rate exceeds
``threshold`` (ring model 0.05, place model 0.1) for at least ``min_inputs``
inputs (1: its peak exceeds the threshold; the place-cell code asks for more
than 3 positions).

Population-vector (PV) correlation between two times a and b: the Pearson
correlation across neurons of y_a(x_t) and y_b(x_t), averaged over the inputs t
(Qin et al. 2023, Fig. 4; inputs where either vector is constant are skipped).

Receptive-field centroids: the rate-weighted mean of the input coordinate of an
active neuron (a circular mean on the ring), NaN for inactive neurons. Their
mean squared displacement over a time lag tau, MSD(tau) = <(c(t + tau) - c(t))^2>
over neurons active at both times and all pairs of record times (differences
wrapped to (-pi, pi] on the ring), and the diffusion constant D of the 1-D
random walk MSD = 2 D tau, fitted by least squares through the origin.
"""

from __future__ import annotations

import numpy as np


def similarity_mismatch(X: np.ndarray, Y: np.ndarray, alpha: float = 0.0) -> float:
    """1/(2 T^2) |X X^T - alpha - Y Y^T|_F^2: how far the output similarities are from
    the (shifted) input similarities."""
    T = X.shape[0]
    gap = X @ X.T - alpha - Y @ Y.T  # (T, T)
    return float(np.sum(gap * gap) / (2 * T * T))


def similarity_loss(
    X: np.ndarray,
    Y: np.ndarray,
    *,
    alpha: float = 0.0,
    lambda1: float = 0.0,
    lambda2: float = 0.0,
) -> float:
    """The similarity-matching loss L(Y) of the module docstring."""
    T = X.shape[0]
    reg = (2 * lambda1 * np.sum(np.abs(Y)) + lambda2 * np.sum(Y * Y)) / T
    return similarity_mismatch(X, Y, alpha) + float(reg)


def active_units(Y: np.ndarray, threshold: float, min_inputs: int = 1) -> np.ndarray:
    """(n,) bool: neurons whose rate exceeds ``threshold`` for at least ``min_inputs`` inputs."""
    return np.asarray(np.sum(np.greater(Y, threshold), axis=0) >= min_inputs)


def fraction_active(Y: np.ndarray, threshold: float, min_inputs: int = 1) -> float:
    """Fraction of neurons that are active (:func:`active_units`).

    >>> Y = np.array([[0.0, 0.2, 0.0], [0.01, 0.3, 0.06]])  # 2 inputs, 3 neurons
    >>> fraction_active(Y, 0.05), fraction_active(Y, 0.05, min_inputs=2)
    (0.6666666666666666, 0.3333333333333333)
    """
    return float(np.mean(active_units(Y, threshold, min_inputs)))


def pv_correlation(Ya: np.ndarray, Yb: np.ndarray) -> float:
    """Mean over inputs of the Pearson correlation of the population vectors (T, n) at two
    times; NaN when no input has a non-constant vector at both."""
    a = Ya - Ya.mean(axis=1, keepdims=True)
    b = Yb - Yb.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.sum(a * a, axis=1) * np.sum(b * b, axis=1))
    ok = norm > 0
    if not ok.any():
        return float("nan")
    return float(np.mean(np.sum(a * b, axis=1)[ok] / norm[ok]))


def pv_correlation_matrix(Ys: np.ndarray) -> np.ndarray:
    """(R, R) PV correlations between every pair of R recorded populations (R, T, n)."""
    R = Ys.shape[0]
    out = np.eye(R)
    for i in range(R):
        for j in range(i + 1, R):
            out[i, j] = out[j, i] = pv_correlation(Ys[i], Ys[j])
    return out


def rf_centroids(
    Y: np.ndarray,
    coords: np.ndarray,
    *,
    threshold: float,
    min_inputs: int = 1,
    period: float | None = None,
) -> np.ndarray:
    """(n,) receptive-field centroids of the active neurons of Y (T, n) over the input
    coordinate ``coords`` (T,): rate-weighted mean, circular when ``period`` is given
    (result in [0, period)); NaN for inactive neurons."""
    active = active_units(Y, threshold, min_inputs)
    mass = Y.sum(axis=0)
    safe = np.where(mass > 0, mass, 1.0)
    if period is None:
        centre = (coords @ Y) / safe
    else:
        phase = np.exp(2j * np.pi * coords / period) @ Y
        centre = np.mod(np.angle(phase) * period / (2 * np.pi), period)
    return np.where(active, centre, np.nan)


def centroid_msd(
    centroids: np.ndarray, steps: np.ndarray, *, period: float | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean squared displacement of centroids (R, n) recorded at ``steps`` (R,), grouped by
    the exact step difference of every pair of records.

    Returns (lags, msd, counts): the distinct lags (ascending), the MSD at each, and the
    number of (neuron, pair) displacements averaged there (neurons active at both times).
    """
    i, j = np.triu_indices(len(steps), k=1)
    lag = np.asarray(steps)[j] - np.asarray(steps)[i]  # (pairs,)
    diff = centroids[j] - centroids[i]  # (pairs, n)
    if period is not None:
        diff = (diff + period / 2) % period - period / 2
    sq = diff * diff
    ok = np.isfinite(sq)
    lags = np.unique(lag)
    where = np.searchsorted(lags, lag)
    total = np.bincount(where, weights=np.where(ok, sq, 0.0).sum(axis=1), minlength=len(lags))
    counts = np.bincount(where, weights=ok.sum(axis=1), minlength=len(lags))
    with np.errstate(invalid="ignore", divide="ignore"):
        msd = np.where(counts > 0, total / np.where(counts > 0, counts, 1), np.nan)
    return lags, msd, counts.astype(np.int64)


def diffusion_constant(lags: np.ndarray, msd: np.ndarray) -> float:
    """D of MSD = 2 D tau (a 1-D random walk) by least squares through the origin:
    D = sum(tau MSD) / (2 sum(tau^2)) over the finite points; NaN if there are none."""
    ok = np.isfinite(msd) & (lags > 0)
    if not ok.any():
        return float("nan")
    tau, m = lags[ok].astype(np.float64), msd[ok]
    return float(np.sum(tau * m) / (2 * np.sum(tau * tau)))
