"""One config machinery for both models: the versioned config hash keeps every
existing run's name, and every allowed range of the tasks' fields is enforced."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from driftlab.config import (
    HASH_VERSION,
    ConfigError,
    canonical_dict,
    config_digest,
    config_hash,
    parse_config,
    resolve,
    to_dict,
)
from driftlab.hebbian.config import parse_hebbian_config, resolve_hebbian
from driftlab.tasks.abstract import AbstractParams
from driftlab.tasks.corridor import CorridorParams

# Computed before the config machinery was shared (driftlab 0.2): version 1 keeps them.
RECORDED = {
    "quick": "29f40dab",
    "fig2": "04c93e1f",
    "fig2_authors": "95412ad2",
    "fig4_update": "b7f1f42e",
    "fig4_label": "d8347d1b",
}
RECORDED_HEBBIAN = {"hebbian_ring": "02a19b23", "hebbian_place": "2e9f7981"}


def test_hash_version_is_1() -> None:
    assert HASH_VERSION == 1


@pytest.mark.parametrize(("preset", "name"), RECORDED.items())
def test_feedforward_presets_keep_their_names(preset: str, name: str) -> None:
    assert config_hash(resolve(preset=preset)) == name


@pytest.mark.parametrize(("preset", "name"), RECORDED_HEBBIAN.items())
def test_hebbian_presets_keep_their_names(preset: str, name: str) -> None:
    assert config_hash(resolve_hebbian(preset=preset)) == name


def test_hessian_on_keeps_its_name() -> None:
    cfg = resolve(preset="quick", overrides=["record.hessian.every=100"])
    assert config_hash(cfg) == "2e4a025a"


class _StopError(Exception):
    """Raised in place of training: the run's directory is all this test needs."""


def test_fig2_default_directory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import driftlab.run
    from driftlab.cli import main

    def stop(*args: Any, **kwargs: Any) -> None:
        raise _StopError(args[1] if len(args) > 1 else kwargs.get("out"))

    monkeypatch.setattr(driftlab.run, "execute", stop)
    with pytest.raises(_StopError) as stopped:
        main(["run", "--preset", "fig2", "--quiet", "--cpus", "all"])
    expected = Path("runs") / f"fig2-{RECORDED['fig2']}"
    assert Path(str(stopped.value)) == expected
    assert f"-> {expected}" in capsys.readouterr().err


def test_hash_is_the_start_of_the_digest() -> None:
    cfg = resolve(preset="quick")
    digest = config_digest(cfg)
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert config_hash(cfg) == digest[:8]


def _reversed(mapping: Any) -> Any:
    """The same mapping with every table's keys in the reverse order."""
    if isinstance(mapping, dict):
        return {key: _reversed(mapping[key]) for key in reversed(list(mapping))}
    return mapping


def test_digest_does_not_depend_on_field_order() -> None:
    raw = to_dict(resolve(preset="fig2"))
    raw["task"].pop("abstract")  # the corridor task's abstract section: its defaults
    backwards = _reversed(raw)
    assert list(backwards) != list(raw)
    assert config_digest(parse_config(backwards)) == config_digest(parse_config(raw))
    hebbian = to_dict(resolve_hebbian(preset="hebbian_place"))
    assert config_digest(parse_hebbian_config(_reversed(hebbian))) == config_digest(
        parse_hebbian_config(hebbian)
    )


@pytest.mark.parametrize(
    "override",
    ["train.lr=0.05", "seed=1", "task.corridor.L_vis=12", "noise.label.sd=0.1", "model.hidden=64"],
)
def test_a_changed_field_changes_the_hash(override: str) -> None:
    assert config_hash(resolve(preset="quick", overrides=[override])) != RECORDED["quick"]


def test_a_changed_hebbian_field_changes_the_hash() -> None:
    cfg = resolve_hebbian(preset="hebbian_ring", overrides=["train.eta=0.01"])
    assert config_hash(cfg) != RECORDED_HEBBIAN["hebbian_ring"]


