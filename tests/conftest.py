"""Shared fixtures: small configs and a helper to run the CLI as a user types it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib
import pytest

from driftlab.config import RunConfig, parse_config

matplotlib.use("Agg")  # tests draw figures to files; the library never picks a backend

TINY: dict[str, Any] = {
    "seed": 0,
    "model": {"hidden": 24},
    "task": {"corridor": {"n_samples": 40}},
    "train": {"steps": 600, "lr": 0.1},
    "noise": {"update": {"sd": 0.02}},
    "record": {"every": 200, "chunk": 100},
}


@pytest.fixture(autouse=True)
def checkpoint_every_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests interrupt runs at chosen chunks and expect the checkpoint of that chunk:
    checkpoint every chunk (a user's default is every 10 s; tests/test_reliability.py
    tests that default explicitly). Inherited by the CLI subprocesses of the tests."""
    monkeypatch.setenv("DRIFTLAB_CHECKPOINT_SECONDS", "0")


@pytest.fixture
def tiny_raw() -> dict[str, Any]:
    import copy

    return copy.deepcopy(TINY)


@pytest.fixture
def tiny_cfg(tiny_raw: dict[str, Any]) -> RunConfig:
    return parse_config(tiny_raw)


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run ``driftlab ARGS`` in a subprocess, as a user would."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "driftlab.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
