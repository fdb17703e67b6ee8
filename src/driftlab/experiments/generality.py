"""The generality experiment (Figure 3A's claim, Table 1): every noisy rule sparsifies.

One small task (random mapping, d_in 20, d_out 5, 5 samples; Figure 3B's shapes),
with the authors' data scaling (X and Y min-max scaled to about [-1, 1],
``task.abstract.scale=authors``; :mod:`driftlab.tasks.abstract`), a network of
100 hidden units ("rich"), and one run per learning rule and noise:

=================  ===========================================================
condition          rule and noise
=================  ===========================================================
gd (no noise)      full-batch GD, lr 0.1: stops changing after convergence
gd + update noise  GD, lr 0.1, gradient noise sd 0.03
gd + label noise   GD, lr 0.1, uniform label noise of width 1 (the authors' form)
adam               Adam, lr 1e-3, no added noise
rmsprop            RMSprop, lr 1e-3, no added noise
sed                stochastic error descent, lr 0.1, perturbation sigma 0.1,
                   run for ``long_steps`` (default 10^7, the paper's length)
=================  ===========================================================

SED's learning rate, measured on this task and scaling: the authors' lr 0.9-1.0
diverged within 10^5 steps (4 of 4 networks each), lr 0.4-0.8 within 10^6
(4 of 4 each) and lr 0.3 in 2 of 4; over 10^7 steps (seeds 0-5) lr 0.2 diverged
in 5 of 6 networks and lr 0.15 in 2 of 6 (between 1.7 x 10^6 and 6 x 10^6
steps), while lr 0.1 and 0.05 kept all 6. lr 0.1 is the largest stable rate
found, so it is the one used. The instability is slow: SED's perturbations make
the read-out weights wander (their squared norm grew from about 10 at the start
to 200-1200 after 10^7 steps at lr 0.1) until the step is too large for the
loss's curvature. SED learns about a thousand times slower than GD (its mean
step is lr s^2 times the gradient, s = 0.01 for m): its loss stays near log10 -2
and its code sparsifies only after about 10^6 steps, so it gets ``long_steps``
while the other conditions get ``steps``.

Each condition is an ordinary run directory under the experiment's folder, so
the experiment resumes like any run. Ratzon, Derdikman & Barak (2023), Figure 3A
and "Generality of the phenomenon": update noise, Adam, RMSprop and SED sparsify
the hidden code; label noise lowers the active fraction of (sample, unit) pairs
more than the number of active units; noise-free GD is flat after convergence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from driftlab.config import RunConfig, resolve


@dataclass(frozen=True)
class Condition:
    name: str
    label: str
    overrides: tuple[str, ...]
    long: bool = False  # a slow learner: runs for ``long_steps``, not ``steps``


TASK = (
    "task.name=random",
    "task.abstract.d_in=20",
    "task.abstract.d_out=5",
    "task.abstract.n_samples=5",
    "task.abstract.scale=authors",
    "model.hidden=100",
    "model.init=rich",
    "noise.update.sd=0",
    "record.hidden=false",
)

CONDITIONS: tuple[Condition, ...] = (
    Condition("gd_clean", "GD, no noise", ("train.rule=gd", "train.lr=0.1")),
    Condition(
        "gd_update",
        "GD + update noise (sd 0.03)",
        ("train.rule=gd", "train.lr=0.1", "noise.update.sd=0.03"),
    ),
    Condition(
        "gd_label",
        "GD + label noise (uniform, width 1)",
        ("train.rule=gd", "train.lr=0.1", "noise.label.kind=uniform", "noise.label.width=1.0"),
    ),
    Condition("adam", "Adam (lr 1e-3), no noise", ("train.rule=adam", "train.lr=0.001")),
    Condition("rmsprop", "RMSprop (lr 1e-3), no noise", ("train.rule=rmsprop", "train.lr=0.001")),
    Condition("sed", "SED (lr 0.1), no noise", ("train.rule=sed", "train.lr=0.1"), long=True),
)


def condition_config(condition: Condition, *, steps: int, seeds: int) -> RunConfig:
    """The run config of one condition."""
    seed_list = "[" + ",".join(str(s) for s in range(seeds)) + "]"
    return resolve(
        preset="quick",
        overrides=[
            *TASK,
            *condition.overrides,
            f"train.steps={steps}",
            f"seed={seed_list}",
            "record.log_points=40",
            f"record.chunk={min(100_000, steps)}",
        ],
    )


def run_generality(
    out_dir: str | Path,
    *,
    steps: int = 300_000,
    long_steps: int = 10_000_000,
    seeds: int = 3,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Run every condition (resuming finished or interrupted ones), then draw the figure.

    ``steps`` per run, ``long_steps`` for the slow learners (SED); ``seeds``
    networks per condition, trained together. Returns the figure's paths (PNG, PDF).
    """
    from driftlab.plots.generality import write_generality
    from driftlab.run import execute

    out = Path(out_dir)
    for i, condition in enumerate(CONDITIONS):
        log(f"[{i + 1}/{len(CONDITIONS)}] {condition.label}")
        execute(
            condition_config(condition, steps=long_steps if condition.long else steps, seeds=seeds),
            out / condition.name,
            progress=progress,
        )
    return write_generality(
        out,
        [(c.name, c.label) for c in CONDITIONS],
        title=(
            "Generality: random task (d_in 20, d_out 5, 5 samples, scaled to [-1, 1]),"
            " H = 100 (rich)"
        ),
    )
