"""Every task of Table 1 can be chosen from a config and trains in the engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from driftlab.config import ConfigError, resolve
from driftlab.run import execute, load_run
from driftlab.tasks import ABSTRACT_KINDS


@pytest.mark.parametrize("kind", ABSTRACT_KINDS)
def test_abstract_task_runs(kind: str, tmp_path: Path) -> None:
    cfg = resolve(
        preset="quick",
        overrides=[
            f"task.name={kind}",
            "task.abstract.d_in=7",
            "task.abstract.d_out=3",
            "task.abstract.n_samples=12",
            "model.hidden=16",
            "train.steps=300",
            "record.every=100",
        ],
    )
    assert cfg.task.abstract.kind == kind
    execute(cfg, tmp_path / "run", progress=False)
    ds = load_run(tmp_path / "run")
    d_out = 3 if kind in ("random", "smoothed") else 7
    assert ds["data"]["inputs"].shape == (1, 12, 7)
    assert ds["data"]["targets"].shape == (1, 12, d_out)
    ts = ds["timeseries"]
    assert np.all(np.isfinite(ts.loss.values))
    assert float(ts.loss[-1, 0]) < float(ts.loss[0, 0])  # it learns


def test_abstract_kind_is_set_by_task_name_only() -> None:
    with pytest.raises(ConfigError, match=r"task\.abstract\.kind"):
        resolve(preset="quick", overrides=["task.name=random", "task.abstract.kind=smoothed"])
    with pytest.raises(ConfigError, match=r"task\.name"):
        resolve(preset="quick", overrides=["task.name=spiral"])
    with pytest.raises(ConfigError, match=r"task\.abstract\.d_in"):
        resolve(preset="quick", overrides=["task.name=random", "task.abstract.d_in=0"])
