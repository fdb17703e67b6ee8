"""Sweeps: many differently shaped runs from one spec (Table 1, Figure 3).

:mod:`driftlab.sweep.spec` reads a sweep spec and expands it into a
deterministic list of runs, each with a stable id.
"""

from driftlab.sweep.spec import PlannedRun, SweepSpec, describe, expand, load_spec, parse_spec

__all__ = ["PlannedRun", "SweepSpec", "describe", "expand", "load_spec", "parse_spec"]
