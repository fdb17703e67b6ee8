"""Timescale of sparsification: an exponential fit to a decaying series (Figure 3B).

The paper fits an exponential to the fraction of active units over training
steps and takes its time constant (Results; docs/conventions.md, "Measurements").
Note: the tables' ``log_tau`` column is ``log10`` of the fitted RATE
(1 / steps), not of the time constant; :class:`ExponentialFit` names both, and
:func:`log10_rate` gives the tables' number.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import curve_fit

_NAN = float("nan")
# a fitted time constant above this multiple of the observed time span means the
# decay is not resolved (the data look linear or flat)
_MAX_TAU_SPAN = 10.0
# the fitted amplitude must exceed this multiple of the residual rms
_MIN_SNR = 3.0


@dataclass(frozen=True)
class ExponentialFit:
    """Fit of ``y = offset + amplitude * exp(-t / tau)``.

    ``tau``: time constant (units of ``t``, e.g. steps); ``rate = 1 / tau`` (per
    unit of ``t``); ``amplitude``: value above ``offset`` at ``t = 0``. When the
    fit fails, ``ok`` is False, ``tau``, ``rate`` (and the rest) are NaN and
    ``reason`` says why; when it succeeds, ``reason`` is ``""``.
    """

    tau: float
    rate: float
    amplitude: float
    offset: float
    ok: bool
    reason: str


def _failed(reason: str) -> ExponentialFit:
    return ExponentialFit(_NAN, _NAN, _NAN, _NAN, ok=False, reason=reason)


def _model(s: np.ndarray, a: float, k: float, c: float) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(c + a * np.exp(-k * s))


def _initial_rate(s: np.ndarray, z: np.ndarray) -> float:
    """Rate guess (in scaled time) from a line through log(z), z = y - min(y) scaled.

    Uses the points above 10% of the range, the first 90% of the decay (as the
    authors' linear fit of log(active units - min)).
    """
    use = z > 0.1
    if np.count_nonzero(use) >= 2 and np.ptp(s[use]) > 0:
        slope = np.polyfit(s[use], np.log(z[use]), 1)[0]
        if np.isfinite(slope) and slope < 0:
            return float(-slope)
    return 3.0  # decays over the window


def fit_exponential(t: ArrayLike, y: ArrayLike) -> ExponentialFit:
    """Least-squares fit of a decaying exponential ``y = offset + amplitude exp(-t / tau)``.

    ``t``, ``y``: (n,) (non-finite pairs dropped). Procedure: time is shifted
    and scaled to ``s = (t - t_0) / span`` and ``y`` to ``(y - min) / range``
    for conditioning; the starting guess for the rate comes from a line fitted
    to ``log(y - min)`` over the points above 10% of the range; then
    ``scipy.optimize.curve_fit`` (trust-region, with ``amplitude >= 0`` and
    ``rate >= 0``) fits all three parameters; the result is mapped back.

    Never raises. Returns ``ok=False``, NaN parameters and a ``reason`` when:
    ``t`` and ``y`` differ in shape; fewer than 4 finite points; ``y`` flat;
    ``y`` not decaying (its first quarter's mean not above its last quarter's);
    the optimiser fails; or the fitted decay is not resolved (rate 0; ``tau``
    more than 10 times the observed span of ``t`` or below half the smallest
    sampling interval; amplitude below 3 times the residual rms).

    Reported ``tau`` is in the units of ``t`` (e.g. training steps) and
    ``rate = 1 / tau``. The paper's tables report ``log_tau = log10(rate)``
    (:func:`log10_rate`), despite the name.
    """
    try:
        tt = np.asarray(t, dtype=np.float64)
        yy = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as err:
        return _failed(f"inputs are not numeric arrays: {err}")
    if tt.shape != yy.shape or tt.ndim != 1:
        return _failed(f"t and y must be 1-d of one shape, got {tt.shape} and {yy.shape}")
    keep = np.isfinite(tt) & np.isfinite(yy)
    tt, yy = tt[keep], yy[keep]
    if tt.size < 4:
        return _failed(f"too short: {tt.size} finite points, need at least 4")
    order = np.argsort(tt, kind="stable")
    tt, yy = tt[order], yy[order]
    span, y_range = float(np.ptp(tt)), float(np.ptp(yy))
    if span == 0:
        return _failed("all time points are equal")
    if y_range == 0 or y_range <= 1e-12 * float(np.max(np.abs(yy))):
        return _failed("flat series: no decay to fit")
    quarter = max(1, tt.size // 4)
    if not np.mean(yy[:quarter]) > np.mean(yy[-quarter:]):
        return _failed("series does not decay (its start is not above its end)")

    t0, y0 = float(tt[0]), float(yy.min())
    s, z = (tt - t0) / span, (yy - y0) / y_range
    k0 = _initial_rate(s, z)
    p0 = [max(float(z[0]), 1e-3), k0, 0.0]
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            popt, _ = curve_fit(
                _model,
                s,
                z,
                p0=p0,
                bounds=([0.0, 0.0, -np.inf], [np.inf, np.inf, np.inf]),
                method="trf",
                maxfev=10_000,
            )
    except Exception as err:  # never raise: report the optimiser's complaint
        return _failed(f"fit failed: {type(err).__name__}: {err}")
    a, k, c = (float(v) for v in popt)
    if not all(np.isfinite([a, k, c])):
        return _failed("fit returned non-finite parameters")
    if a <= 0 or k <= 0:
        return _failed("fitted amplitude or rate is zero: no decay")
    tau = span / k
    if tau > _MAX_TAU_SPAN * span:
        return _failed(
            f"decay not resolved: tau {tau:.3g} is over {_MAX_TAU_SPAN:g} times the "
            f"observed span {span:.3g}"
        )
    dt = float(np.min(np.diff(tt)[np.diff(tt) > 0]))
    if tau < 0.5 * dt:
        return _failed(
            f"decay not resolved: tau {tau:.3g} is below half the sampling interval {dt:.3g}"
        )
    residual = float(np.sqrt(np.mean((z - _model(s, a, k, c)) ** 2)))
    if not a > _MIN_SNR * residual:
        return _failed(
            f"decay not distinguishable from noise: amplitude {a * y_range:.3g} is below "
            f"{_MIN_SNR:g} times the residual rms {residual * y_range:.3g}"
        )
    with np.errstate(over="ignore"):
        amplitude = a * y_range * float(np.exp(t0 / tau))
    return ExponentialFit(
        tau=tau,
        rate=1.0 / tau,
        amplitude=amplitude,
        offset=y0 + c * y_range,
        ok=True,
        reason="",
    )


def log10_rate(fit: ExponentialFit) -> float:
    """``log10(fit.rate)``: the paper's tables' "log_tau" (NaN for a failed fit)."""
    if not fit.ok or not np.isfinite(fit.rate) or fit.rate <= 0:
        return _NAN
    return float(np.log10(fit.rate))
