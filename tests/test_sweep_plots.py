"""Sweep figures (Figure 3A-B, 5B, S1, S2) and the per-group table, on synthetic sweeps.

The summaries and time courses here are made up with a seeded numpy generator in
the schema the sweep executor writes: nothing is simulated.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from driftlab.plots.sweep import (
    draw_fig3,
    draw_fig5b,
    draw_s1,
    draw_s2,
    plot_fig3,
    plot_fig5b,
    plot_s1,
    plot_s2,
)
from driftlab.sweep.groups import METRICS, fit_slope, group_label, group_table

matplotlib.use("Agg")

# (branch, algorithm, noise_type, runs) as in the table1 preset, scaled down
BRANCHES: tuple[tuple[str, str, str, int], ...] = (
    ("gd_update", "gd", "update", 60),
    ("gd_label", "gd", "label", 50),
    ("adam", "adam", "none", 8),
    ("adam_label", "adam", "label", 5),
    ("sed", "sed", "none", 10),
    ("gd_control", "gd", "none", 4),
)
TRUE_SLOPE = 1.0  # synthetic log10 rate = 0.5 + 1.0 log10 variance + noise
POINTS = 100


def make_summary(
    seed: int = 0,
    branches: tuple[tuple[str, str, str, int], ...] = BRANCHES,
    *,
    steps: int = 1_000_000,
    hessians: bool = True,
) -> pd.DataFrame:
    """A synthetic sweep summary: one row per run, every schema column present."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for branch, algorithm, noise_type, n in branches:
        for j in range(n):
            status = rng.choice(
                ["complete", "diverged", "failed", "pending"], p=[0.85, 0.07, 0.04, 0.04]
            )
            if noise_type == "update":
                level = 10 ** rng.uniform(-2, -1)
                variance = level**2
                final_units = rng.uniform(0.08, 0.3)
                log10_rate = 0.5 + TRUE_SLOPE * math.log10(variance) + rng.normal(0, 0.25)
            elif noise_type == "label":
                level = 10 ** rng.uniform(-1, 0)
                variance = level**2 / 12
                final_units = rng.uniform(0.75, 1.0)
                log10_rate = rng.normal(-4.5, 0.5)
            else:
                level = variance = 0.0
                final_units = rng.uniform(0.9, 1.0) if algorithm == "gd" else rng.uniform(0.2, 0.6)
                log10_rate = rng.normal(-4.0, 0.4)
            fit_ok = bool(rng.uniform() > 0.1)
            rate = 10**log10_rate if fit_ok else math.nan
            start_units = rng.uniform(0.9, 1.0)
            done = steps if status == "complete" else int(rng.integers(0, steps))
            hess_units = float(np.clip(final_units + rng.normal(0, 0.01), 0, 1))
            rows.append(
                {
                    "id": f"{branch}-{j:03d}",
                    "branch": branch,
                    "status": str(status),
                    "steps": steps,
                    "steps_done": done,
                    "algorithm": algorithm,
                    "noise_type": noise_type,
                    "noise_level": level,
                    "noise_variance": variance,
                    "task.name": str(rng.choice(["random", "smoothed", "predictive"])),
                    "task.abstract.d_in": int(rng.integers(1, 20)),
                    "model.init": str(rng.choice(["rich", "lazy"])),
                    "train.rule": algorithm,
                    "train.lr": 0.001 if algorithm == "adam" else 0.1,
                    "noise.update.sd": level if noise_type == "update" else 0.0,
                    "final_log10_loss": rng.normal(-2.0, 0.5),
                    "final_active": final_units * rng.uniform(0.3, 0.6),
                    "final_active_units": final_units,
                    "active_ratio": rng.uniform(0.2, 1.0),
                    "active_units_ratio": final_units / start_units,
                    "sparsification_rate": rate,
                    "sparsification_tau": 1 / rate,
                    "log10_rate": math.log10(rate),
                    "fit_ok": fit_ok,
                    "hessian_trace_ratio": rng.uniform(0.1, 1) if hessians else math.nan,
                    "hessian_max_ratio": rng.uniform(0.1, 1) if hessians else math.nan,
                    "hessian_nonzero_fraction": (
                        hess_units * rng.uniform(0.2, 1.0) if hessians else math.nan
                    ),
                    "hessian_active_units": hess_units if hessians else math.nan,
                    "authors_filter_kept": bool(rng.uniform() > 0.2),
                }
            )
    return pd.DataFrame(rows)


