"""A sweep's runs by learning rule and noise: the per-group table and the slope fit.

The summary of a sweep has one row per run (see :func:`group_table` for the
columns read here). Runs are grouped by (``algorithm``, ``noise_type``,
``steps``): the learning rule, the kind of added noise and the planned length,
as the authors' summary table groups their Table 1 simulations (Figure 3A of
Ratzon, Derdikman & Barak 2023). :func:`group_label` names a group as the
figures' legends do ("GD + update noise", "Adam", "GD, no noise").

:func:`fit_slope` is the ordinary least-squares line of Figure 3B (bottom):
log10 sparsification rate = a + slope x log10 noise variance, with a t
confidence interval for the slope.

numpy, scipy and pandas only: no JAX.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

GROUP_KEYS: tuple[str, str, str] = ("algorithm", "noise_type", "steps")
"""The columns that define a group of :func:`group_table`."""

METRICS: tuple[str, ...] = ("final_log10_loss", "active_ratio", "active_units_ratio", "log10_rate")
"""The summary columns :func:`group_table` describes by median and quartiles."""

ALGORITHM_NAMES: dict[str, str] = {
    "gd": "GD",
    "sgd": "SGD",
    "adam": "Adam",
    "rmsprop": "RMSprop",
    "sed": "SED",
}
"""How the legends spell a learning rule (others: as given)."""

SELF_NOISY: frozenset[str] = frozenset({"adam", "rmsprop", "sed"})
"""Rules that sparsify without added noise (the paper's Adam, RMSprop and SED):
their noise-free group is named by the rule alone ("Adam", not "Adam, no noise")."""

GROUP_ORDER: tuple[str, ...] = (
    "GD + update noise",
    "GD + label noise",
    "Adam",
    "Adam + label noise",
    "SED",
    "GD, no noise",
)
"""The order of the paper's groups in tables and legends; other groups follow,
sorted by name."""


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # an array-like: not a missing scalar
        return False


def group_label(algorithm: Any, noise_type: Any) -> str:
    """The legend name of a group: the rule (:data:`ALGORITHM_NAMES`) and its added noise.

    ``noise_type`` ``update``/``label``/``input`` gives "GD + update noise"; ``none``
    gives "GD, no noise" for rules that need added noise to drift, and the bare
    rule ("Adam", "SED") for :data:`SELF_NOISY` ones. Missing values (None, NaN)
    read "unknown rule" and "noise unknown".

    >>> group_label("gd", "update"), group_label("adam", "none"), group_label("sgd", "none")
    ('GD + update noise', 'Adam', 'SGD, no noise')
    """
    if _missing(algorithm):
        rule, key = "unknown rule", ""
    else:
        key = str(algorithm).strip().lower()
        rule = ALGORITHM_NAMES.get(key, str(algorithm))
    if _missing(noise_type):
        return f"{rule}, noise unknown"
    noise = str(noise_type).strip().lower()
    if noise in ("none", ""):
        return rule if key in SELF_NOISY else f"{rule}, no noise"
    return f"{rule} + {noise} noise"


def order_groups(labels: Sequence[str]) -> list[str]:
    """The distinct ``labels`` in :data:`GROUP_ORDER`, then the others by name."""
    distinct = set(labels)
    known = [g for g in GROUP_ORDER if g in distinct]
    return known + sorted(distinct - set(GROUP_ORDER))


def labels_of(summary: pd.DataFrame) -> pd.Series:
    """Each run's :func:`group_label`, indexed like ``summary``."""
    return pd.Series(
        [
            group_label(a, n)
            for a, n in zip(summary["algorithm"], summary["noise_type"], strict=True)
        ],
        index=summary.index,
        dtype=object,
    )


def kept(summary: pd.DataFrame) -> pd.Series:
    """``authors_filter_kept`` as booleans; a missing value (NaN) counts as not kept."""
    flags = summary["authors_filter_kept"]
    return pd.Series([bool(v) and not _missing(v) for v in flags], index=summary.index)


def _quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """(median, q25, q75) of the finite values, numpy's linear interpolation; NaN if none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return math.nan, math.nan, math.nan
    q25, median, q75 = np.quantile(finite, [0.25, 0.5, 0.75])
    return float(median), float(q25), float(q75)


def group_table(summary: pd.DataFrame, *, kept_only: bool = False) -> pd.DataFrame:
    """One row per (algorithm, noise_type, steps) group of a sweep's runs.

    Columns: ``group`` (:func:`group_label`), ``algorithm``, ``noise_type``,
    ``steps``, ``n_runs`` (every run of the group, any status), ``n_complete``
    (status ``complete``), ``n_rate`` (complete runs with a finite
    ``log10_rate``, i.e. whose exponential fit succeeded), and for each
    ``m`` of :data:`METRICS` (``final_log10_loss``, ``active_ratio``,
    ``active_units_ratio``, ``log10_rate``): ``m_median``, ``m_q25``, ``m_q75``.

    The statistics are over the group's **complete** runs only (diverged,
    failed and pending runs are counted in ``n_runs`` but not described), and
    over their finite values (a failed fit's NaN rate is left out); a group
    without any is NaN. Quartiles use numpy's default (linear) interpolation.

    ``kept_only``: keep only the runs the authors' collector would keep
    (``authors_filter_kept``; a missing flag counts as not kept) before
    grouping, counts included.

    Rows are ordered as :data:`GROUP_ORDER`, then by steps; groups whose
    ``noise_type`` or ``steps`` is missing are kept (NaN keys).
    """
    missing = [c for c in (*GROUP_KEYS, "status", *METRICS) if c not in summary.columns]
    if kept_only and "authors_filter_kept" not in summary.columns:
        missing.append("authors_filter_kept")
    if missing:
        raise ValueError(f"group_table: the summary has no column {', '.join(missing)}")
    runs = summary[kept(summary)] if kept_only else summary
    stat_cols = [f"{m}_{s}" for m in METRICS for s in ("median", "q25", "q75")]
    columns = ["group", *GROUP_KEYS, "n_runs", "n_complete", "n_rate", *stat_cols]
    rows: list[dict[str, Any]] = []
    for keys, part in runs.groupby(list(GROUP_KEYS), dropna=False, sort=False):
        algorithm, noise_type, steps = keys
        complete = part[part["status"] == "complete"]
        row: dict[str, Any] = {
            "group": group_label(algorithm, noise_type),
            "algorithm": algorithm,
            "noise_type": noise_type,
            "steps": steps,
            "n_runs": len(part),
            "n_complete": len(complete),
            "n_rate": int(np.isfinite(complete["log10_rate"].to_numpy(np.float64)).sum()),
        }
        for m in METRICS:
            median, q25, q75 = _quartiles(complete[m].to_numpy(np.float64))
            row.update({f"{m}_median": median, f"{m}_q25": q25, f"{m}_q75": q75})
        rows.append(row)
    table = pd.DataFrame(rows, columns=columns)
    if table.empty:
        return table
    rank = {g: i for i, g in enumerate(order_groups(list(table["group"])))}
    table["_rank"] = table["group"].map(rank)
    table = table.sort_values(["_rank", "steps"], kind="stable", na_position="last")
    table = table.drop(columns="_rank").reset_index(drop=True)
    for c in ("n_runs", "n_complete", "n_rate"):
        table[c] = table[c].astype(np.int64)
    return table


@dataclass(frozen=True)
class SlopeFit:
    """An ordinary least-squares line y = intercept + slope x and the slope's CI.

    ``ci_low``, ``ci_high``: the ``level`` confidence interval of the slope,
    slope -+ t_{(1+level)/2, n-2} x stderr; ``stderr`` = sqrt(SSE / (n - 2) / Sxx);
    ``r2`` = 1 - SSE / SST; ``n``: the finite (x, y) pairs used; ``x_mean``,
    ``y_mean``: their means (the fitted line passes through them). Every
    float is NaN when n < 3 or x does not vary (``r2`` also when y does not).
    """

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    n: int
    r2: float
    stderr: float = math.nan
    level: float = 0.95
    x_mean: float = math.nan
    y_mean: float = math.nan

    @property
    def ok(self) -> bool:
        """Whether the fit has a finite slope and interval."""
        return bool(np.isfinite(self.slope) and np.isfinite(self.ci_low))


def fit_slope(x: Any, y: Any, level: float = 0.95) -> SlopeFit:
    """Least-squares slope of y on x with a ``level`` confidence interval.

    Pairs where x or y is not finite are dropped. With n pairs, Sxx = sum (x -
    x_mean)^2 and Sxy = sum (x - x_mean)(y - y_mean): slope = Sxy / Sxx,
    intercept = y_mean - slope x_mean, and the interval is slope -+ t x
    sqrt(SSE / (n - 2) / Sxx), t the (1 + level) / 2 quantile of Student's t
    with n - 2 degrees of freedom (scipy.stats.t) -- exact for independent
    Gaussian residuals. n < 3 or a constant x gives NaN fields (``n`` still
    counts the pairs).

    >>> f = fit_slope([0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 7.0])
    >>> round(f.slope, 6), round(f.intercept, 6), f.n, round(f.r2, 6)
    (2.0, 1.0, 4, 1.0)
    """
    from scipy import stats

    if not 0.0 < level < 1.0:
        raise ValueError(f"fit_slope: level must be in (0, 1), got {level}")
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    if xs.shape != ys.shape:
        raise ValueError(f"fit_slope: x has {xs.size} values, y {ys.size}")
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    n = int(xs.size)
    nan = math.nan
    if n < 3:
        return SlopeFit(nan, nan, nan, nan, n, nan, level=level)
    x_mean, y_mean = float(xs.mean()), float(ys.mean())
    dx, dy = xs - x_mean, ys - y_mean
    sxx = float(dx @ dx)
    if not sxx > 0.0:
        return SlopeFit(nan, nan, nan, nan, n, nan, level=level, x_mean=x_mean, y_mean=y_mean)
    slope = float(dx @ dy) / sxx
    intercept = y_mean - slope * x_mean
    resid = dy - slope * dx
    sse = float(resid @ resid)
    sst = float(dy @ dy)
    stderr = math.sqrt(sse / (n - 2) / sxx)
    half = float(stats.t.ppf(0.5 + level / 2.0, n - 2)) * stderr
    r2 = 1.0 - sse / sst if sst > 0.0 else nan
    return SlopeFit(
        slope=slope,
        intercept=intercept,
        ci_low=slope - half,
        ci_high=slope + half,
        n=n,
        r2=r2,
        stderr=stderr,
        level=level,
        x_mean=x_mean,
        y_mean=y_mean,
    )
