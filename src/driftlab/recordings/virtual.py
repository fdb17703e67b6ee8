"""A virtual experiment on a driftlab corridor run: its record points as recording sessions.

The hidden units are the cells, each record point with hidden activity
(``record.hidden``) a session, so that a simulation is measured by exactly the code
that measures a recording (:mod:`driftlab.metrics.sessions`). In each session the
animal runs the task's trajectory ``laps`` times at ``fps`` frames a second; the
position is the corridor's y coordinate signed by running direction (as Figure 2
maps it). What a session records of a unit with hidden activity ``h`` at a sample:

``"none"``     h itself;
``"poisson"``  events ~ Poisson(g h / fps), the gain g making the mean nonzero
               activity of the first session ``rate`` events a second;
``"calcium"``  those events filtered by an exponential indicator decay
               (``tau`` seconds) plus Gaussian noise of sd ``calcium_sd``.

``cells`` units are sampled once (the same cells in every session, as in an
imaging field of view); ``sessions`` record points are taken evenly from those
after step 0; a session's day is its step divided by ``steps_per_day`` (default:
the record's index, 0, 1, 2, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.signal import lfilter

from driftlab.metrics.ratemaps import signed_position
from driftlab.metrics.sessions import Session
from driftlab.recordings.nwb import RecordingError

Observation = Literal["none", "poisson", "calcium"]
OBSERVATIONS: tuple[str, ...] = ("none", "poisson", "calcium")


@dataclass(frozen=True)
class Virtual:
    """How the virtual experiment observes the run (see the module docstring)."""

    network: int = 0
    cells: int | None = None
    sessions: int | None = None
    laps: int = 20
    fps: float = 20.0
    observation: Observation = "poisson"
    rate: float = 2.0
    tau: float = 0.5
    calcium_sd: float = 0.1
    steps_per_day: float | None = None
    seed: int = 0


def virtual_sessions(run_dir: str | Path, how: Virtual | None = None) -> list[Session]:
    """The sessions of the virtual experiment on ``run_dir`` (a driftlab corridor run)."""
    from driftlab.rundir import load_run

    how = how or Virtual()
    try:
        run = load_run(run_dir)
    except FileNotFoundError as err:
        raise RecordingError(str(err)) from None
    if "activity" not in run:
        raise RecordingError(f"{run_dir}: no activity.nc (the run needs record.hidden: true)")
    data = run["data"]
    if "positions" not in data:
        raise RecordingError(f"{run_dir}: the task has no positions (a corridor run is needed)")
    hidden = run["activity"]["hidden"]
    n_networks = hidden.sizes["network"]
    if not 0 <= how.network < n_networks:
        raise RecordingError(f"--network: expected 0..{n_networks - 1}, got {how.network}")
    steps = hidden["step"].values
    later = np.flatnonzero(steps > 0)
    if later.size == 0:
        raise RecordingError(f"{run_dir}: no record of hidden activity after step 0")
    n = later.size if how.sessions is None else min(how.sessions, later.size)
    picked = later[np.unique(np.linspace(0, later.size - 1, n).round().astype(int))]
    h_all = hidden.values[:, how.network].astype(np.float64)  # (records, samples, units)
    units = h_all.shape[2]
    rng = np.random.default_rng(how.seed)
    cells = np.sort(rng.choice(units, size=min(how.cells or units, units), replace=False))
    position = signed_position(data["positions"].values[how.network, :, 1])
    laps_pos = np.tile(position, how.laps)
    time = np.arange(laps_pos.size) / how.fps
    first = h_all[picked[0]][:, cells]
    gain = how.rate / float(np.mean(first[first > 0])) if np.any(first > 0) else 1.0
    decay = np.exp(-1.0 / (how.tau * how.fps))
    sessions = []
    for k, record in enumerate(picked):
        h = np.tile(h_all[record][:, cells], (how.laps, 1))  # (laps * samples, cells)
        if how.observation == "none":
            act = h
        else:
            act = rng.poisson(gain * h / how.fps).astype(np.float64)
            if how.observation == "calcium":
                act = lfilter([1.0], [1.0, -decay], act, axis=0)  # c_t = e_t + decay c_{t-1}
                act += rng.normal(0.0, how.calcium_sd, act.shape)
                act = np.maximum(act, 0.0)
        day = float(k) if how.steps_per_day is None else float(steps[record] / how.steps_per_day)
        sessions.append(Session(act, laps_pos, time, cells, day, f"step {int(steps[record]):,}"))
    return sessions
