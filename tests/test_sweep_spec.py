"""Sweep specs: deterministic expansion, branch proportions, ranges, grids, bad specs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from driftlab.cli import main
from driftlab.config import ConfigError, config_digest
from driftlab.sweep.spec import (
    ID_DIGITS,
    SWEEP_PRESETS,
    branch_counts,
    expand,
    load_spec,
    parse_spec,
)

BASE: dict[str, Any] = {
    "task": {"name": "random", "abstract": {"d_in": 20, "d_out": 5, "n_samples": 5}},
    "model": {"hidden": 100, "init": "rich"},
    "train": {"steps": 1000},
}

TABLE1_LIKE: dict[str, Any] = {
    "name": "demo",
    "seed": 3,
    "count": 1000,
    "base": BASE,
    "vary": {
        "task.name": {"choice": ["random", "smoothed", "predictive"]},
        "task.abstract.d_in": {"randint": [1, 19]},
    },
    "branches": {
        "gd_update": {
            "weight": 9,
            "set": {"train.rule": "gd", "train.lr": 0.1},
            "vary": {"noise.update.sd": {"loguniform": [0.01, 0.1]}},
        },
        "gd_label": {
            "weight": 9,
            "set": {"train.rule": "gd", "noise.label.kind": "uniform"},
            "vary": {"noise.label.width": {"loguniform": [0.1, 1.0]}},
        },
        "adam": {"weight": 1, "set": {"train.rule": "adam", "train.lr": 0.001}},
        "sed": {"weight": 1, "set": {"train.rule": "sed"}},
    },
}


def test_expansion_is_deterministic_and_ids_are_config_hashes() -> None:
    a, b = expand(parse_spec(TABLE1_LIKE)), expand(parse_spec(TABLE1_LIKE))
    assert [r.id for r in a] == [r.id for r in b]
    assert len({r.id for r in a}) == len(a) == 1000
    for run in a[:50]:
        assert run.id == config_digest(run.config)[:ID_DIGITS]
    # each run's seed is its index in its branch; the values drawn are the config's
    assert [r.config.seed[0] for r in a] == [r.index for r in a]
    run = a[0]
    assert run.config.noise.update.sd == (run.values["noise.update.sd"],)
    assert run.config.task.name == run.values["task.name"]


def test_a_runs_draws_depend_on_its_branch_and_index_only() -> None:
    """Adding a branch or changing the count leaves every other run's values alone;
    another sweep seed changes them."""
    runs = {(r.branch, r.index): r.values for r in expand(parse_spec(TABLE1_LIKE))}
    more = {**TABLE1_LIKE, "count": 1200}
    more["branches"] = {**TABLE1_LIKE["branches"], "rmsprop": {"set": {"train.rule": "rmsprop"}}}
    for run in expand(parse_spec(more)):
        if (run.branch, run.index) in runs and run.branch != "rmsprop":
            drawn = {k: v for k, v in run.values.items() if k != "seed"}
            assert drawn == {k: v for k, v in runs[run.branch, run.index].items() if k != "seed"}
    other = expand(parse_spec({**TABLE1_LIKE, "seed": 4}))
    assert other[0].values["noise.update.sd"] != runs["gd_update", 0]["noise.update.sd"]


def test_branch_proportions_follow_the_weights_exactly() -> None:
    assert branch_counts(parse_spec(TABLE1_LIKE)) == [450, 450, 50, 50]
    three = {"count": 10, "base": BASE, "branches": {"a": {}, "b": {}, "c": {}}}
    assert branch_counts(parse_spec(three)) == [4, 3, 3]  # the remainder to the first


def test_draws_stay_in_their_ranges_with_the_right_distribution() -> None:
    runs = expand(parse_spec(TABLE1_LIKE))
    update = [r.values["noise.update.sd"] for r in runs if r.branch == "gd_update"]
    assert min(update) >= 0.01 and max(update) <= 0.1
    # log-uniform: half of the draws below the geometric mean of the ends; with 450
    # draws the binomial sd of the fraction is 0.024, and 4 sd bound it
    below = sum(v < math.sqrt(0.01 * 0.1) for v in update) / len(update)
    assert abs(below - 0.5) < 4 * math.sqrt(0.25 / len(update))
    d_in = [r.values["task.abstract.d_in"] for r in runs]
    assert set(d_in) == set(range(1, 20))  # both ends included, 1,000 draws of 19 values
    tasks = [r.values["task.name"] for r in runs]
    for name in ("random", "smoothed", "predictive"):
        assert abs(tasks.count(name) / 1000 - 1 / 3) < 4 * math.sqrt(2 / 9 / 1000)


def test_a_grid_without_a_count_runs_every_point_once() -> None:
    spec = {
        "base": BASE,
        "vary": {
            "task.abstract.d_in": {"grid": [20, 25, 30]},
            "model.init": {"grid": ["rich", "lazy"]},
            "noise.update.sd": {"logspace": [0.001, 0.1, 3]},
        },
    }
    runs = expand(parse_spec(spec))
    assert len(runs) == 18
    sds = sorted({r.values["noise.update.sd"] for r in runs})
    assert sds == pytest.approx([0.001, 0.01, 0.1])
    points = {(r.values["task.abstract.d_in"], r.values["model.init"]) for r in runs}
    assert len(points) == 6


def test_a_config_listed_twice_runs_once() -> None:
    spec = {"base": {**BASE, "seed": 7}, "vary": {"model.init": {"grid": ["rich", "rich"]}}}
    assert len(expand(parse_spec(spec))) == 1


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "unknown key": ({"bases": {}}, "unknown key 'bases'"),
    "unknown variation": (
        {"vary": {"train.lr": {"normal": [0, 1]}}},
        "field 'train.lr': unknown variation 'normal'",
    ),
    "range reversed": (
        {"vary": {"train.lr": {"uniform": [0.2, 0.1]}}},
        "uniform: expected lo <= hi",
    ),
    "log of zero": (
        {"vary": {"noise.update.sd": {"loguniform": [0, 0.1]}}},
        "loguniform: expected lo > 0",
    ),
    "not a config field": (
        {"vary": {"train.rat": {"choice": [1]}}},
        "config field 'train.rat': unknown",
    ),
    "a value a field cannot take": (
        {"vary": {"task.name": {"choice": ["random", "bogus"]}}},
        "config field 'task.name': got 'bogus'",
    ),
    "a range end out of bounds": (
        {"vary": {"train.lr": {"uniform": [0.1, 1e9]}}},
        "config field 'train.lr': must be <=",
    ),
    "set and varied": (
        {"branches": {"a": {"set": {"train.lr": 0.1}, "vary": {"train.lr": {"grid": [0.1]}}}}},
        "field 'train.lr' is both set and varied",
    ),
    "count zero": ({"count": 0}, "count: must be in [1,"),
    "weight negative": ({"branches": {"a": {"weight": -1}}}, "weight: must be > 0"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_specs_are_one_line(case: str) -> None:
    raw, expected = BAD[case]
    with pytest.raises(ConfigError) as err:
        parse_spec({"base": BASE, **raw})
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_the_plan_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    spec = tmp_path / "demo.yaml"
    spec.write_text(yaml.safe_dump({**TABLE1_LIKE, "count": 10}, sort_keys=False))
    assert main(["plan", str(spec)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("sweep 'demo': 10 runs (gd_update 5, gd_label 5), 10,000 network-steps")
    ids = [r.id for r in expand(load_spec(spec))]
    assert [line.split()[0] for line in out[1:]] == ids
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"vary": {"train.rat": {"choice": [1]}}}))
    assert main(["plan", str(bad)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"driftlab: error: sweep spec '{bad}' branch 'all': config field 'train.rat': "
        "unknown; allowed: rule, lr, steps, batch_size, sed_sigma, divergence, "
        "divergence_window"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "demo.yaml"]


def test_the_readme_spec_plans_as_the_readme_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Sweeps: specs and plans", 1)[1]
    spec_text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = section.split("$ driftlab plan demo.yaml\n", 1)[1].split("...\n```", 1)[0]
    spec = tmp_path / "demo.yaml"
    spec.write_text(spec_text)
    assert main(["plan", str(spec)]) == 0
    printed = capsys.readouterr().out.splitlines()
    expected = shown.strip().splitlines()
    assert printed[: len(expected)] == expected


def test_the_paper_presets() -> None:
    """table1: about 1,100 runs of 10^7 steps in the authors' proportions (342:353:27:
    12:49) plus a small noise-free GD control; noise_scan: 178 runs log-spaced from
    0.001 to 0.1; update_vs_label: the full grid (270 shapes) under each noise."""
    table1 = expand(load_spec("table1"))
    counts = {b: sum(r.branch == b for r in table1) for b in {r.branch for r in table1}}
    assert counts == {
        "gd_update": 471,
        "gd_label": 486,
        "adam": 37,
        "adam_label": 17,
        "sed": 67,
        "gd_control": 22,
    }
    assert {r.config.train.steps for r in table1} == {10_000_000}
    control = [r for r in table1 if r.branch == "gd_control"]
    assert all(r.config.noise.update.sd == (0.0,) for r in control)
    assert all(r.config.noise.label.width == (0.0,) for r in control)
    scan = expand(load_spec("noise_scan"))
    assert len(scan) == 178
    sds = sorted(r.config.noise.update.sd[0] for r in scan)
    assert sds == pytest.approx(list(np.logspace(-3, -1, 178)))
    pairs = expand(load_spec("update_vs_label"))
    assert len(pairs) == 540 and {r.config.train.steps for r in pairs} == {1_000_000}


@pytest.mark.parametrize("name", SWEEP_PRESETS)
def test_a_preset_shrinks_for_a_laptop(name: str) -> None:
    runs = expand(load_spec(name, steps=2000, count=12))
    assert len(runs) == 12 and {r.config.train.steps for r in runs} == {2000}


def test_a_shrunken_grid_pairs_the_branches() -> None:
    """update_vs_label shrunk to 10 runs: the same 5 shapes and seeds under each noise."""
    runs = expand(load_spec("update_vs_label", count=10))
    shapes = {}
    for run in runs:
        shape = {k: v for k, v in run.values.items()}
        shapes.setdefault(run.branch, []).append(shape)
    assert shapes["update"] == shapes["label"]
    assert len({tuple(sorted(s.items())) for s in shapes["update"]}) == 5


def test_a_branch_setting_a_shared_varied_field_replaces_its_variation() -> None:
    spec = {
        "count": 20,
        "base": BASE,
        "vary": {"noise.update.sd": {"loguniform": [0.01, 0.1]}},
        "branches": {"noisy": {}, "control": {"set": {"noise.update.sd": 0.0}}},
    }
    runs = expand(parse_spec(spec))
    control = [r for r in runs if r.branch == "control"]
    assert len(control) == 10 and all(r.config.noise.update.sd == (0.0,) for r in control)
    assert all(0.01 <= r.config.noise.update.sd[0] <= 0.1 for r in runs if r.branch == "noisy")


def test_a_field_that_is_not_a_name_is_one_line() -> None:
    with pytest.raises(ConfigError, match="field 1: expected a dotted field name"):
        parse_spec({"base": BASE, "vary": {1: {"grid": [1]}}})
