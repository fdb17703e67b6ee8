"""The paper's experiments, one module per figure: what it runs and what it draws.

==========================  ====================================================
module                      experiment
==========================  ====================================================
``experiments.fig2``        Figure 2: the corridor network drifts and sparsifies
                            (presets ``fig2``, ``fig2_authors``, ``quick``)
``experiments.fig3c``       Figure 3C: the Hebbian/anti-Hebbian network (presets
                            ``hebbian_ring``, ``hebbian_place``)
``experiments.fig4``        Figure 4: flatness (presets ``fig4_update``,
                            ``fig4_label``; panel A from ``experiments.landscapes``)
``experiments.generality``  Figure 3A and Table 1's claim: every noisy rule sparsifies
``experiments.landscapes``  Figure 4A's valley and the ``(x y)^2`` drift against theory
==========================  ====================================================

Each run is an ordinary, resumable run directory; each ``draw`` reads stored
results only (drawing is :mod:`driftlab.plots`). Importing this package loads
none of them (nor JAX).
"""

EXPERIMENTS: tuple[str, ...] = ("fig2", "fig3c", "fig4", "generality", "landscapes")