def make_timecourses(summary: pd.DataFrame, seed: int = 1) -> xr.Dataset:
    """Resampled time courses of ``summary``'s runs: exponential sparsification at
    each run's rate, NaN past a diverged run's end."""
    rng = np.random.default_rng(seed)
    n = len(summary)
    step = np.empty((n, POINTS))
    units = np.empty((n, POINTS))
    loss = np.empty((n, POINTS))
    for i, run in enumerate(summary.itertuples(index=False)):
        s = np.geomspace(1, run.steps, POINTS)
        rate = run.sparsification_rate if np.isfinite(run.sparsification_rate) else 1e-5
        final = run.final_active_units
        step[i] = s
        units[i] = final + (0.95 - final) * np.exp(-rate * s) + rng.normal(0, 0.005, POINTS)
        loss[i] = 10**run.final_log10_loss + np.exp(-s / 300)
    active = units * 0.45
    for i, status in enumerate(summary["status"]):
        if status == "diverged":
            end = int(rng.integers(20, 90))
            units[i, end:] = active[i, end:] = loss[i, end:] = np.nan
    dims = ("run", "point")
    return xr.Dataset(
        {
            "step": (dims, step),
            "loss": (dims, loss),
            "active": (dims, active),
            "active_units": (dims, np.clip(units, 0, 1)),
        },
        coords={
            "run": summary["id"].to_numpy(),
            "branch": ("run", summary["branch"].to_numpy()),
            "algorithm": ("run", summary["algorithm"].to_numpy()),
            "noise_type": ("run", summary["noise_type"].to_numpy()),
        },
    )


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return make_summary()


@pytest.fixture(scope="module")
def timecourses(summary: pd.DataFrame) -> xr.Dataset:
    return make_timecourses(summary)


def texts(fig: Any) -> str:
    """Every text on a figure (titles, labels, annotations, legends), joined; closes it."""
    import matplotlib.pyplot as plt

    found = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    plt.close(fig)
    return "\n".join(found)


def render(fig: Any) -> str:
    """Draw a figure on its (Agg) canvas, as saving does, then return :func:`texts`."""
    fig.canvas.draw()
    return texts(fig)


def assert_written(paths: list[Path], stem: str) -> None:
    assert [p.name for p in paths] == [f"{stem}.png", f"{stem}.pdf"]
    png, pdf = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000


# ---------------------------------------------------------------- fit_slope


def test_fit_slope_exact_line() -> None:
    f = fit_slope([1.0, 2.0, 3.0, 4.0, np.nan], [3.0, 5.0, 7.0, 9.0, 1.0])
    assert f.n == 4
    assert f.slope == pytest.approx(2.0) and f.intercept == pytest.approx(1.0)
    assert f.ci_low == pytest.approx(2.0) and f.ci_high == pytest.approx(2.0)
    assert f.r2 == pytest.approx(1.0) and f.ok


def test_fit_slope_matches_scipy_linregress() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-4, -2, 30)
    y = 0.5 + 1.2 * x + rng.normal(0, 0.3, 30)
    f = fit_slope(x, y, level=0.9)
    ref = stats.linregress(x, y)
    assert f.slope == pytest.approx(ref.slope) and f.intercept == pytest.approx(ref.intercept)
    assert f.stderr == pytest.approx(ref.stderr) and f.r2 == pytest.approx(ref.rvalue**2)
    t = stats.t.ppf(0.95, 28)
    assert f.ci_low == pytest.approx(ref.slope - t * ref.stderr)
    assert f.ci_high == pytest.approx(ref.slope + t * ref.stderr)


