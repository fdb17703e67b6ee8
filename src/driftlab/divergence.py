"""When is a network diverged? Two rules, checked by the host after every chunk.

A check sees, per network, the clean-data loss ``mse``, the variance of all
entries of its targets ``var_y`` and the fraction of active units. Its
findings, in order of precedence:

1. ``loss is not finite``: ``mse`` is NaN or infinite;
2. ``loss above 10 var(y)``: ``mse / var_y > 10``, i.e. ``log_loss > 1``, ten
   times worse than predicting the overall mean;
3. ``every hidden unit silent``: no unit is active for any input.

Rules (``train.divergence``):

``"persistent"`` (default)
    (1) stops a network at once. (2) and (3) stop it only when they persist:
    at every check from the first one that found them until one at least
    ``window`` steps later (``train.divergence_window``, default 1,000). A
    streak that ends sooner is a *tolerated spike*, recorded with its first
    and last step, its peak ``log10(mse / var_y)`` and its finding; one still
    open when the run ends stops the network at its last check, and so does a
    streak beyond the ``MAX_SPIKES`` (10)-th of a network (a loss that keeps
    returning above the limit is not a transient). Checks come after every chunk
    (at most ``record.chunk`` steps apart, and at every record point), so a
    streak is seen only at checks: with 10,000-step chunks the window is two
    consecutive checks.
    Why: with lr 0.1 a wide network's loss can spike right after
    initialisation and recover. Measured on Figure 2's network (H = 500, legacy
    texture mapping, no heading noise, seeds 0-9, float32 and float64 alike):
    3 of 10 seeds peak at log10(MSE/var y) = 2.2-3.1 within the first 6 steps
    and are below 0 by step 8, then converge like the others (log10 loss -1.0
    to -1.4 at step 200). 1,000 steps is over a hundred times that transient,
    and a network that truly runs away overflows to a non-finite loss, which
    (1) catches at once.
``"authors"``
    the authors' code: (1), (2) or (3) at any check stops the network at once.
    Note that it kills the transient above: 3 of those 10 seeds are already
    above the limit at step 1, the authors' first record.

The loss is normalised by ``var_y`` (the authors' test), not the raw MSE
(driftlab < 0.2 tested MSE > 10).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

RULES: tuple[str, ...] = ("persistent", "authors")
REASONS: tuple[str, ...] = (
    "",
    "loss is not finite",
    "loss above 10 var(y)",
    "every hidden unit silent",
)
LIMIT = 10.0  # on mse / var(y)
MAX_SPIKES = 10  # a network with more tolerated spikes than this is stopped at the next
SPIKE_FIELDS: tuple[str, ...] = ("network", "start", "end", "peak", "reason")


def findings(mse: np.ndarray, var_y: np.ndarray, active_units: np.ndarray) -> np.ndarray:
    """Per network: 0 (fine) or the index in :data:`REASONS` of the first finding.

    ``mse``, ``var_y``, ``active_units``: (B,) -> (B,) int64.
    """
    mse = np.asarray(mse, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = mse / np.asarray(var_y, np.float64)
    reason = np.zeros(mse.shape, np.int64)
    reason[np.asarray(active_units) == 0] = 3
    reason[ratio > LIMIT] = 2
    reason[~np.isfinite(mse)] = 1
    return reason


@dataclass
class Divergence:
    """Per-network divergence state of a batch of ``n`` networks, kept in checkpoints."""

    rule: str
    window: int
    step: np.ndarray  # (B,) step at which a network was stopped, -1 while it runs
    reason: np.ndarray  # (B,) index into REASONS
    since: np.ndarray  # (B,) first check of the current streak, -1 if none
    last: np.ndarray  # (B,) last check of the current streak
    peak: np.ndarray  # (B,) peak log10(mse / var_y) of the current streak
    finding: np.ndarray  # (B,) the current streak's first finding
    spikes: list[tuple[int, int, int, float, int]] = field(default_factory=list)
    cleared: list[tuple[int, int]] = field(default_factory=list)  # (network, step) of
    # verdicts of driftlab < 0.2's raw-MSE rule dropped on resume (from_arrays)

    @classmethod
    def start(cls, n: int, rule: str = "persistent", window: int = 1000) -> Divergence:
        if rule not in RULES:
            raise ValueError(f"divergence rule {rule!r}: allowed: {', '.join(RULES)}")
        return cls(
            rule=rule,
            window=window,
            step=np.full(n, -1, np.int64),
            reason=np.zeros(n, np.int64),
            since=np.full(n, -1, np.int64),
            last=np.full(n, -1, np.int64),
            peak=np.full(n, np.nan),
            finding=np.zeros(n, np.int64),
        )

    @property
    def stopped(self) -> np.ndarray:
        """(B,) bool: networks the rule has stopped."""
        return np.asarray(self.step >= 0)

    def check(self, step: int, mse: np.ndarray, var_y: np.ndarray, units: np.ndarray) -> None:
        """Apply the rule to the measurements of a check at ``step``."""
        found = findings(mse, var_y, units)
        running = ~self.stopped
        if self.rule == "authors":
            stop = running & (found > 0)
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                level = np.log10(np.asarray(mse, np.float64) / np.asarray(var_y, np.float64))
            streak = running & (found > 1)
            new = streak & (self.since < 0)
            self.since[new], self.finding[new], self.peak[new] = step, found[new], level[new]
            self.peak[streak] = np.fmax(self.peak[streak], level[streak])
            self.last[streak] = step
            self._end_streaks(running & (found == 0) & (self.since >= 0))
            repeated = (
                np.bincount([n for n, *_ in self.spikes], minlength=self.step.size) >= MAX_SPIKES
            )
            persisted = streak & ((step - self.since >= self.window) | repeated)
            stop = running & ((found == 1) | persisted)
            found = np.where(persisted & (found != 1), self.finding, found)
            self.since[stop] = -1
        self.step[stop] = step
        self.reason[stop] = found[stop]

    def close(self) -> None:
        """At the end of a run: a streak still open stops its network at its last check
        (it never recovered, however short the run)."""
        open_ = ~self.stopped & (self.since >= 0)
        self.step[open_] = self.last[open_]
        self.reason[open_] = self.finding[open_]
        self.since[open_] = -1

    def _end_streaks(self, ended: np.ndarray) -> None:
        for i in np.flatnonzero(ended):
            self.spikes.append(
                (
                    int(i),
                    int(self.since[i]),
                    int(self.last[i]),
                    float(self.peak[i]),
                    int(self.finding[i]),
                )
            )
        self.since[ended] = -1

    # ------------------------------------------------------------------ checkpoints

    def arrays(self) -> dict[str, np.ndarray]:
        """The state as checkpoint arrays (``rec/diverged_*`` keep their old names)."""
        spikes = np.asarray(self.spikes, np.float64).reshape(-1, len(SPIKE_FIELDS))
        return {
            "rec/diverged_step": self.step,
            "rec/diverged_reason": self.reason,
            "div/since": self.since,
            "div/last": self.last,
            "div/peak": self.peak,
            "div/finding": self.finding,
            "div/spikes": spikes,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], rule: str, window: int) -> Divergence:
        """The inverse of :meth:`arrays`.

        A checkpoint of driftlab < 0.2 has no streaks, and its index 2 meant "raw MSE
        above 10", a rule that also stopped recovering transients: those verdicts are
        cleared (:attr:`cleared`), so the network is judged by this rule from here on.
        """
        d = cls.start(arrays["rec/diverged_step"].size, rule, window)
        d.step = arrays["rec/diverged_step"].astype(np.int64)
        d.reason = arrays["rec/diverged_reason"].astype(np.int64)
        if "div/since" not in arrays:
            old = np.flatnonzero(d.reason == 2)
            d.cleared = [(int(i), int(d.step[i])) for i in old]
            d.step[old], d.reason[old] = -1, 0
        else:
            d.since = arrays["div/since"].astype(np.int64)
            d.last = arrays["div/last"].astype(np.int64)
            d.peak = arrays["div/peak"].astype(np.float64)
            d.finding = arrays["div/finding"].astype(np.int64)
            d.spikes = [
                (int(n), int(s), int(e), float(p), int(r)) for n, s, e, p, r in arrays["div/spikes"]
            ]
        return d

    def spike_records(self) -> list[dict[str, object]]:
        """The tolerated spikes as plain records (for status.json and summaries)."""
        return [
            {
                "network": n,
                "start": s,
                "end": e,
                "peak_log_loss": round(p, 3),
                "finding": REASONS[r],
            }
            for n, s, e, p, r in self.spikes
        ]


class DivergenceCheck:
    """The feed-forward run's health check (:class:`driftlab.runner.loop.Health`):
    :class:`Divergence` applied to each point's measurement (loss, active units),
    with ``var_y`` (B,) the variance of each network's targets."""

    def __init__(self, n: int, var_y: np.ndarray, rule: str = "persistent", window: int = 1000):
        self.rule, self.window, self.var_y = rule, window, var_y
        self.state = Divergence.start(n, rule, window)

    @property
    def stopped(self) -> np.ndarray:
        return self.state.stopped

    def check(self, point: Any) -> None:
        m = point.measure()
        loss = np.asarray(m.loss, np.float64)
        self.state.check(point.step, loss, self.var_y, np.asarray(m.active_units))

    def close(self) -> None:
        self.state.close()

    def arrays(self) -> dict[str, np.ndarray]:
        return self.state.arrays()

    def restore(self, arrays: Mapping[str, np.ndarray], out: Path, step: int) -> list[str]:
        """Resume at ``step``; a notice for each verdict of driftlab < 0.2's rule that is
        cleared."""
        self.state = Divergence.from_arrays(dict(arrays), self.rule, self.window)
        return [
            f"run {out}: network {net} was stopped at step {stopped_at} by driftlab < 0.2's "
            "rule (raw MSE above 10), which also stopped recovering transients; it is judged "
            f"by train.divergence '{self.rule}' from step {step} on"
            for net, stopped_at in self.state.cleared
        ]

    def timeseries(self, ds: xr.Dataset) -> xr.Dataset:
        d = self.state
        ds["diverged_step"] = ("network", d.step)
        ds["diverged_reason"] = ("network", np.asarray([REASONS[i] for i in d.reason]))
        spikes = np.asarray(d.spikes, np.float64).reshape(-1, len(SPIKE_FIELDS))
        for j, name in enumerate(SPIKE_FIELDS):
            column = spikes[:, j]
            if name == "reason":
                ds["spike_reason"] = ("spike", np.asarray([REASONS[int(r)] for r in column]))
            else:
                ds[f"spike_{name}"] = (
                    "spike",
                    column if name == "peak" else column.astype(np.int64),
                )
        ds["spike_peak"].attrs["long_name"] = (
            "tolerated spikes (train.divergence 'persistent'): peak log10(MSE / var(targets))"
        )
        ds.attrs["divergence_rule"] = f"{self.rule} (window {self.window})"
        return ds

    def status(self) -> dict[str, Any]:
        d = self.state
        return {
            "divergence_rule": self.rule,
            "diverged": [
                {"network": i, "step": int(s), "reason": REASONS[int(r)]}
                for i, (s, r) in enumerate(zip(d.step, d.reason, strict=True))
                if s >= 0
            ],
            "tolerated_spikes": d.spike_records(),
        }
