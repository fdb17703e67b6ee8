"""The tests that decide a claim's verdict, each with its threshold stated.

Every test returns a :class:`Decision`: the verdict (:mod:`driftlab.reproduce.results`),
the measured number as text (with its spread and how many networks or runs), and a
sentence saying what decided it. A test refuses to decide (``not testable at this
scale``) with fewer values than it needs, and says how many it had.

* :func:`mean_bound`: the one-sided 95% Student-t bound of a mean over networks
  (mean -+ t_{0.95, n-1} sd / sqrt(n)) lies beyond a threshold;
* :func:`median_bound`: the one-sided 95% order-statistic bound of a median over
  runs (the binomial sign-test bound, distribution-free) lies beyond a threshold;
* :func:`every`: a condition holds for every network;
* :func:`rank_less`: one group's values lie below another's (one-sided
  Mann-Whitney U, p < 0.05).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftlab.reproduce.results import FAILS, HOLDS, UNTESTABLE

LEVEL = 0.95
"""One-sided confidence of every bound."""
ALPHA = 0.05
"""Significance of every rank and correlation test."""
MIN_NETWORKS = 3
"""Fewest networks a mean's bound is taken over."""
MIN_RUNS = 8
"""Fewest runs a median's bound or a rank test is taken over."""


@dataclass(frozen=True)
class Decision:
    verdict: str
    measured: str
    why: str


def finite(values: Any) -> np.ndarray:
    a = np.asarray(values, dtype=np.float64).ravel()
    return a[np.isfinite(a)]


def fmt(value: float, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (``nan`` as such)."""
    if not math.isfinite(value):
        return "nan"
    return f"{value:.{digits}g}"


def spread(values: Any, what: str = "networks") -> str:
    """``mean +- sd (n what)``."""
    v = finite(values)
    if v.size == 0:
        return f"no values (0 {what})"
    sd = float(np.std(v, ddof=1)) if v.size > 1 else math.nan
    return f"{fmt(float(v.mean()))} +- {fmt(sd, 2)} (mean +- sd, {v.size} {what})"


def quartiles(values: Any, what: str = "runs") -> str:
    """``median (IQR lo-hi, n what)``."""
    v = finite(values)
    if v.size == 0:
        return f"no values (0 {what})"
    q1, q2, q3 = np.quantile(v, [0.25, 0.5, 0.75])
    return f"{fmt(float(q2))} (median; IQR {fmt(float(q1))}-{fmt(float(q3))}, {v.size} {what})"


def untestable(measured: str, why: str) -> Decision:
    return Decision(UNTESTABLE, measured, why)


def mean_bound(
    values: Any, *, below: float | None = None, above: float | None = None, what: str = "networks"
) -> Decision:
    """Holds when the one-sided 95% t bound of the mean of ``values`` lies below
    ``below`` (upper bound < below) or above ``above`` (lower bound > above)."""
    from scipy import stats

    v = finite(values)
    measured = spread(v, what)
    if v.size < MIN_NETWORKS:
        return untestable(measured, f"needs at least {MIN_NETWORKS} {what}, has {v.size}")
    mean, se = float(v.mean()), float(np.std(v, ddof=1) / math.sqrt(v.size))
    t = float(stats.t.ppf(LEVEL, v.size - 1))
    if below is not None:
        bound = mean + t * se
        ok = bound < below
        why = f"upper 95% bound of the mean {fmt(bound)} {'<' if ok else '>='} {fmt(below)}"
    else:
        assert above is not None
        bound = mean - t * se
        ok = bound > above
        why = f"lower 95% bound of the mean {fmt(bound)} {'>' if ok else '<='} {fmt(above)}"
    return Decision(HOLDS if ok else FAILS, measured, why)


def median_bound(
    values: Any, *, below: float | None = None, above: float | None = None, what: str = "runs"
) -> Decision:
    """Holds when the one-sided 95% distribution-free bound of the median lies below
    ``below`` or above ``above``: the k-th order statistic, k the smallest count with
    P(Binomial(n, 1/2) < k) >= 0.95 (for the upper bound; mirrored for the lower)."""
    from scipy import stats

    v = np.sort(finite(values))
    measured = quartiles(v, what)
    n = int(v.size)
    if n < MIN_RUNS:
        return untestable(measured, f"needs at least {MIN_RUNS} {what}, has {n}")
    k = int(stats.binom.ppf(LEVEL, n, 0.5))  # P(B <= k) >= 0.95
    k = min(k, n - 1)
    if below is not None:
        bound = float(v[k])
        ok = bound < below
        why = f"upper 95% bound of the median {fmt(bound)} {'<' if ok else '>='} {fmt(below)}"
    else:
        assert above is not None
        bound = float(v[n - 1 - k])
        ok = bound > above
        why = f"lower 95% bound of the median {fmt(bound)} {'>' if ok else '<='} {fmt(above)}"
    return Decision(HOLDS if ok else FAILS, measured, why)


def every(ok: Any, measured: str, what: str, *, minimum: int = 1) -> Decision:
    """Holds when every entry of the boolean ``ok`` is true (at least ``minimum``)."""
    flags = np.asarray(ok, dtype=bool).ravel()
    if flags.size < minimum:
        return untestable(measured, f"needs at least {minimum} {what}, has {flags.size}")
    good = int(flags.sum())
    verdict = HOLDS if good == flags.size else FAILS
    return Decision(verdict, measured, f"{good} of {flags.size} {what} pass")


def rank_less(low: Any, high: Any, measured: str, names: tuple[str, str]) -> Decision:
    """Holds when ``low``'s values lie below ``high``'s: one-sided Mann-Whitney U,
    p < :data:`ALPHA`; each group needs 3 values."""
    from scipy import stats

    a, b = finite(low), finite(high)
    if min(a.size, b.size) < 3:
        return untestable(
            measured,
            f"needs 3 runs in each group, has {a.size} ({names[0]}), {b.size} ({names[1]})",
        )
    p = float(stats.mannwhitneyu(a, b, alternative="less").pvalue)
    ok = p < ALPHA
    return Decision(
        HOLDS if ok else FAILS,
        measured,
        f"one-sided Mann-Whitney U: {names[0]} below {names[1]}, p = {fmt(p, 2)} "
        f"{'<' if ok else '>='} {ALPHA}",
    )


def correlation(
    x: Any, y: Any, *, sign: int, method: str = "spearman", what: str = "runs"
) -> Decision:
    """Holds when ``y`` correlates with ``x`` with the ``sign`` asked (+1, -1):
    one-sided Spearman (or Pearson) test, p < :data:`ALPHA`; needs :data:`MIN_RUNS`."""
    from scipy import stats

    xs, ys = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    ok = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[ok], ys[ok]
    n = int(xs.size)
    name = "Spearman rho" if method == "spearman" else "Pearson r"
    if n < MIN_RUNS:
        return untestable(f"{name} over {n} {what}", f"needs at least {MIN_RUNS} {what}, has {n}")
    alternative = "greater" if sign > 0 else "less"
    if method == "spearman":
        res = stats.spearmanr(xs, ys, alternative=alternative)
    else:
        res = stats.pearsonr(xs, ys, alternative=alternative)
    r, p = float(res.statistic), float(res.pvalue)
    passed = p < ALPHA
    return Decision(
        HOLDS if passed else FAILS,
        f"{name} {fmt(r, 2)} ({n} {what})",
        f"one-sided test of a {'positive' if sign > 0 else 'negative'} correlation: "
        f"p = {fmt(p, 2)} {'<' if passed else '>='} {ALPHA}",
    )