@pytest.mark.parametrize("level", [0.95, 0.5])
def test_fit_slope_interval_covers_the_true_slope_at_its_level(level: float) -> None:
    """Over 200 synthetic data sets the interval covers the true slope in a fraction
    ``level`` of them: the count is Binomial(200, level), accepted within 4 sd."""
    rng = np.random.default_rng(11)
    trials, n = 200, 12
    covered = 0
    for _ in range(trials):
        x = rng.uniform(-4, -2, n)
        y = -1.0 + TRUE_SLOPE * x + rng.normal(0, 0.4, n)
        f = fit_slope(x, y, level=level)
        covered += int(f.ci_low <= TRUE_SLOPE <= f.ci_high)
    sd = math.sqrt(trials * level * (1 - level))
    assert abs(covered - trials * level) <= 4 * sd, (covered, trials * level, sd)


def test_fit_slope_degenerate() -> None:
    for x, y, n in (
        ([], [], 0),
        ([1.0, 2.0], [1.0, 2.0], 2),
        ([1, 2, np.inf, 4], [1, np.nan, 3, 4], 2),
    ):
        f = fit_slope(x, y)
        assert f.n == n and not f.ok
        assert all(math.isnan(v) for v in (f.slope, f.intercept, f.ci_low, f.ci_high, f.r2))
    flat_x = fit_slope([2.0, 2.0, 2.0, 2.0], [1.0, 2.0, 3.0, 4.0])
    assert flat_x.n == 4 and math.isnan(flat_x.slope)
    flat_y = fit_slope([1.0, 2.0, 3.0], [5.0, 5.0, 5.0])
    assert flat_y.slope == 0.0 and math.isnan(flat_y.r2)
    with pytest.raises(ValueError, match="level"):
        fit_slope([1, 2, 3], [1, 2, 3], level=1.0)
    with pytest.raises(ValueError, match="x has 3 values, y 2"):
        fit_slope([1, 2, 3], [1, 2])


# ---------------------------------------------------------------- groups


def test_group_label() -> None:
    assert group_label("gd", "update") == "GD + update noise"
    assert group_label("gd", "label") == "GD + label noise"
    assert group_label("adam", "none") == "Adam"
    assert group_label("adam", "label") == "Adam + label noise"
    assert group_label("sed", "none") == "SED"
    assert group_label("gd", "none") == "GD, no noise"
    assert group_label("rmsprop", "none") == "RMSprop"
    assert group_label("sgd", "input") == "SGD + input noise"
    assert group_label("newrule", "update") == "newrule + update noise"
    assert group_label(math.nan, None) == "unknown rule, noise unknown"


def hand_built() -> pd.DataFrame:
    """Two groups of one length and one of another, with NaN rates and other statuses."""
    nan = math.nan
    rows = [
        # algorithm, noise, steps, status, kept, loss, ratio, units_ratio, rate
        ("gd", "update", 100, "complete", True, -2.0, 0.5, 0.2, -3.0),
        ("gd", "update", 100, "complete", True, -2.5, 0.4, 0.3, -2.0),
        ("gd", "update", 100, "complete", False, -1.0, 0.9, 0.1, nan),
        ("gd", "update", 100, "complete", True, -3.0, 0.1, 0.6, -1.0),
        ("gd", "update", 100, "diverged", True, 5.0, 0.0, 0.0, -9.0),
        ("gd", "update", 100, "pending", False, nan, nan, nan, nan),
        ("gd", "update", 1000, "complete", True, -4.0, 0.3, 0.5, -2.5),
        ("adam", "none", 100, "complete", False, -1.5, 0.7, 0.8, -4.0),
        ("adam", "none", 100, "complete", True, -1.7, 0.6, 0.7, -3.5),
        ("gd", "label", 100, "failed", True, nan, nan, nan, nan),
    ]
    cols = ["algorithm", "noise_type", "steps", "status", "authors_filter_kept", *METRICS]
    frame = pd.DataFrame(rows, columns=cols)
    frame.insert(0, "id", [f"r{i}" for i in range(len(frame))])
    return frame