def test_hessian_record_counts_only_while_on() -> None:
    off = resolve(preset="quick")
    assert "hessian" not in canonical_dict(off)["record"]
    assert "hessian" in to_dict(off)["record"]  # the run directory keeps it
    # a sub-field of the switched-off section does not rename the run
    for override in ("record.hessian.method=dense", "record.hessian.lanczos_steps=40"):
        assert config_hash(resolve(preset="quick", overrides=[override])) == config_hash(off)
    # switching it on does, and then its sub-fields count
    on = resolve(preset="quick", overrides=["record.hessian.log_points=20"])
    assert config_hash(on) != config_hash(off)
    denser = resolve(
        preset="quick", overrides=["record.hessian.log_points=20", "record.hessian.method=dense"]
    )
    assert config_hash(denser) != config_hash(on)


def test_canonical_dict_is_json() -> None:
    data = canonical_dict(resolve(preset="fig4_label"))
    assert json.loads(json.dumps(data)) == data
    with pytest.raises(TypeError):
        canonical_dict({"seed": 0})


def _just_outside(meta: dict[str, Any], kind: type) -> list[Any]:
    """Values the metadata forbids: at or below the bound, at or above the maximum."""
    bad: list[Any] = []
    if "min" in meta:
        lo = meta["min"]
        bad.append(lo if meta.get("strict") else (lo - 1 if kind is int else lo - 1e-9))
    if "max" in meta:
        hi = meta["max"]
        bad.append(hi if meta.get("strict_max") else (hi + 1 if kind is int else hi + 1e-9))
    if "choices" in meta:
        bad.append("no-such-choice")
    return bad


SECTIONS = [("corridor", CorridorParams), ("abstract", AbstractParams)]


def _task_name(section: str) -> str:
    return "corridor" if section == "corridor" else "random"


@pytest.mark.parametrize(("section", "cls"), SECTIONS)
def test_every_task_range_is_enforced(section: str, cls: type) -> None:
    checked = 0
    for f in dataclasses.fields(cls):
        meta = dict(f.metadata)
        if meta.get("internal"):
            continue
        kind = type(f.default)
        assert set(meta) <= {"min", "max", "strict", "strict_max", "choices"}, f.name
        assert meta, f"task.{section}.{f.name} has no allowed range"
        for value in _just_outside(meta, kind):
            override = f"task.{section}.{f.name}={value}"
            with pytest.raises(ConfigError, match=rf"^config field 'task\.{section}\.{f.name}'"):
                resolve(preset="quick", overrides=[f"task.name={_task_name(section)}", override])
            checked += 1
        # the default itself is allowed
        resolve(
            preset="quick",
            overrides=[f"task.name={_task_name(section)}", f"task.{section}.{f.name}={f.default}"],
        )
    assert checked >= len(dataclasses.fields(cls)) - 1


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("task.corridor.L_vis=1", "config field 'task.corridor.L_vis': must be >= 2, got 1"),
        ("task.corridor.V0=0", "config field 'task.corridor.V0': must be > 0.0, got 0.0"),
        (
            "task.corridor.theta_vis=2",
            f"config field 'task.corridor.theta_vis': must be <= {math.pi / 2}, got 2.0",
        ),
        (
            "task.corridor.buffer_y=0.5",
            "config field 'task.corridor.buffer_y': must be < 0.5, got 0.5",
        ),
        (
            "task.corridor.scale=x",
            "config field 'task.corridor.scale': got 'x'; allowed: minmax, none",
        ),
        ("task.abstract.d_in=0", "config field 'task.abstract.d_in': must be >= 1, got 0"),
        (
            "task.abstract.scale=minmax",
            "config field 'task.abstract.scale': got 'minmax'; allowed: authors, unit",
        ),
        (
            "task.abstract.kind=random",
            "config field 'task.abstract.kind': unknown; allowed: d_in, d_out, n_samples, ring, "
            "texture_sd, field_of_view, step_scale, scale",
        ),
    ],
)
def test_task_errors_are_unchanged(override: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(preset="quick", overrides=[override])
    assert str(err.value) == message


def test_internal_kind_is_not_stored() -> None:
    cfg = resolve(preset="quick", overrides=["task.name=predictive"])
    assert cfg.task.abstract.kind == "predictive"
    assert "kind" not in to_dict(cfg)["task"]["abstract"]
