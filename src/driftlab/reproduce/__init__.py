"""``driftlab reproduce``: the whole paper from one command, with a report of every claim.

=====================  =========================================================
module                 what it holds
=====================  =========================================================
``reproduce.scales``   the sizes: ``smoke``, ``laptop`` (default), ``paper``
``reproduce.stages``   the experiments (one stage each), their figures
``reproduce.claims``   the paper's claims, measured on stored results (a module
                       per figure)
``reproduce.verdicts`` the statistical tests and thresholds behind each verdict
``reproduce.results``  plain data: a claim's result, a figure, the job
``reproduce.report``   ``report.html`` (self-contained) and ``report.md``
``reproduce.job``      the command: stages, progress, resuming, report
``reproduce.readme``   the README's claims table, copied from a job's claims.json
=====================  =========================================================

Importing this package loads none of them (nor JAX).
"""