def test_group_table_quartiles_equal_numpy() -> None:
    frame = hand_built()
    table = group_table(frame)
    assert list(table["group"]) == [
        "GD + update noise",
        "GD + update noise",
        "GD + label noise",
        "Adam",
    ]
    assert list(table["steps"]) == [100, 1000, 100, 100]
    first = table.iloc[0]
    assert (first["n_runs"], first["n_complete"], first["n_rate"]) == (6, 4, 3)
    done = frame[(frame["algorithm"] == "gd") & (frame["steps"] == 100)]
    done = done[done["status"] == "complete"]
    for m in METRICS:
        v = done[m].to_numpy(np.float64)
        v = v[np.isfinite(v)]
        assert first[f"{m}_median"] == pytest.approx(np.median(v))
        assert first[f"{m}_q25"] == pytest.approx(np.quantile(v, 0.25))
        assert first[f"{m}_q75"] == pytest.approx(np.quantile(v, 0.75))
    # the diverged run's values (loss 5, rate -9) are not described
    assert first["final_log10_loss_q75"] < 0 and first["log10_rate_q25"] > -9
    single = table.iloc[1]
    assert single["active_ratio_median"] == single["active_ratio_q25"] == 0.3
    label = table.iloc[2]  # only a failed run: counted, no statistics
    assert (label["n_runs"], label["n_complete"], label["n_rate"]) == (1, 0, 0)
    assert all(math.isnan(label[f"{m}_median"]) for m in METRICS)
    assert table.iloc[3]["log10_rate_median"] == pytest.approx(-3.75)


def test_group_table_kept_only() -> None:
    frame = hand_built()
    table = group_table(frame, kept_only=True)
    first = table.iloc[0]
    assert (first["n_runs"], first["n_complete"], first["n_rate"]) == (4, 3, 3)
    assert first["active_ratio_median"] == pytest.approx(np.median([0.5, 0.4, 0.1]))
    adam = table[table["group"] == "Adam"].iloc[0]
    assert adam["n_runs"] == 1 and adam["final_log10_loss_median"] == pytest.approx(-1.7)
    # a missing flag counts as not kept
    frame["authors_filter_kept"] = frame["authors_filter_kept"].astype(object)
    frame.loc[frame["algorithm"] == "adam", "authors_filter_kept"] = math.nan
    assert "Adam" not in set(group_table(frame, kept_only=True)["group"])


def test_group_table_empty_and_missing_columns() -> None:
    frame = hand_built()
    empty = group_table(frame.iloc[:0])
    assert empty.empty and "active_ratio_q75" in empty.columns
    assert group_table(
        frame[~frame["authors_filter_kept"]].assign(authors_filter_kept=False), kept_only=True
    ).empty
    with pytest.raises(ValueError, match="log10_rate"):
        group_table(frame.drop(columns="log10_rate"))


def test_group_table_on_a_synthetic_sweep(summary: pd.DataFrame) -> None:
    table = group_table(summary)
    assert table["n_runs"].sum() == len(summary)
    assert table["n_complete"].sum() == int((summary["status"] == "complete").sum())
    assert list(table["group"])[:6] == [
        "GD + update noise",
        "GD + label noise",
        "Adam",
        "Adam + label noise",
        "SED",
        "GD, no noise",
    ]
    ok = table.dropna(subset=["active_ratio_median"])
    assert np.all(ok["active_ratio_q25"] <= ok["active_ratio_median"])
    assert np.all(ok["active_ratio_median"] <= ok["active_ratio_q75"])


# ---------------------------------------------------------------- figures


def test_every_figure_is_written(
    summary: pd.DataFrame, timecourses: xr.Dataset, tmp_path: Path
) -> None:
    assert_written(draw_fig3(summary, tmp_path), "fig3")
    assert_written(draw_fig5b(summary, tmp_path), "fig5b")
    assert_written(draw_s1(summary, timecourses, tmp_path), "s1")
    assert_written(draw_s2(summary, timecourses, tmp_path / "new" / "folder"), "s2")
    assert "authors' filter applied" in render(plot_fig3(summary, kept_only=True))


