"""Flatness during a run: the Hessian summaries, a recorder with a schedule of its own.

:func:`hessian_record` is the bridge between a batch of networks and
:mod:`driftlab.hessian`: for each network, the Hessian of its clean training
loss (paper eq. 2) at the current parameters, always in float64 whatever the
run's dtype, through :func:`driftlab.hessian.flat_hvp` and summarised by
:func:`driftlab.hessian.summarise`. :class:`HessianRecorder` plugs it into the
runner (:mod:`driftlab.runner.loop`) at ``record.hessian``'s schedule. Recorded
per network (``hessian_time``, ``network``):

===================  =========================================================
n_nonzero            eigenvalues with |lambda| > rtol max |lambda|, rtol =
                     ``record.hessian.rtol`` (the timeseries attribute
                     ``hessian_rtol``; default 1e-7)                  (dense)
frac_nonzero         n_nonzero / P (at rtol)                          (dense)
n_nonzero_rtol_min   the count at rtol = 1e-12, the loose end of
                     ``hessian.RTOL_RANGE``: the band's upper count   (dense)
n_nonzero_rtol_max   the count at rtol = 1e-6, the strict end: the
                     band's lower count; every rtol in the range gives
                     a count between the two                          (dense)
gap_decades          width (decades of rtol) of the widest gap in the
                     sorted |lambda| inside 1e-12 .. 1e-6 x max |lambda|
                     (``hessian.spectral_gap``); up to 6               (dense)
gap_n_nonzero        the count above that gap, the same for every rtol
                     in it; NaN when gap_decades < 1
                     (``hessian.MIN_GAP_DECADES``): no gap             (dense)
zeros_from_silent    (d_in + 1 + d_out) x silent units: a lower bound on the
                     zero eigenvalues, exact whatever the tolerance (Methods,
                     "Hessian and sparseness"); P - zeros_from_silent bounds
                     the nonzero count from above; ReLU only (NaN otherwise)
trace                sum of eigenvalues (Hutchinson estimate under lanczos)
max                  largest eigenvalue (top Ritz value under lanczos)
sum_log_nonzero      sum of log |lambda| over the nonzero ones (at rtol) (dense)
n_negative           nonzero eigenvalues below 0 (at rtol)             (dense)
n_positive           nonzero eigenvalues above 0 (at rtol)             (dense)
sum_log_positive     sum of log lambda over those: the theory's quantity (dense)
trace_se             standard error of the trace (0 when dense)
===================  =========================================================

The counts at rtol depend on the cut: on the corridor networks of Figure 4 the
spectrum falls through 1e-6 .. 1e-12 of the largest with no gap, so only
zeros_from_silent is exact and the band (n_nonzero_rtol_max .. n_nonzero_rtol_min)
shows how far the count moves with the tolerance. Under ``lanczos`` every
count, the band and the gap are NaN.

The Hessian and Hessian-vector product of each network shape are compiled once
per process (``_compiled``), not at every record. A network whose parameters
are not finite (diverged) records NaN throughout.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from driftlab import hessian
from driftlab.metrics.spectrum import RTOL_RANGE
from driftlab.model import Params, hidden_activity, mse_loss
from driftlab.runner.recorders import Series, SeriesRecorder
from driftlab.storage import read_npz, write_netcdf, write_npz

HESSIAN_RECORDED = (
    "n_nonzero",
    "frac_nonzero",
    "n_nonzero_rtol_min",
    "n_nonzero_rtol_max",
    "gap_decades",
    "gap_n_nonzero",
    "zeros_from_silent",
    "trace",
    "trace_se",
    "max",
    "sum_log_nonzero",
    "n_negative",
    "n_positive",
    "sum_log_positive",
)

_LO, _HI = (hessian.format_rtol(r) for r in hessian.RTOL_RANGE)
_AT_RTOL = "rtol = record.hessian.rtol, attribute hessian_rtol"

LONG_NAMES = {
    "n_nonzero": (
        f"Hessian eigenvalues with |lambda| > rtol * max|lambda| ({_AT_RTOL}; "
        "depends on rtol: see n_nonzero_rtol_min/max) (dense only)"
    ),
    "frac_nonzero": (
        f"fraction of the Hessian's eigenvalues that are nonzero ({_AT_RTOL}) (dense only)"
    ),
    "n_nonzero_rtol_min": (
        f"Hessian eigenvalues with |lambda| > {_LO} * max|lambda|: the upper end of the "
        f"count over rtol {_LO} .. {_HI} (dense only)"
    ),
    "n_nonzero_rtol_max": (
        f"Hessian eigenvalues with |lambda| > {_HI} * max|lambda|: the lower end of the "
        f"count over rtol {_LO} .. {_HI} (dense only)"
    ),
    "gap_decades": (
        f"width in decades of the widest gap between consecutive sorted |lambda| within "
        f"{_LO} .. {_HI} * max|lambda| (dense only)"
    ),
    "gap_n_nonzero": (
        "Hessian eigenvalues above that gap, the same count for every rtol in it; NaN when "
        f"gap_decades < {hessian.MIN_GAP_DECADES:g} (no gap) (dense only)"
    ),
    "zeros_from_silent": (
        "zero eigenvalues implied by silent ReLU units: (d_in + 1 + d_out) each, "
        "exact at any tolerance"
    ),
    "trace": "trace of the Hessian (sum of eigenvalues; Hutchinson estimate if lanczos)",
    "trace_se": "standard error of the trace estimate (0 for the dense spectrum)",
    "max": "largest Hessian eigenvalue (top Lanczos Ritz value if lanczos)",
    "sum_log_nonzero": (
        f"sum of log|lambda| over the nonzero eigenvalues ({_AT_RTOL}) (dense only)"
    ),
    "n_negative": f"nonzero eigenvalues below zero ({_AT_RTOL}) (dense only)",
    "n_positive": f"nonzero eigenvalues above zero ({_AT_RTOL}) (dense only)",
    "sum_log_positive": (
        f"sum of log lambda over the positive nonzero eigenvalues ({_AT_RTOL}) (dense only)"
    ),
}


def long_name(name: str, rtol: float) -> str:
    """``LONG_NAMES[name]`` with the run's tolerance written in (e.g. "rtol = 1e-07")."""
    return LONG_NAMES[name].replace(_AT_RTOL, f"rtol = {rtol:g}")


