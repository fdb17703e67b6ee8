"""Static loops (the accelerator path): a chunk as fixed-length scans gives the numbers
of the one dynamic loop, for a run and for a pack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftlab.batching import LARGEST_PIECE, default_loop, static_pieces
from driftlab.config import RunConfig, parse_config
from driftlab.run import execute
from driftlab.storage import read_npz
from driftlab.sweep.pack import execute_pack


@pytest.mark.parametrize("n", [1, 2, 3, 255, 8191, 8192, 10_000, 3 * LARGEST_PIECE + 5])
def test_static_pieces_add_up_to_the_chunk(n: int) -> None:
    pieces = static_pieces(n)
    assert sum(pieces) == n
    assert all(p & (p - 1) == 0 and p <= LARGEST_PIECE for p in pieces)  # powers of two
    assert len(pieces) <= n // LARGEST_PIECE + 13


def test_default_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_loop() == "dynamic"  # the test machines are CPUs
    monkeypatch.setenv("DRIFTLAB_LOOP", "static")
    assert default_loop() == "static"


TINY = {
    "model": {"hidden": 32},
    "task": {"corridor": {"n_samples": 30}},
    "train": {"steps": 1_300},
    "noise": {"update": {"sd": 0.02}, "label": {"sd": 0.02}},
    "record": {"every": 500, "chunk": 500},
}


def _state(out: Path) -> dict[str, np.ndarray]:
    arrays = read_npz(out / "checkpoint.npz")
    return {k: v for k, v in arrays.items() if k.startswith("state/")}


def test_a_static_run_equals_the_dynamic_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = parse_config(TINY)
    execute(cfg, tmp_path / "dynamic", progress=False, engine="jax")
    monkeypatch.setenv("DRIFTLAB_LOOP", "static")
    execute(cfg, tmp_path / "static", progress=False, engine="jax")
    a, b = _state(tmp_path / "dynamic"), _state(tmp_path / "static")
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_static_pack_equals_the_dynamic_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def abstract(seed: int, d_in: int, d_out: int, samples: int) -> RunConfig:
        task = {"name": "random", "abstract": {"d_in": d_in, "d_out": d_out, "n_samples": samples}}
        return parse_config(
            {**TINY, "seed": seed, "task": task, "record": {"every": 500, "hidden": False}}
        )

    cfgs = [abstract(1, 7, 2, 13), abstract(2, 13, 7, 5)]
    execute_pack(cfgs, ["a", "b"], tmp_path / "dynamic")
    monkeypatch.setenv("DRIFTLAB_LOOP", "static")
    execute_pack(cfgs, ["a", "b"], tmp_path / "static")
    a, b = _state(tmp_path / "dynamic"), _state(tmp_path / "static")
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
