"""driftlab: representational drift as implicit regularisation (Ratzon, Derdikman & Barak 2023).

Simulate noisy learning in one-hidden-layer networks for millions of steps, and
measure the drift of their hidden code. The command-line tool is ``driftlab``;
the library's entry points are :func:`driftlab.config.resolve` (a validated
:class:`~driftlab.config.RunConfig`) and :func:`driftlab.run.execute`.
"""

__version__ = "0.2.0"
