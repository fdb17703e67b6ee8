"""driftlab: representational drift as implicit regularisation (Ratzon, Derdikman & Barak 2023).

Simulate noisy learning in one-hidden-layer networks for millions of steps, and
measure the drift of their hidden code. The command-line tool is ``driftlab``.

What a user imports, from here (each loaded on first use, so ``import driftlab``
is cheap and reading results never starts JAX):

* a run: :func:`resolve` (a validated :class:`RunConfig` from a preset, a file
  and ``key=value`` overrides), :func:`config_hash` (its canonical, versioned
  name), :func:`execute` (train into a run directory, resuming), :func:`load_run`
  and :func:`read_status` (read one back; no JAX);
* measurements: :mod:`metrics` (pure numpy functions over activity, positions,
  losses and spectra), :mod:`hessian` (Hessians and their spectra, JAX);
* figures: :func:`write_fig2` (Figure 2 of a run directory) and
  :mod:`experiments` (one module per paper figure: ``run`` and ``draw``);
* the Hebbian network of Figure 3C: :func:`resolve_hebbian`, :func:`execute_hebbian`.

How the package is layered, and how a value travels from the command line to the
jitted step: docs/architecture.md.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_EXPORTS: dict[str, tuple[str, str | None]] = {
    "RunConfig": ("driftlab.config", "RunConfig"),
    "resolve": ("driftlab.config", "resolve"),
    "config_hash": ("driftlab.config", "config_hash"),
    "execute": ("driftlab.run", "execute"),
    "load_run": ("driftlab.rundir", "load_run"),
    "read_status": ("driftlab.rundir", "read_status"),
    "metrics": ("driftlab.metrics", None),
    "hessian": ("driftlab.hessian", None),
    "write_fig2": ("driftlab.plots.fig2", "write_fig2"),
    "experiments": ("driftlab.experiments", None),
    "resolve_hebbian": ("driftlab.hebbian.config", "resolve_hebbian"),
    "execute_hebbian": ("driftlab.hebbian.run", "execute_hebbian"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'driftlab' has no attribute {name!r}")
    module, attr = _EXPORTS[name]
    loaded = importlib.import_module(module)
    value = loaded if attr is None else getattr(loaded, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