Compiled = tuple[
    Callable[[jax.Array, jax.Array, jax.Array], jax.Array],
    Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array],
]


@dataclass(frozen=True)
class HessianRecordPoint:
    """One record point: summaries (name -> (B,)) and the dense spectra (B, P) or None."""

    values: dict[str, np.ndarray]
    spectra: np.ndarray | None


@dataclass(frozen=True)
class HessianOptions:
    """How a record computes the Hessian: ``method`` ``dense`` (the exact spectrum,
    O(P^3)), ``lanczos`` (max by ``lanczos_steps`` Lanczos steps, trace by
    Hutchinson with ``hutchinson_samples`` probes; no counts) or ``auto`` (dense
    up to ``dense_max`` parameters); ``rtol``: the count's tolerance; ``spectrum``:
    also keep every dense spectrum."""

    method: str = "auto"
    dense_max: int = 5000
    rtol: float = hessian.DEFAULT_RTOL
    spectrum: bool = True
    lanczos_steps: int = 80
    hutchinson_samples: int = 100

    @classmethod
    def of(cls, record: Any) -> HessianOptions:
        """The options of a config's ``record.hessian`` section (any object with these
        fields, e.g. :class:`driftlab.config.feedforward.HessianRecord`)."""
        return cls(**{f.name: getattr(record, f.name) for f in dataclasses.fields(cls)})

    def uses_dense(self, n_params: int) -> bool:
        """Whether ``method`` means the dense spectrum for networks of ``n_params``."""
        return self.method == "dense" or (self.method == "auto" and n_params <= self.dense_max)


def _unflatten(theta: jax.Array, hidden: int, d_in: int, d_out: int) -> Params:
    """theta in ``ravel_pytree`` order of Params: m (H, d_in), b (H,), n (d_out, H)."""
    cut_m, cut_b = hidden * d_in, hidden * d_in + hidden
    return Params(
        m=theta[:cut_m].reshape(hidden, d_in),
        b=theta[cut_m:cut_b],
        n=theta[cut_b:].reshape(d_out, hidden),
    )


