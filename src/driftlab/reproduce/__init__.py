"""Experiments of the paper: run what a figure needs (resumable runs), then plot it."""

from driftlab.reproduce.generality import CONDITIONS, condition_config, run_generality

__all__ = ["CONDITIONS", "condition_config", "run_generality"]
