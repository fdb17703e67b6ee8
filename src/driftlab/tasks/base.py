"""The common structure every task returns."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class TaskData(NamedTuple):
    """One data set: the whole batch a full-batch step sees.

    inputs (samples, d_in), targets (samples, d_out); positions (samples, 2) and
    headings (samples,) where the task has a spatial latent variable, else None.
    """

    inputs: np.ndarray
    targets: np.ndarray
    positions: np.ndarray | None = None
    headings: np.ndarray | None = None