def test_fig3_reports_the_fitted_slope(summary: pd.DataFrame) -> None:
    done = summary[(summary["status"] == "complete") & (summary["noise_type"] == "update")]
    fit = fit_slope(np.log10(done["noise_variance"]), done["log10_rate"])
    assert fit.ci_low <= TRUE_SLOPE <= fit.ci_high
    shown = texts(plot_fig3(summary))
    assert f"95% CI [{fit.ci_low:.2f}, {fit.ci_high:.2f}]" in shown
    assert f"n = {fit.n}" in shown
    n_update = len(done)
    assert f"GD + update noise (n = {n_update})" in shown  # A's legend: every complete run
    diverged = int((summary["status"] == "diverged").sum())
    assert f"{diverged} diverged" in shown


def test_fig5b_needs_hessians(tmp_path: Path) -> None:
    without = make_summary(hessians=False)
    with pytest.raises(ValueError, match=r"no run of this sweep recorded Hessians \(record"):
        draw_fig5b(without, tmp_path)
    assert not list(tmp_path.iterdir())


def test_fig5b_counts_points_above_the_identity(summary: pd.DataFrame) -> None:
    shown = texts(plot_fig5b(summary))
    assert "0 above the identity" in shown and "Pearson r" in shown


def one_branch(algorithm: str, noise: str, n: int, seed: int = 5) -> pd.DataFrame:
    return make_summary(seed, (("b", algorithm, noise, n),)).assign(status="complete")


def degenerate() -> dict[str, pd.DataFrame]:
    one = one_branch("gd", "update", 1)
    return {
        "one run": one,
        "all rates NaN": one_branch("gd", "update", 12).assign(log10_rate=math.nan),
        "no update-noise group": one_branch("adam", "none", 6),
        "no runs": one.iloc[:0],
        "nothing complete": one_branch("gd", "label", 3).assign(status="pending"),
    }


@pytest.mark.parametrize("case", list(degenerate()))
def test_degenerate_inputs_do_not_crash(case: str) -> None:
    """Each figure is drawn (rendered, not saved: the saving is tested above)."""
    frame = degenerate()[case]
    tc = make_timecourses(frame)
    shown = {
        "fig3": render(plot_fig3(frame)),
        "s1": render(plot_s1(frame, tc)),
        "s2": render(plot_s2(frame, tc)),
    }
    if case != "no runs":
        shown["fig5b"] = render(plot_fig5b(frame))
    expect = {
        "one run": ("fig3", "too few runs to fit: 0 with a rate; 1 without a rate"),
        "all rates NaN": ("fig3", "too few runs to fit: 0 with a rate; 12 without a rate"),
        "no update-noise group": ("s2", "no complete runs with update or label noise"),
        "no runs": ("s1", "no complete runs"),
        "nothing complete": ("fig5b", "no complete run with Hessian records"),
    }[case]
    assert expect[1] in shown[expect[0]]
    if case == "no update-noise group":
        assert "no runs with update noise" in shown["fig3"]


def test_fig3_fits_with_three_runs() -> None:
    frame = one_branch("gd", "update", 3).assign(fit_ok=True)
    frame["log10_rate"] = 0.5 + np.log10(frame["noise_variance"])  # on a line
    shown = render(plot_fig3(frame))
    assert "slope 1.00, 95% CI [1.00, 1.00]" in shown and "n = 3" in shown


def test_time_courses_of_runs_of_different_lengths(tmp_path: Path) -> None:
    """Runs of two lengths in one group, a run missing from the time courses, and a
    diverged run's NaN tail: S1 and S2 average where runs reach."""
    short = make_summary(7, (("u", "gd", "update", 6),), steps=10_000)
    long = make_summary(8, (("v", "gd", "update", 6),), steps=1_000_000)
    frame = pd.concat([short, long], ignore_index=True).assign(status="complete")
    tc = make_timecourses(frame).isel(run=slice(1, None))
    shown = texts(plot_s1(frame, tc))
    assert "(n = 11)" in shown and "1 without time courses" in shown
    assert_written(draw_s2(frame, tc, tmp_path), "s2")
