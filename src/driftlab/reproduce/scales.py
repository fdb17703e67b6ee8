"""The sizes of ``driftlab reproduce``: ``smoke``, ``laptop`` and ``paper``.

One :class:`Scale` says, for every experiment the paper's figures need, how long
it trains and over how many networks or runs. ``paper`` is the paper's own
sizes (Figure 2 at 10^6 steps; Table 1, the noise scan and the Hessian sweep at
10^7 steps and their full counts); ``laptop`` the largest sizes that finish in
about an hour on a 2-core laptop while every qualitative claim can still show;
``smoke`` every code path at tiny sizes (a few minutes on one core; most claims
are then "not testable at this scale").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from driftlab.errors import ConfigError


@dataclass(frozen=True)
class Sized:
    """One experiment's size: training ``steps``; ``seeds`` networks (a run's batch
    or one run each); for a sweep, ``count`` runs (None: the spec's own count);
    ``overrides``: ``--set``-style fields on top of a run's preset, ``base``: {dotted
    field: value} merged into a sweep spec's base (smoke shrinks the networks with
    these)."""

    steps: int
    seeds: int = 1
    count: int | None = None
    overrides: tuple[str, ...] = ()
    base: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Scale:
    """Every experiment's size at one scale (see the module's docstring)."""

    name: str
    fig2: Sized
    fig4: Sized
    generality: Sized
    sed_steps: int  # SED learns ~1000x slower: it gets its own length
    hebbian: Sized
    sweeps: dict[str, Sized] = field(default_factory=dict)
    xy_trajectories: int = 20_000
    xy_steps: int = 4_000
    fig2_preset: str = "fig2"


SMOKE_NET = ("model.hidden=20",)
SMOKE_SWEEP = Sized(steps=1_000, count=4)

SCALES: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke",
        fig2=Sized(steps=2_000, seeds=2, overrides=("model.hidden=50", "record.log_points=12")),
        fig4=Sized(
            steps=1_000,
            seeds=2,
            overrides=(*SMOKE_NET, "record.log_points=8", "record.hessian.log_points=4"),
        ),
        generality=Sized(steps=1_000, seeds=2),
        sed_steps=1_000,
        hebbian=Sized(steps=300, seeds=2),
        sweeps={
            "table1": Sized(steps=1_000, count=6),
            "noise_scan": SMOKE_SWEEP,
            "update_vs_label": SMOKE_SWEEP,
            "hessians": Sized(steps=1_000, count=2, base=(("model.hidden", 20),)),
        },
        xy_trajectories=2_000,
        xy_steps=1_000,
    ),
    "laptop": Scale(
        name="laptop",
        fig2=Sized(steps=300_000, seeds=4),
        fig4=Sized(steps=200_000, seeds=3),
        generality=Sized(steps=300_000, seeds=3),
        sed_steps=300_000,
        hebbian=Sized(steps=20_000, seeds=3),
        sweeps={
            "table1": Sized(steps=2_000_000, count=110),
            "noise_scan": Sized(steps=1_000_000, count=60),
            "update_vs_label": Sized(steps=200_000, count=108),
            "hessians": Sized(steps=100_000, count=30),
        },
    ),
    "paper": Scale(
        name="paper",
        fig2=Sized(steps=1_000_000, seeds=3),
        fig4=Sized(steps=200_000, seeds=3),
        generality=Sized(steps=1_000_000, seeds=6),
        sed_steps=10_000_000,
        hebbian=Sized(steps=20_000, seeds=10),
        sweeps={
            "table1": Sized(steps=10_000_000),
            "noise_scan": Sized(steps=10_000_000),
            "update_vs_label": Sized(steps=1_000_000),
            "hessians": Sized(steps=1_000_000),
        },
    ),
}
SCALE_NAMES: tuple[str, ...] = tuple(SCALES)


def get_scale(name: str) -> Scale:
    """The scale called ``name``; :class:`ConfigError` naming the allowed ones."""
    if name not in SCALES:
        raise ConfigError(f"--scale: {name!r} is not one of {', '.join(SCALE_NAMES)}")
    return SCALES[name]
