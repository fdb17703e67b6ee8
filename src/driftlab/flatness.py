"""Flatness during a run: the Hessian summaries recorded at ``record.hessian``'s schedule.

The run layer's bridge between a batch of networks and :mod:`driftlab.hessian`:
for each network, the Hessian of its clean training loss (paper eq. 2) at the
current parameters, always in float64 whatever the run's dtype. Recorded per
network (``hessian_time``, ``network``):

==================  ==========================================================
n_nonzero           eigenvalues with |lambda| > rtol max |lambda|   (dense)
frac_nonzero        n_nonzero / P                                     (dense)
zeros_from_silent   (d_in + 1 + d_out) x silent units: a lower bound on the
                    zero eigenvalues (Methods, "Hessian and sparseness")
trace               sum of eigenvalues (Hutchinson estimate under lanczos)
max                 largest eigenvalue (top Ritz value under lanczos)
sum_log_nonzero     sum of log |lambda| over the nonzero ones         (dense)
n_negative          nonzero eigenvalues below 0 (away from a minimum) (dense)
trace_se            standard error of the trace (0 when dense)
==================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from driftlab import hessian
from driftlab.config import HessianRecord
from driftlab.model import Params, hidden_activity, mse_loss

HESSIAN_RECORDED = (
    "n_nonzero",
    "frac_nonzero",
    "zeros_from_silent",
    "trace",
    "trace_se",
    "max",
    "sum_log_nonzero",
    "n_negative",
)

LONG_NAMES = {
    "n_nonzero": "Hessian eigenvalues with |lambda| > rtol * max|lambda| (dense only)",
    "frac_nonzero": "fraction of the Hessian's eigenvalues that are nonzero (dense only)",
    "zeros_from_silent": "zero eigenvalues implied by silent units: (d_in + 1 + d_out) each",
    "trace": "trace of the Hessian (sum of eigenvalues; Hutchinson estimate if lanczos)",
    "trace_se": "standard error of the trace estimate (0 for the dense spectrum)",
    "max": "largest Hessian eigenvalue (top Lanczos Ritz value if lanczos)",
    "sum_log_nonzero": "sum of log|lambda| over the nonzero eigenvalues (dense only)",
    "n_negative": "nonzero eigenvalues below zero (dense only)",
}


@dataclass(frozen=True)
class HessianRecordPoint:
    """One record point: summaries (name -> (B,)) and the dense spectra (B, P) or None."""

    values: dict[str, np.ndarray]
    spectra: np.ndarray | None


def uses_dense(cfg: HessianRecord, n_params: int) -> bool:
    """Whether ``cfg.method`` means the dense spectrum for networks of ``n_params``."""
    return cfg.method == "dense" or (cfg.method == "auto" and n_params <= cfg.dense_max)


def hessian_record(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    activation: str,
    cfg: HessianRecord,
    key: jax.Array,
) -> HessianRecordPoint:
    """The Hessian summaries of every network of a batch.

    params: leaves with a leading network axis (B, ...); x (B, N, d_in); y (B, N, d_out);
    ``key`` seeds the Lanczos start and Hutchinson probes (unused when dense).
    """
    n_networks = int(np.asarray(params.b).shape[0])
    d_in, d_out = int(x.shape[-1]), int(y.shape[-1])
    values: dict[str, list[float]] = {k: [] for k in HESSIAN_RECORDED}
    spectra: list[np.ndarray] = []
    with jax.enable_x64(True):  # type: ignore[no-untyped-call,operator]
        for i in range(n_networks):
            p = Params(*(jnp.asarray(np.asarray(leaf)[i], jnp.float64) for leaf in params))
            xi, yi = jnp.asarray(x[i], jnp.float64), jnp.asarray(y[i], jnp.float64)
            h = np.asarray(hidden_activity(p, xi, activation))
            values["zeros_from_silent"].append(
                float(hessian.zero_eigenvalues_from_silent_units(h, d_in, d_out))
            )

            def loss_fn(q: Params, xi: jax.Array = xi, yi: jax.Array = yi) -> jax.Array:
                return mse_loss(q, xi, yi, activation)

            n_params = sum(int(np.size(leaf)) for leaf in p)
            if not all(np.all(np.isfinite(np.asarray(leaf))) for leaf in p):
                for name in HESSIAN_RECORDED:
                    if name != "zeros_from_silent":
                        values[name].append(float("nan"))
                if uses_dense(cfg, n_params) and cfg.spectrum:
                    spectra.append(np.full(n_params, np.nan))
                continue
            if uses_dense(cfg, n_params):
                eigs = hessian.eigenvalues(hessian.dense_hessian(loss_fn, p))
                s = hessian.summarise(eigs, rtol=cfg.rtol)
                if cfg.spectrum:
                    spectra.append(eigs)
                row = {
                    "n_nonzero": s.n_nonzero,
                    "frac_nonzero": s.frac_nonzero,
                    "trace": s.trace,
                    "trace_se": 0.0,
                    "max": s.max,
                    "sum_log_nonzero": s.sum_log_nonzero,
                    "n_negative": s.n_negative,
                }
            else:
                matvec, n = hessian.hvp(loss_fn, p)
                k_lanczos, k_trace = jax.random.split(jax.random.fold_in(key, i))
                steps = min(cfg.lanczos_steps, n)
                ritz = hessian.lanczos(matvec, n, k=steps, key=k_lanczos, dtype=jnp.float64)
                trace, se = hessian.hutchinson_trace(
                    matvec, n, samples=cfg.hutchinson_samples, key=k_trace, dtype=jnp.float64
                )
                nan = float("nan")
                row = {
                    "n_nonzero": nan,
                    "frac_nonzero": nan,
                    "trace": trace,
                    "trace_se": se,
                    "max": float(ritz[-1]),
                    "sum_log_nonzero": nan,
                    "n_negative": nan,
                }
            for name, value in row.items():
                values[name].append(float(value))
    return HessianRecordPoint(
        values={k: np.asarray(v, np.float64) for k, v in values.items()},
        spectra=np.stack(spectra) if spectra else None,
    )
