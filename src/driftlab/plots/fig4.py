"""Figure 4 of Ratzon, Derdikman & Barak (2023): noisy learning flattens the landscape.

A: noisy GD on a two-dimensional valley with a zero-loss floor whose walls flatten
to one side (driftlab.landscapes; stored by driftlab.experiments.landscapes).
B: fraction of active units against the number of nonzero Hessian eigenvalues
over a run with update noise: the line (coloured by step) counts |lambda| above
the run's ``record.hessian.rtol`` times the largest, the shaded band spans the
counts over rtol 1e-12 .. 1e-6 (``hessian.RTOL_RANGE``: the spectrum has no gap
there, so the count depends on the cut), diamonds mark counts above a spectral
gap of at least a decade where there is one. The dashed line is the exact part:
the most nonzero eigenvalues the silent units allow, P - zeros_from_silent =
P x active units (each silent unit zeroes its d_in + 1 + d_out rows).
C: log10 of the positive eigenvalues above the same cut (rtol x the largest,
dotted lines) at two record points of that run: the small ones are pushed down,
the large ones hardly move.
D: the Hessian's trace over a run with label noise.

B and C need a run recorded with ``record.hessian`` and a dense spectrum
(``hessian.nc``); D a run with label noise and Hessian records. Reads stored
results only. Runs recorded before the band's variables (``hessian_n_nonzero_rtol_min``
and ``_max``, ``hessian_gap_*``) get the band computed from ``hessian.nc``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from driftlab.metrics import spectrum as hessian  # numpy only: figures need no JAX


@dataclass(frozen=True)
class Fig4Data:
    """What panels B-D plot, from stored runs (network ``network`` of each batch)."""

    title_b: str
    hess_steps: np.ndarray  # (k,) Hessian record steps of the update-noise run
    n_nonzero: np.ndarray  # (k,) at rtol
    active_units: np.ndarray  # (k,) 1 - silent units / H, at the same steps
    n_params: int
    spectrum_steps: tuple[int, int]
    log_eigs: tuple[np.ndarray, np.ndarray]  # log10 of the positive nonzero eigenvalues
    n_negative: tuple[int, int]
    title_d: str
    trace_steps: np.ndarray  # (j,) of the label-noise run
    trace: np.ndarray  # (j,)
    trace_se: np.ndarray  # (j,) 0 for dense spectra
    rtol: float  # the run's record.hessian.rtol: n_nonzero's and panel C's cut
    band: CountBand  # the counts over hessian.RTOL_RANGE
    silent_bound: np.ndarray  # (k,) P - zeros_from_silent: nonzero <= this, exactly
    cut_log10: tuple[float, float]  # panel C's cut, log10(rtol x max|lambda|), at each step


@dataclass(frozen=True)
class CountBand:
    """The nonzero count over a range of tolerances, at the Hessian record points.

    ``low``: the count at ``rtol_range[1]`` (the fewest); ``high``: at
    ``rtol_range[0]`` (the most); ``gap_decades`` and ``gap_n_nonzero`` as
    ``hessian.spectral_gap`` (the count NaN without a gap of ``MIN_GAP_DECADES``).
    ``source``: where they come from, "recorded" (timeseries.nc),
    "computed from hessian.nc" (a run recorded before these variables), or a
    phrase saying why there is no band (all arrays NaN).
    """

    rtol_range: tuple[float, float]
    low: np.ndarray  # (k,)
    high: np.ndarray  # (k,)
    gap_decades: np.ndarray  # (k,)
    gap_n_nonzero: np.ndarray  # (k,)
    source: str

    @property
    def available(self) -> bool:
        return bool(np.any(np.isfinite(self.high)))


_BAND_NAMES = ("n_nonzero_rtol_max", "n_nonzero_rtol_min", "gap_decades", "gap_n_nonzero")


def count_band(ts: Any, eigs: np.ndarray | None, network: int = 0) -> CountBand:
    """The count band of network ``network``: the recorded variables when the run has
    them (recorded over the current ``hessian.RTOL_RANGE``), else computed from the
    spectra ``eigs`` (k, P) of ``hessian.nc``, else NaN with a ``source`` saying so."""
    rtol_range = hessian.RTOL_RANGE
    k = int(ts.sizes["hessian_time"])
    names = [f"hessian_{n}" for n in _BAND_NAMES]
    stored_range = tuple(np.atleast_1d(ts.attrs.get("hessian_rtol_range", [])).tolist())
    recorded = all(n in ts.data_vars for n in names) and stored_range == rtol_range
    if recorded:
        low, high, gap, above = (ts[n].isel(network=network).values for n in names)
        return CountBand(rtol_range, low, high, gap, above, "recorded")
    if eigs is not None:
        rows = [hessian.summarise(e, rtol_range=rtol_range) for e in eigs]
        low, high, gap, above = (
            np.asarray([getattr(r, n) for r in rows], np.float64) for n in _BAND_NAMES
        )
        return CountBand(rtol_range, low, high, gap, above, "computed from hessian.nc")
    nan = np.full(k, np.nan)
    why = "not recorded (an older run) and no hessian.nc spectra to compute it from"
    return CountBand(rtol_range, nan, nan, nan, nan, why)


def _describe(ts: Any) -> str:
    cfg = json.loads(ts.attrs["config"])
    noise = cfg["noise"]
    parts = [f"{cfg['task']['name']}, H = {cfg['model']['hidden']}, {cfg['train']['rule']}"]
    if any(noise["update"]["sd"]):
        parts.append(f"update noise sd {noise['update']['sd'][0]:g}")
    label = noise["label"]
    value = label["sd"] if label["kind"] == "gaussian" else label["width"]
    if any(value):
        what = "sd" if label["kind"] == "gaussian" else "width"
        parts.append(f"{label['kind']} label noise {what} {value[0]:g}")
    return ", ".join(parts)


def _need_hessian(ts: Any, run_dir: Path) -> None:
    if "hessian_step" not in ts.coords:
        raise ValueError(
            f"'{run_dir}' has no Hessian records: run it with "
            "--set record.hessian.log_points=12 (or record.hessian.every=N)"
        )


def _why_no_spectra(run_dir: Path, ts: Any) -> str:
    """The one-line reason a run with Hessian records has no hessian.nc."""
    status_path = run_dir / "status.json"
    status = json.loads(status_path.read_text()) if status_path.is_file() else {}
    if status.get("state") not in (None, "complete", "diverged"):  # running or interrupted
        return (
            f"'{run_dir}' is not complete (step {status.get('step')} of "
            f"{status.get('total_steps')}): rerun the same 'driftlab run' command to finish it"
        )
    hess = json.loads(ts.attrs["config"])["record"]["hessian"]
    if not hess["spectrum"]:
        return f"'{run_dir}' kept no spectra: rerun it with --set record.hessian.spectrum=true"
    return (
        f"'{run_dir}' has no hessian.nc (dense spectra): record with "
        "record.hessian.method dense (or auto on a network of <= dense_max parameters)"
    )


def fig4_data(
    update_run: str | Path,
    label_run: str | Path | None = None,
    *,
    network: int = 0,
    times: tuple[int, int] | None = None,
) -> Fig4Data:
    """Panels B-D's data. ``times``: the two steps of panel C (default: the Hessian
    record nearest a tenth of the last, and the last); ``label_run`` defaults to
    ``update_run``."""
    from driftlab.rundir import load_run

    upd_dir = Path(update_run)
    upd = load_run(upd_dir)
    ts = upd["timeseries"]
    _need_hessian(ts, upd_dir)
    if "hessian" not in upd:
        raise ValueError(_why_no_spectra(upd_dir, ts))
    if not 0 <= network < ts.sizes["network"]:
        raise ValueError(f"--network: expected 0..{ts.sizes['network'] - 1}, got {network}")
    if json.loads(ts.attrs["config"])["model"]["activation"] != "relu":
        raise ValueError(
            f"'{upd_dir}': panel B counts silent ReLU units; this run's "
            "model.activation is not relu"
        )
    eigs = upd["hessian"]["eigenvalues"].isel(network=network).values  # (k, P)
    hess_steps = ts.hessian_step.values
    n_params = eigs.shape[1]
    zeros = ts.hessian_zeros_from_silent.isel(network=network).values
    rtol = float(ts.attrs.get("hessian_rtol", 1e-7))
    if times is None:
        if hess_steps.size < 2:
            raise ValueError(f"'{upd_dir}' has fewer than two Hessian records")
        last = hess_steps.size - 1
        tenth = int(np.argmin(np.abs(hess_steps[:last] - hess_steps[last] / 10)))
        idx = (tenth, last)
    else:
        missing = [t for t in times if t not in hess_steps]
        if missing:
            raise ValueError(
                f"--times: step {missing[0]} is not a Hessian record; "
                f"recorded: {', '.join(str(int(s)) for s in hess_steps)}"
            )
        idx = (
            int(np.flatnonzero(hess_steps == times[0])[0]),
            int(np.flatnonzero(hess_steps == times[1])[0]),
        )
    logs, negs, cuts = [], [], []
    for i in idx:
        e = eigs[i]
        nonzero = np.abs(e) > rtol * np.abs(e).max()
        cuts.append(float(np.log10(rtol * np.abs(e).max())))
        positive = e[nonzero & (e > 0)]
        if not positive.size:  # a diverged (NaN) or silent network
            raise ValueError(
                f"--times: network {network} of '{upd_dir}' has no positive eigenvalue at "
                f"step {int(hess_steps[i])}; choose other --times or another --network"
            )
        logs.append(np.log10(positive))
        negs.append(int(np.count_nonzero(nonzero & (e < 0))))
    lab_dir = Path(label_run) if label_run is not None else upd_dir
    lab_ts = load_run(lab_dir)["timeseries"] if label_run is not None else ts
    _need_hessian(lab_ts, lab_dir)
    if network >= lab_ts.sizes["network"]:
        raise ValueError(
            f"--network: '{lab_dir}' has networks 0..{lab_ts.sizes['network'] - 1}, not {network}"
        )
    lab_net = network
    return Fig4Data(
        title_b=_describe(ts),
        hess_steps=hess_steps,
        n_nonzero=ts.hessian_n_nonzero.isel(network=network).values,
        active_units=1.0 - zeros / n_params,
        n_params=n_params,
        spectrum_steps=(int(hess_steps[idx[0]]), int(hess_steps[idx[1]])),
        log_eigs=(logs[0], logs[1]),
        n_negative=(negs[0], negs[1]),
        title_d=_describe(lab_ts),
        trace_steps=lab_ts.hessian_step.values,
        trace=lab_ts.hessian_trace.isel(network=lab_net).values,
        trace_se=lab_ts.hessian_trace_se.isel(network=lab_net).values,
        rtol=rtol,
        band=count_band(ts, eigs, network),
        silent_bound=n_params - zeros,
        cut_log10=(cuts[0], cuts[1]),
    )


def plot_fig4(data: Fig4Data, valley_dir: str | Path | None = None) -> Any:
    """The figure: A (if ``valley_dir`` holds a stored valley trajectory), B, C, D."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4.6), layout="constrained")
    ax_a, ax_b, ax_c, ax_d = axes
    if valley_dir is not None:
        from driftlab.plots.landscapes import draw_stored_valley

        draw_stored_valley(ax_a, valley_dir)
    else:
        ax_a.set_axis_off()
    ax_a.set_title("A  noisy GD on a valley", loc="left", fontsize=10)

    steps = np.maximum(data.hess_steps, 1)
    band = data.band
    lo_tol, hi_tol = (hessian.format_rtol(r) for r in band.rtol_range)
    if band.available:
        ax_b.fill_betweenx(
            data.active_units,
            band.low,
            band.high,
            color="tab:blue",
            alpha=0.18,
            lw=0,
            zorder=1,
            label=f"counts over rtol {hi_tol} (left) .. {lo_tol} (right)"
            + ("" if band.source == "recorded" else f"\n({band.source})"),
        )
        ax_b.hlines(
            data.active_units, band.low, band.high, color="tab:blue", lw=0.8, alpha=0.5, zorder=1
        )
    else:
        ax_b.plot([], [], " ", label=f"no rtol band:\n{band.source}")
    sc = ax_b.scatter(
        data.n_nonzero, data.active_units, c=np.log10(steps), cmap="viridis", s=28, zorder=3
    )
    ax_b.plot(
        data.n_nonzero,
        data.active_units,
        color="0.5",
        lw=0.8,
        zorder=2,
        label=f"rtol {hessian.format_rtol(data.rtol)} (record.hessian.rtol)",
    )
    gapped = np.isfinite(band.gap_n_nonzero)
    if np.any(gapped):
        ax_b.scatter(
            band.gap_n_nonzero[gapped],
            data.active_units[gapped],
            marker="D",
            facecolor="none",
            edgecolor="k",
            s=40,
            zorder=4,
            label=f"above a gap >= {hessian.MIN_GAP_DECADES:g} decade in {lo_tol} .. {hi_tol}",
        )
    grid = np.linspace(0, data.n_params, 50)
    ax_b.plot(
        grid,
        grid / data.n_params,
        "k--",
        lw=1,
        label="exact bound: nonzero <= P - silent-unit zeros",
    )
    widest = float(np.nanmax(band.gap_decades)) if band.available else float("nan")
    if band.available and not np.any(gapped):
        ax_b.text(
            0.97,
            0.03,
            f"no spectral gap in rtol {lo_tol} .. {hi_tol}:\n"
            f"widest {widest:.2f} decades (< {hessian.MIN_GAP_DECADES:g})",
            transform=ax_b.transAxes,
            fontsize=7.5,
            va="bottom",
            ha="right",
        )
    reach = [data.n_nonzero, band.high, data.silent_bound]
    hi = max(max(float(np.nanmax(v)) for v in reach if np.any(np.isfinite(v))) * 1.08, 1.0)
    ax_b.set_xlim(0, hi)
    ax_b.set_ylim(0, 1.02)
    ax_b.set_xlabel("nonzero Hessian eigenvalues (|lambda| > rtol x max|lambda|)")
    ax_b.set_ylabel("fraction of active units")
    ax_b.legend(fontsize=7, loc="upper left")
    fig.colorbar(sc, ax=ax_b, label="log10 step")
    ax_b.set_title(f"B  {data.title_b}", loc="left", fontsize=9)

    lo = min(float(v.min()) for v in data.log_eigs if v.size)
    top = max(float(v.max()) for v in data.log_eigs if v.size)
    bins = np.linspace(lo, top, 40)
    cut = hessian.format_rtol(data.rtol)
    for logs, step, neg, at, colour in zip(
        data.log_eigs,
        data.spectrum_steps,
        data.n_negative,
        data.cut_log10,
        ("tab:blue", "tab:red"),
        strict=True,
    ):
        ax_c.hist(
            logs,
            bins=bins,
            histtype="step",
            lw=1.6,
            color=colour,
            label=f"step {step:,}: {logs.size} > 0 ({neg} < 0 not shown)",
        )
        ax_c.axvline(at, color=colour, ls=":", lw=1)
    at_c = [int(np.flatnonzero(data.hess_steps == t)[0]) for t in data.spectrum_steps]
    no_gap = data.band.available and not np.any(np.isfinite(data.band.gap_n_nonzero[at_c]))
    ax_c.plot(
        [],
        [],
        "k:",
        lw=1,
        label=f"cut: {cut} x max|lambda|" + (" (not in a gap)" if no_gap else ""),
    )
    ax_c.set_xlabel(f"log10 eigenvalue (positive, > {cut} x max|lambda|)")
    ax_c.set_ylabel("count")
    ax_c.set_ylim(0, ax_c.get_ylim()[1] * 1.3)  # room for the legend
    ax_c.legend(fontsize=8)
    ax_c.set_title(f"C  Hessian spectrum at two times (rtol {cut})", loc="left", fontsize=10)

    t_steps = np.maximum(data.trace_steps, 1)
    ax_d.plot(t_steps, data.trace, color="tab:green", marker="o", ms=3)
    if np.any(data.trace_se > 0):
        ax_d.fill_between(
            t_steps, data.trace - data.trace_se, data.trace + data.trace_se, alpha=0.2
        )
    ax_d.set_xscale("log")
    ax_d.set_xlabel("training step")
    ax_d.set_ylabel("trace of the Hessian (sum of eigenvalues)")
    ax_d.set_title(f"D  {data.title_d}", loc="left", fontsize=9)
    fig.suptitle("Noisy learning flattens the loss landscape (Figure 4)", fontsize=11)
    return fig


def write_fig4(
    update_run: str | Path,
    out_dir: str | Path | None = None,
    *,
    label_run: str | Path | None = None,
    valley_dir: str | Path | None = None,
    network: int = 0,
    times: tuple[int, int] | None = None,
) -> list[Path]:
    """Write ``fig4.png`` and ``fig4.pdf`` (default folder: UPDATE_RUN/figures;
    ``fig4_network<N>`` for network N > 0)."""
    from driftlab.plots.save import write_run_figure

    data = fig4_data(update_run, label_run, network=network, times=times)
    fig = plot_fig4(data, valley_dir)
    return write_run_figure(fig, update_run, out_dir, "fig4", network=network)
