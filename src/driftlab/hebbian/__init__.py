"""The Hebbian/anti-Hebbian network of Qin et al. (2023) (Figure 3C of Ratzon,
Derdikman & Barak 2023): non-negative similarity matching with noisy synapses.

``model``: neural dynamics to a fixed point and the noisy plasticity of W, M, b;
``inputs``: the ring and the 1-D place-cell (grid-cell slice) inputs;
``driftlab.metrics.similarity`` (numpy only; re-exported here): similarity-matching
loss, fraction active, population-vector correlation, receptive-field centroids,
their MSD and diffusion constant;
``engine``: the jitted chunk over a batch of networks.
"""

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
