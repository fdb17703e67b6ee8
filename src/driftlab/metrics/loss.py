"""Log loss relative to trivial predictors (Figure 2B).

Two baselines are offered, because they differ whenever the outputs have
different means:

* :func:`log_loss` divides by the variance of *all* entries of the targets, the
  MSE of predicting one overall mean for every output;
* :func:`log_loss_rel` divides by :func:`mean_estimator_mse`, the MSE of
  predicting each output's own mean (Figure 2B: "log loss of 0 corresponds to a
  mean estimator").

Reference: Ratzon, Derdikman & Barak (2023), Figure 2B; docs/conventions.md,
"Measurements".
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _as_2d(targets: ArrayLike) -> np.ndarray:
    y = np.asarray(targets, dtype=np.float64)
    return y.reshape(-1, 1) if y.ndim == 1 else y


def log_loss(mse: ArrayLike, targets: ArrayLike) -> np.ndarray:
    """Log loss against the overall-mean predictor: ``log10(mse / var(targets))``.

    ``var`` is taken over all entries of ``targets`` (samples, outputs), so 0
    means "as good as predicting the overall mean", negative is better.

    Shapes: ``mse`` scalar or any shape; ``targets`` any shape. Returns an array
    of ``mse``'s shape (0-d for a scalar; ``float(...)`` converts it). An MSE of
    0 gives ``-inf``.

    >>> import numpy as np
    >>> y = np.array([[0.0, 1.0], [2.0, 3.0]])
    >>> float(log_loss(np.var(y), y))
    0.0
    """
    var = float(np.var(np.asarray(targets, dtype=np.float64)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.log10(np.asarray(mse, dtype=np.float64) / var))


def mean_estimator_mse(targets: ArrayLike) -> float:
    """MSE of predicting each output's mean: ``mean_k var_t(targets[t, k])``.

    ``targets``: (samples, outputs), or (samples,) for one output. The variance
    is the population variance (ddof 0), matching an MSE averaged over samples
    and outputs.

    >>> import numpy as np
    >>> mean_estimator_mse(np.array([[0.0, 10.0], [2.0, 10.0]]))
    0.5
    """
    y = _as_2d(targets)
    return float(np.mean(np.var(y, axis=0)))


def log_loss_rel(mse: ArrayLike, targets: ArrayLike) -> np.ndarray:
    """Log loss against the mean estimator: ``log10(mse) - log10(mean_estimator_mse(targets))``.

    0 = as good as predicting every output's mean (Figure 2B's convention);
    negative is better. Shapes as :func:`log_loss`.
    """
    base = mean_estimator_mse(targets)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.log10(np.asarray(mse, dtype=np.float64)) - np.log10(base))


def log_loss_authors_fig2b(mse: ArrayLike, targets: ArrayLike) -> np.ndarray:
    """Figure 2B's y-axis as the authors' code computes it.

    ``log10(mse / var(targets)) - log10(mean_estimator_mse(targets))``, i.e.
    :func:`log_loss` (MSE over the variance of all target entries) minus the
    log10 MSE of the mean estimator. The two normalisations are applied one
    after the other, so the result equals ``log_loss_rel(mse, targets) -
    log10(var(targets))``: shifted from :func:`log_loss_rel` by
    ``-log10(var(targets))``, a constant per task (about +1.1 for the corridor's
    min-max scaled [0, 1] targets, var ~0.08). Its 0 is therefore *not* the mean
    estimator; use it only to compare with the published panel. Shapes as
    :func:`log_loss`.

    >>> import numpy as np
    >>> y = np.array([[0.0], [1.0]])  # var 0.25, mean-estimator MSE 0.25
    >>> round(float(log_loss_authors_fig2b(0.25, y)), 4)  # = -log10(0.25)
    0.6021
    """
    base = mean_estimator_mse(targets)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(log_loss(mse, targets) - np.log10(base))
