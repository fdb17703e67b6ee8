"""Sweeps: many differently shaped runs from one spec (Table 1, Figure 3).

* :mod:`driftlab.sweep.spec`: read a sweep spec and expand it into a deterministic
  list of runs, each with a stable id;
* :mod:`driftlab.sweep.execute`: run them (local worker processes or Dask) into a
  sweep directory (:mod:`driftlab.sweep.store`), one resumable run directory each;
* :mod:`driftlab.sweep.summary`: the table of a row per run and the resampled time
  courses, rebuilt from the run directories; :mod:`driftlab.sweep.groups`: the
  per-group table; :mod:`driftlab.sweep.figures`: Figures 3A-B, 5B, S1, S2;
* :mod:`driftlab.sweep.pack`: several shapes padded into one compiled program
  (accelerators).

Names are imported lazily: reading a sweep's results needs no JAX.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "PlannedRun": "spec",
    "SweepSpec": "spec",
    "describe": "spec",
    "expand": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
    "run_sweep": "execute",
    "write_summary": "summary",
    "group_table": "groups",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"driftlab.sweep.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'driftlab.sweep' has no attribute {name!r}")
