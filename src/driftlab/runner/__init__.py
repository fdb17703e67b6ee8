"""The one runner every model shares: :mod:`~driftlab.runner.loop` (the resumable
chunked loop and the engine, health and recorder contracts),
:mod:`~driftlab.runner.recorders` (recorder building blocks),
:mod:`~driftlab.runner.schedule` (record points), :mod:`~driftlab.runner.checkpoint`
(state checkpoints and the environment they depend on),
:mod:`~driftlab.runner.outdir` (which run directory may be used), and
:mod:`~driftlab.runner.progress`.

The run directory's format and its reader live in :mod:`driftlab.rundir` (no JAX).
Importing this package loads none of its modules.
"""