@functools.cache
def _compiled(activation: str, hidden: int, d_in: int, d_out: int) -> Compiled:
    """Jitted (theta, x, y) -> H and (theta, x, y, v) -> H v of the training loss,
    from :func:`driftlab.hessian.flat_hvp`: compiled once per network shape."""

    def loss(theta: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
        return mse_loss(_unflatten(theta, hidden, d_in, d_out), x, y, activation)

    product = hessian.flat_hvp(loss)

    def hvp(theta: jax.Array, x: jax.Array, y: jax.Array, v: jax.Array) -> jax.Array:
        return product(theta, v, x, y)

    def dense(theta: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
        return hessian.hessian_from_hvp(lambda v: product(theta, v, x, y), theta.size)

    return jax.jit(dense), jax.jit(hvp)


def hessian_record(
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    activation: str,
    key: jax.Array,
    options: HessianOptions = HessianOptions(),
) -> HessianRecordPoint:
    """The Hessian summaries of every network of a batch.

    params: leaves with a leading network axis (B, ...); x (B, N, d_in); y (B, N, d_out);
    ``key`` seeds the Lanczos start and Hutchinson probes (unused when dense).
    Returns the summaries (name -> (B,), :data:`HESSIAN_RECORDED`) and, for dense
    spectra kept by ``options.spectrum``, the spectra (B, P).
    """
    cfg = options
    m = np.asarray(params.m)
    n_networks, hidden, d_in = m.shape
    d_out = int(y.shape[-1])
    n_params = hidden * (d_in + 1 + d_out)
    dense = cfg.uses_dense(n_params)
    nan = float("nan")
    values: dict[str, list[float]] = {k: [] for k in HESSIAN_RECORDED}
    spectra: list[np.ndarray] = []
    with jax.enable_x64(True):  # type: ignore[no-untyped-call,operator]
        dense_fn, hvp_fn = _compiled(activation, hidden, d_in, d_out)
        for i in range(n_networks):
            p = Params(*(jnp.asarray(np.asarray(leaf)[i], jnp.float64) for leaf in params))
            xi, yi = jnp.asarray(x[i], jnp.float64), jnp.asarray(y[i], jnp.float64)
            theta = jnp.concatenate([p.m.ravel(), p.b, p.n.ravel()])
            if not bool(jnp.all(jnp.isfinite(theta))):
                row = dict.fromkeys(HESSIAN_RECORDED, nan)
                if dense and cfg.spectrum:
                    spectra.append(np.full(n_params, nan))
            elif dense:
                eigs = hessian.eigenvalues(dense_fn(theta, xi, yi))
                if cfg.spectrum:
                    spectra.append(eigs)
                s = hessian.summarise(eigs, rtol=cfg.rtol)
                # trace_se is 0 for an exact spectrum; zeros_from_silent is set below
                row = {name: float(getattr(s, name, 0.0)) for name in HESSIAN_RECORDED}
            else:
                k_lanczos, k_trace = jax.random.split(jax.random.fold_in(key, i))

                matvec = functools.partial(hvp_fn, theta, xi, yi)
                steps = min(cfg.lanczos_steps, n_params)
                ritz = hessian.lanczos(matvec, n_params, k=steps, key=k_lanczos)
                trace, se = hessian.hutchinson_trace(
                    matvec, n_params, samples=cfg.hutchinson_samples, key=k_trace
                )
                row = dict.fromkeys(HESSIAN_RECORDED, nan)
                row.update(trace=trace, trace_se=se, max=float(ritz[-1]))
            if activation == "relu" and np.isfinite(row["trace"]):
                h = np.asarray(hidden_activity(p, xi, activation))
                zeros = hessian.zero_eigenvalues_from_silent_units(h, d_in, d_out)
                row["zeros_from_silent"] = float(zeros)
            else:
                row["zeros_from_silent"] = nan
            for name in HESSIAN_RECORDED:
                values[name].append(row[name])
    return HessianRecordPoint(
        values={k: np.asarray(v, np.float64) for k, v in values.items()},
        spectra=np.stack(spectra) if spectra else None,
    )


class HessianRecorder(SeriesRecorder):
    """Hessian summaries at ``schedule`` (their own record points, ``hessian_time``).

    x (B, N, d_in), y (B, N, d_out): the clean training data; ``seed``: the key of
    the Lanczos and Hutchinson draws at step t is ``fold_in(key(seed), t)``.
    Checkpoint keys ``hes/step``, ``hes/<name>``; dense spectra go to
    ``snapshots/hessian_<step>.npz`` and, at the end, ``hessian.nc``.
    """

    def __init__(
        self,
        schedule: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        *,
        activation: str,
        seed: int,
        options: HessianOptions,
    ) -> None:
        self.schedule, self.at_stop = schedule, False
        self.x, self.y, self.activation, self.seed = x, y, activation, seed
        self.options = options
        self.series = Series(HESSIAN_RECORDED, int(x.shape[0]), "hes")

    def record(self, point: Any, out: Path) -> None:
        found = hessian_record(
            point.state.params,
            self.x,
            self.y,
            activation=self.activation,
            key=jax.random.fold_in(jax.random.key(self.seed), point.step),
            options=self.options,
        )
        self.series.append(point.step, found.values)
        if found.spectra is not None:
            write_npz(self._spectrum(out, point.step), {"eigs": found.spectra})

    @staticmethod
    def _spectrum(out: Path, step: int) -> Path:
        return out / "snapshots" / f"hessian_{step:012d}.npz"

    def timeseries(self, ds: xr.Dataset) -> xr.Dataset:
        if not self.series.steps:
            return ds
        names = {k: long_name(k, self.options.rtol) for k in HESSIAN_RECORDED}
        ds = self.series.add_to(
            ds,
            dim="hessian_time",
            coord="hessian_step",
            var=lambda name: f"hessian_{name}",
            long_names=names,
        )
        ds.attrs["hessian_rtol"] = self.options.rtol
        ds.attrs["hessian_rtol_range"] = list(RTOL_RANGE)
        return ds

    def finish(self, out: Path, coords: Mapping[str, Any]) -> None:
        """Gather the dense spectra into ``hessian.nc`` (when every record kept one)."""
        steps = np.asarray(self.series.steps, np.int64)
        paths = [self._spectrum(out, int(s)) for s in steps]
        if not paths or not all(p.is_file() for p in paths):
            return
        eigs = np.stack([read_npz(p)["eigs"] for p in paths])
        ds = xr.Dataset(
            {"eigenvalues": (("hessian_time", "network", "eigenvalue"), eigs)},
            coords={**coords, "hessian_step": ("hessian_time", steps)},
        )
        ds["eigenvalues"].attrs["long_name"] = (
            "eigenvalues of the Hessian of the training loss, ascending (float64, eigvalsh)"
        )
        ds.attrs["rtol"] = self.options.rtol
        write_netcdf(out / "hessian.nc", ds)
