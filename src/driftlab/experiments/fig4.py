"""Figure 4: noisy learning flattens the loss landscape.

Runs: ``driftlab run --preset fig4_update`` (update noise, dense Hessian spectra
at 12 log-spaced times) and ``--preset fig4_label`` (label noise, for panel D).
Draws panel A by simulating noisy GD on the valley (a few seconds,
:func:`driftlab.experiments.landscapes.run_valley`) and panels B-D from the
stored runs (:mod:`driftlab.plots.fig4`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

PRESETS: tuple[str, ...] = ("fig4_update", "fig4_label")


def draw(
    update_run: str | Path,
    out_dir: str | Path | None = None,
    *,
    label_run: str | Path | None = None,
    network: int = 0,
    times: tuple[int, int] | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Figure 4 as PNG and PDF in ``out_dir`` (default UPDATE_RUN/figures): A simulated
    into ``out_dir/valley``, B-C from ``update_run`` (Hessian records with dense
    spectra), D from ``label_run`` (default: ``update_run`` itself). ``times``: panel
    C's two Hessian record steps. ``log`` receives one-line messages for the user.
    Checks the runs before simulating anything (ValueError with a one-line reason).
    Returns the paths."""
    from driftlab.experiments.landscapes import run_valley
    from driftlab.plots.fig4 import fig4_data, write_fig4

    say = log or (lambda line: None)
    fig4_data(update_run, label_run, network=network, times=times)  # check inputs first
    if label_run is None:
        say(
            f"panel D shows the trace of {update_run} itself; pass --label-run with a "
            "label-noise run (e.g. driftlab run --preset fig4_label) for Figure 4D"
        )
    out = Path(out_dir) if out_dir is not None else Path(update_run) / "figures"
    say("simulating noisy GD on the valley of panel A ...")
    run_valley(out / "valley")
    return write_fig4(
        update_run,
        out,
        label_run=label_run,
        valley_dir=out / "valley",
        network=network,
        times=times,
    )


def run(out_dir: str | Path, *, overrides: Sequence[str] = (), progress: bool = True) -> list[Path]:
    """Train both presets (with ``--set``-style ``overrides``) into
    ``out_dir/fig4-update`` and ``out_dir/fig4-label`` (resumable; two to three
    minutes each on one core), then draw the figure into ``out_dir``. Returns its
    paths."""
    from driftlab.config import resolve
    from driftlab.run import execute

    out = Path(out_dir)
    dirs = {}
    for preset in PRESETS:
        dirs[preset] = out / preset.replace("_", "-")
        execute(resolve(preset=preset, overrides=overrides), dirs[preset], progress=progress)
    return draw(dirs["fig4_update"], out, label_run=dirs["fig4_label"])
