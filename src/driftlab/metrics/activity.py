"""Fraction of active hidden units: the sparsification measure (Figure 2C, 3A).

Two forms (docs/conventions.md, "Measurements"):

* :func:`fraction_active`: mean over (sample, unit) pairs of ``[h > threshold]``
  (the red curve of Figure 2C in the authors' code);
* :func:`fraction_active_units`: fraction of units with ``h > threshold`` for at
  least one sample, the paper's "active units" (Methods, "Tuning properties of
  units": "a unit with non-zero activation for at least one input").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _activity(h: ArrayLike) -> np.ndarray:
    a = np.asarray(h)
    if a.ndim < 2:
        raise ValueError(f"h must have shape (..., samples, units), got {a.shape}")
    return a


def fraction_active(h: ArrayLike, threshold: float = 0.0) -> np.ndarray:
    """Mean over (sample, unit) of ``[h > threshold]``.

    ``h``: (..., samples, units) -> (...); a 0-d array for one (samples, units)
    matrix.

    >>> import numpy as np
    >>> float(fraction_active(np.array([[1.0, 0.0], [0.0, 0.0]])))
    0.25
    """
    a = _activity(h)
    return np.asarray(np.mean(a > threshold, axis=(-2, -1)))


def fraction_active_units(h: ArrayLike, threshold: float = 0.0) -> np.ndarray:
    """Fraction of units with ``h > threshold`` for at least one sample ("active units").

    ``h``: (..., samples, units) -> (...).

    >>> import numpy as np
    >>> float(fraction_active_units(np.array([[1.0, 0.0], [0.0, 0.0]])))
    0.5
    """
    a = _activity(h)
    return np.asarray(np.mean(np.any(a > threshold, axis=-2), axis=-1))
