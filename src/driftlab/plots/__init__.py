"""Figures from stored run directories (they never start a simulation)."""

from driftlab.plots.fig2 import fig2_data, plot_fig2, write_fig2

__all__ = ["fig2_data", "plot_fig2", "write_fig2"]
