"""The engine contract of the shared runner (driftlab.runner.loop)."""

from __future__ import annotations

from conftest import TINY
from driftlab.config import merge, parse_config
from driftlab.hebbian.config import parse_hebbian_config
from driftlab.hebbian.run import HebbianEngine
from driftlab.run import FeedforwardEngine
from driftlab.runner.loop import float_context


def _ff_key(**changes: object) -> object:
    cfg = parse_config(merge(TINY, changes))
    with float_context(cfg.model.dtype):
        return FeedforwardEngine(cfg).compile_key


def test_compile_key_groups_runs_that_share_a_compiled_chunk() -> None:
    """Noise levels, learning rates and seeds are traced values: runs that differ only
    in them share one program (a sweep groups them); a static choice, a shape or the
    float type gives another key."""
    base = _ff_key()
    assert _ff_key(noise={"update": {"sd": 0.05}}, train={"lr": 0.05}, seed=3) == base
    assert _ff_key(model={"activation": "tanh"}) != base
    assert _ff_key(model={"hidden": 25}) != base
    assert _ff_key(model={"dtype": "float64"}) != base
    assert _ff_key(noise={"update": {"sd": 0.0}}) != base  # no update noise: another step

    small = {"network": {"neurons": 8}, "inputs": {"ring": {"n_inputs": 16}}}

    def hebb_key(**changes: object) -> object:
        return HebbianEngine(parse_hebbian_config(merge(small, changes))).compile_key

    assert hebb_key(train={"eta": 0.01, "sigma": 0.01}, seed=2) == hebb_key()
    assert hebb_key(dynamics={"max_iter": 50}) != hebb_key()
    assert hebb_key(network={"neurons": 9}) != hebb_key()
