"""Measurements of drift: pure functions over numpy arrays (docs/conventions.md, "Measurements").

They take arrays, not simulations, so they serve recorded experimental data as
well: hidden activity ``h`` (samples, units), positions (samples,), targets
(samples, outputs), series over time.

* :mod:`~driftlab.metrics.loss`: log loss against trivial predictors (Fig. 2B).
* :mod:`~driftlab.metrics.activity`: fraction active, active units (Fig. 2C, 3A).
* :mod:`~driftlab.metrics.ratemaps`: direction-signed position, rate maps,
  spatial information, place units (Fig. 2C-D).
* :mod:`~driftlab.metrics.shuffle`: shuffle-tested place units and the
  shuffle-corrected spatial information (bias of SI at few samples per bin).
* :mod:`~driftlab.metrics.drift`: rate-map and population-vector correlations,
  position decoding (Fig. 2E-F).
* :mod:`~driftlab.metrics.timescale`: exponential fit of sparsification (Fig. 3B).
* :mod:`~driftlab.metrics.sessions`: recordings of the same cells over sessions:
  occupancy-normalised rate maps of running samples, shuffle-tested place cells,
  rate-map and population-vector correlations and decoding across sessions, trends.
"""

from driftlab.metrics.activity import fraction_active, fraction_active_units
from driftlab.metrics.drift import (
    decoding_error,
    population_vector_correlation,
    ratemap_correlation_matrix,
)
from driftlab.metrics.loss import (
    log_loss,
    log_loss_authors_fig2b,
    log_loss_rel,
    mean_estimator_mse,
)
from driftlab.metrics.ratemaps import (
    RateMaps,
    mean_place_si,
    place_units,
    rate_maps,
    signed_position,
    smooth_maps,
    spatial_information,
)
from driftlab.metrics.sessions import (
    PairResult,
    Session,
    SessionOptions,
    SessionResult,
    Trend,
    common_bounds,
    movement_mask,
    occupancy_rate_maps,
    pair_statistics,
    session_statistics,
    trend,
)
from driftlab.metrics.shuffle import (
    ShuffleSI,
    mean_corrected_place_si,
    shuffle_spatial_information,
)
from driftlab.metrics.timescale import ExponentialFit, fit_exponential, log10_rate

__all__ = [
    "ExponentialFit",
    "PairResult",
    "RateMaps",
    "Session",
    "SessionOptions",
    "SessionResult",
    "ShuffleSI",
    "Trend",
    "common_bounds",
    "decoding_error",
    "fit_exponential",
    "fraction_active",
    "fraction_active_units",
    "log10_rate",
    "log_loss",
    "log_loss_authors_fig2b",
    "log_loss_rel",
    "mean_corrected_place_si",
    "mean_estimator_mse",
    "mean_place_si",
    "movement_mask",
    "occupancy_rate_maps",
    "pair_statistics",
    "place_units",
    "population_vector_correlation",
    "rate_maps",
    "ratemap_correlation_matrix",
    "session_statistics",
    "shuffle_spatial_information",
    "signed_position",
    "smooth_maps",
    "spatial_information",
    "trend",
]
