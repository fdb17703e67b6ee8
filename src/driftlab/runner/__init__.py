"""What every engine's run shares: the record schedule, checkpoints of a state pytree
and the environment they depend on, the datasets' network coordinates, progress.

The run directory's format and its reader live in :mod:`driftlab.rundir` (no JAX).
"""
