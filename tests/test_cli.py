"""The command line as a user types it, in a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import TINY, run_cli


def test_run_tiny_yaml_config(tmp_path: Path) -> None:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    done = run_cli("run", str(config), "--out", str(tmp_path / "out"), "--quiet")
    assert done.returncode == 0, done.stderr
    assert "run directory:" in done.stdout
    assert "active units" in done.stdout
    assert (tmp_path / "out" / "timeseries.nc").is_file()
    assert (tmp_path / "out" / "activity.nc").is_file()
    # rerunning a finished run changes nothing and succeeds
    ckpt = tmp_path / "out" / "checkpoint.npz"
    before = (ckpt.read_bytes(), ckpt.stat().st_mtime_ns)
    again = run_cli("run", str(config), "--out", str(tmp_path / "out"), "--quiet", "--no-figures")
    assert again.returncode == 0, again.stderr
    assert (ckpt.read_bytes(), ckpt.stat().st_mtime_ns) == before
    # the same directory with another config is refused, naming the field
    other = run_cli("run", str(config), "--out", str(tmp_path / "out"), "--set", "train.steps=700")
    assert other.returncode == 2
    assert "train.steps" in other.stderr


def test_run_toml_config_and_overrides(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(
        "seed = [0, 1]\n[model]\nhidden = 16\n[task.corridor]\nn_samples = 30\n"
        "[train]\nsteps = 300\n[record]\nevery = 100\n"
    )
    done = run_cli(
        "run",
        str(config),
        "--set",
        "noise.update.sd=[0.0,0.02]",
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    summary = [line for line in done.stdout.splitlines() if line.startswith("  network ")]
    assert len(summary) == 4  # 2 seeds x 2 noise levels
    figures = [line for line in done.stdout.splitlines() if line.startswith("figure:")]
    assert len(figures) == 1  # network 0; the others on request
    assert "--network N" in done.stdout


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--set", "model.hiden=3"], "model.hiden"),
        (["--set", "train.steps=abc"], "train.steps"),
        (["--set", "noise.update.sd=-0.1"], "noise.update.sd"),
        (["--set", "model.activation=gelu"], "model.activation"),
        (["--set", "task.corridor.texture_mapping=square"], "task.corridor.texture_mapping"),
        (["--set", "noise.label.width=0.5"], "noise.label.width"),
        (["--set", "seed=[0, -1]"], "seed"),
        (["--set", "train.steps=3e9"], "train.steps"),
        (["--set", "task.corridor.L_x=0.01", "--set", "task.corridor.L_y=0.01"], "task.corridor"),
        (["--set", "nothing"], "--set"),
        (["--preset", "fig9"], "preset"),
        (["missing.yaml"], "missing.yaml"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(
    tmp_path: Path, args: list[str], field: str
) -> None:
    out = tmp_path / "never"
    done = run_cli("run", *args, "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("driftlab: error:")
    assert field in lines[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_exponent_notation_is_a_number() -> None:
    """YAML 1.1 reads 1e-2 as a string; the config accepts it as the number it is."""
    from driftlab.config import resolve

    cfg = resolve(preset="quick", overrides=["noise.update.sd=1e-2", "train.steps=1e4"])
    assert cfg.noise.update.sd == (0.01,)
    assert cfg.train.steps == 10_000


def test_bad_choice_lists_allowed_values(tmp_path: Path) -> None:
    done = run_cli("run", "--set", "model.init=medium", "--out", str(tmp_path / "x"))
    assert "allowed: rich, lazy" in done.stderr


def test_hebbian_command_and_fig3c(tmp_path: Path) -> None:
    """`driftlab hebbian` as a user types it: a short ring run, its summary and Figure 3C,
    then `driftlab figure fig3c` redraws it from the run directory."""
    out = tmp_path / "heb"
    done = run_cli(
        "hebbian", "--set", "train.steps=300", "--set", "inputs.ring.n_inputs=64",
        "--out", str(out), "--quiet",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "fraction active" in done.stdout
    assert (out / "timeseries.nc").is_file() and (out / "figures" / "fig3c.png").is_file()
    again = run_cli("figure", "fig3c", str(out), "--out", str(tmp_path / "f"))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "f" / "fig3c.png").read_bytes()[:4] == b"\x89PNG"


def test_hebbian_command_rejects_bad_input(tmp_path: Path) -> None:
    done = run_cli("hebbian", "--set", "train.sigma=-1", "--out", str(tmp_path / "h"))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "train.sigma" in lines[0]
    assert not (tmp_path / "h").exists()
    unknown = run_cli("hebbian", "--preset", "nope", "--out", str(tmp_path / "h"))
    assert unknown.returncode == 2 and "hebbian_ring" in unknown.stderr


def test_the_first_line_states_the_noise_in_effect_and_its_layer(tmp_path: Path) -> None:
    config = tmp_path / "label.yaml"
    noise = {"update": {"sd": 0.02}, "label": {"sd": 0.2}}
    config.write_text(yaml.safe_dump({**TINY, "noise": noise}))
    # a label-noise run from the quick preset keeps the preset's update noise: say so
    done = run_cli(
        "run", "--preset", "quick", "--set", "train.steps=30", "--set", "noise.label.sd=0.5",
        "--set", "record.every=30", "--quiet", "--no-figures", "--out", str(tmp_path / "a"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = done.stderr.splitlines()[0]
    assert "update noise (gradient form) sd 0.03 [preset quick]" in first
    assert "label noise (gaussian [default]) sd 0.5 [--set]" in first
    assert "input noise off" in first
    # the README's label-noise run: update noise turned off
    done = run_cli(
        "run", str(config), "--set", "train.steps=5", "--quiet", "--no-figures",
        "--out", str(tmp_path / "b"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = done.stderr.splitlines()[0]
    assert "update noise (gradient form [default]) sd 0.02 [file label.yaml]" in first
    assert "label noise (gaussian [default]) sd 0.2 [file label.yaml]" in first
    done = run_cli(
        "run", str(config), "--set", "noise.update.sd=0", "--set", "train.steps=5", "--quiet",
        "--no-figures", "--out", str(tmp_path / "c"),
    )  # fmt: skip
    assert done.stderr.splitlines()[0].startswith("driftlab: update noise off; label noise")
