"""When the host records: the schedule of record points of a run."""

from __future__ import annotations

import numpy as np


def record_steps(total: int, every: int = 0, log_points: int = 0) -> np.ndarray:
    """The steps at which the host records: 0, then every ``every`` steps (it wins
    when > 0), or ``log_points`` log-spaced steps, always ending at ``total``.
    Default: 100 records."""
    if log_points and not every:
        steps = np.unique(np.round(np.logspace(0, np.log10(total), log_points)).astype(np.int64))
    else:
        every = every or max(1, total // 100)
        steps = np.arange(every, total + 1, every, dtype=np.int64)
    return np.unique(np.concatenate([[0], steps, [total]]))


def tail_steps(total: int, points: int, span: float) -> np.ndarray:
    """``points`` steps before ``total``, ``span * total / points`` apart (rounded,
    duplicates and steps below 1 dropped): the last ``span`` of the run recorded as
    densely as ``points`` evenly spaced records over it (:class:`TailRecord` of the
    feed-forward config)."""
    gap = span * total / points
    steps = np.round(total - gap * np.arange(1, points + 1)).astype(np.int64)
    return np.unique(steps[(steps >= 1) & (steps < total)])
