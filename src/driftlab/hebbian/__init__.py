"""The Hebbian/anti-Hebbian network of Qin et al. (2023) (Figure 3C of Ratzon,
Derdikman & Barak 2023): non-negative similarity matching with noisy synapses.

``model``: neural dynamics to a fixed point and the noisy plasticity of W, M, b;
``inputs``: the ring and the 1-D place-cell (grid-cell slice) inputs;
``driftlab.metrics.similarity`` (numpy only; re-exported here): similarity-matching
loss, fraction active, population-vector correlation, receptive-field centroids,
their MSD and diffusion constant;
``engine``: the jitted chunk over a batch of networks;
``config``: the run's configuration (:class:`~driftlab.hebbian.config.HebbianConfig`).

The names below are loaded on first use (PEP 562), so importing
``driftlab.hebbian.config`` does not load the model, the engine or the measures.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftlab.hebbian.engine import (
        ChunkStats,
        Dynamics,
        HebbState,
        Streams,
        make_chunk,
        make_population,
        make_streams,
        sample_index,
    )
    from driftlab.hebbian.inputs import grid_field, place_inputs, ring_inputs
    from driftlab.hebbian.model import (
        FixedPoint,
        HebbParams,
        Hyper,
        drive,
        fixed_point,
        init_params,
        plasticity,
        rates,
    )
    from driftlab.metrics.similarity import (
        active_units,
        centroid_msd,
        diffusion_constant,
        fraction_active,
        pv_correlation,
        pv_correlation_matrix,
        rf_centroids,
        similarity_loss,
        similarity_mismatch,
    )

_EXPORTS: dict[str, str] = {
    "ChunkStats": "driftlab.hebbian.engine",
    "Dynamics": "driftlab.hebbian.engine",
    "FixedPoint": "driftlab.hebbian.model",
    "HebbParams": "driftlab.hebbian.model",
    "HebbState": "driftlab.hebbian.engine",
    "Hyper": "driftlab.hebbian.model",
    "Streams": "driftlab.hebbian.engine",
    "active_units": "driftlab.metrics.similarity",
    "centroid_msd": "driftlab.metrics.similarity",
    "diffusion_constant": "driftlab.metrics.similarity",
    "drive": "driftlab.hebbian.model",
    "fixed_point": "driftlab.hebbian.model",
    "fraction_active": "driftlab.metrics.similarity",
    "grid_field": "driftlab.hebbian.inputs",
    "init_params": "driftlab.hebbian.model",
    "make_chunk": "driftlab.hebbian.engine",
    "make_population": "driftlab.hebbian.engine",
    "make_streams": "driftlab.hebbian.engine",
    "place_inputs": "driftlab.hebbian.inputs",
    "plasticity": "driftlab.hebbian.model",
    "pv_correlation": "driftlab.metrics.similarity",
    "pv_correlation_matrix": "driftlab.metrics.similarity",
    "rates": "driftlab.hebbian.model",
    "rf_centroids": "driftlab.metrics.similarity",
    "ring_inputs": "driftlab.hebbian.inputs",
    "sample_index": "driftlab.hebbian.engine",
    "similarity_loss": "driftlab.metrics.similarity",
    "similarity_mismatch": "driftlab.metrics.similarity",
}

__all__ = [
    "ChunkStats",
    "Dynamics",
    "FixedPoint",
    "HebbParams",
    "HebbState",
    "Hyper",
    "Streams",
    "active_units",
    "centroid_msd",
    "diffusion_constant",
    "drive",
    "fixed_point",
    "fraction_active",
    "grid_field",
    "init_params",
    "make_chunk",
    "make_population",
    "make_streams",
    "place_inputs",
    "plasticity",
    "pv_correlation",
    "pv_correlation_matrix",
    "rates",
    "rf_centroids",
    "ring_inputs",
    "sample_index",
    "similarity_loss",
    "similarity_mismatch",
]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'driftlab.hebbian' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
