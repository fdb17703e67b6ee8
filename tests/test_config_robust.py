"""No config input ends in a traceback: every bad file, key, value or override is one
:class:`ConfigError` line naming the field or the file, and the CLI exits 2 having
written nothing. One test per kind of hostile input seen in the wild, then property
tests (hypothesis) over configs near the real schema, for both models."""

from __future__ import annotations

import dataclasses
import math
import random
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftlab.cli import main
from driftlab.config import (
    MAX_DEPTH,
    MAX_NETWORKS,
    ConfigError,
    CorridorParams,
    RunConfig,
    check_resources,
    clip,
    config_hash,
    describe_noise,
    estimate_resources,
    parse_config,
    resolve,
    show,
)
from driftlab.hebbian.config import (
    HebbianConfig,
    estimate_hebbian_resources,
    parse_hebbian_config,
    resolve_hebbian,
)

MAX_MESSAGE = 300
GiB = 2**30


def one_line(err: ConfigError, *names: str) -> str:
    """The message of ``err``, checked: one printable line of at most MAX_MESSAGE
    characters that names each of ``names``."""
    message = str(err)
    assert message.isprintable(), message  # no newline, no control character
    assert len(message) <= MAX_MESSAGE, message
    for name in names:
        assert name in message, (name, message)
    return message


def refused(call: Callable[[], object], *names: str) -> str:
    """The one-line message of the ConfigError ``call()`` raises."""
    with pytest.raises(ConfigError) as err:
        call()
    return one_line(err.value, *names)


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


def cli(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], *, model: str = "run"
) -> tuple[int, list[str]]:
    """``driftlab MODEL ARGS --check`` into tmp_path/o: its exit code and stderr lines,
    checked to have written nothing."""
    before = files_under(tmp_path)
    capsys.readouterr()
    rc = main([model, *args, "--check", "--out", str(tmp_path / "o"), "--cpus", "all"])
    err = capsys.readouterr().err.splitlines()
    assert files_under(tmp_path) == before
    return rc, err


def cli_refuses(
    args: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *names: str,
    model: str = "run",
) -> None:
    rc, err = cli(args, tmp_path, capsys, model=model)
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("driftlab: error: "), err
    assert len(err[0]) <= MAX_MESSAGE + len("driftlab: error: ")
    for name in names:
        assert name in err[0]


def nested(depth: int, opening: str = "[", closing: str = "]") -> str:
    return opening * depth + closing * depth


# --------------------------------------------------------------------------- 1. encodings

NOT_UTF8 = {
    "random": random.Random(0).randbytes(300),
    "utf16": "seed: 1\ntrain:\n  steps: 5\n".encode("utf-16"),
    "latin1": "task:\n  name: café\n".encode("latin-1"),
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
}


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
@pytest.mark.parametrize("name", NOT_UTF8)
def test_a_file_that_is_not_utf8(tmp_path: Path, name: str, suffix: str) -> None:
    data = NOT_UTF8[name]
    path = write(tmp_path / f"b{suffix}", data)
    offset = UnicodeDecodeError.__new__(UnicodeDecodeError)  # for mypy: replaced below
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        offset = err
    message = refused(lambda: resolve(path), f"b{suffix}", "not UTF-8 text")
    assert f"byte 0x{data[offset.start]:02x} at offset {offset.start:,}" in message
    refused(lambda: resolve_hebbian(path), f"b{suffix}", "not UTF-8 text")


@pytest.mark.parametrize("name", ["random", "png"])
def test_a_file_that_is_not_utf8_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = write(tmp_path / "b.yaml", NOT_UTF8[name])
    cli_refuses([str(path)], tmp_path, capsys, "b.yaml", "not UTF-8")
    cli_refuses([str(path)], tmp_path, capsys, "b.yaml", model="hebbian")


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "\ufeffseed: 3\n".encode())
    assert resolve(path).seed == (3,)


@pytest.mark.parametrize(
    ("name", "make", "words"),
    [
        ("missing.yaml", None, "not found"),
        ("folder.yaml", "dir", "not a regular file"),
        ("huge.yaml", "huge", "bytes, more than"),
        ("nul.yaml", "nul", "unacceptable character"),
        ("two.yaml", "docs", "single document"),
        ("list.yaml", "list", "expected a mapping of fields at the top"),
    ],
)
def test_a_file_that_cannot_be_read(
    tmp_path: Path, name: str, make: str | None, words: str
) -> None:
    path = tmp_path / name
    if make == "dir":
        path.mkdir()
    elif make == "huge":
        write(path, b"# " + b"x" * (11 * 2**20))
    elif make == "nul":
        write(path, b"seed: 1\x00\n")
    elif make == "docs":
        write(path, "seed: 1\n---\nseed: 2\n")
    elif make == "list":
        write(path, "- 1\n- 2\n")
    refused(lambda: resolve(path), name, words)


# --------------------------------------------------------------------------- 2. key types


@pytest.mark.parametrize(
    ("text", "key", "where"),
    [
        ("1: a\nfoo: b\n", "key 1", "at the top"),
        ("~: 1\nseed: 0\n", "key None", "at the top"),
        ("true: 1\nseed: 0\n", "key True", "at the top"),
        ("seed: 0\n2001-01-01: x\n", "key datetime.date(2001, 1, 1)", "at the top"),
        ("task:\n  corridor:\n    L_x: 1\n    1.5: 2\n", "key 1.5", "in 'task.corridor'"),
        ("noise:\n  update:\n    sd: [0, {1: 2}]\n", "key 1", "in 'noise.update.sd[1]'"),
    ],
)
def test_every_key_must_be_a_string(tmp_path: Path, text: str, key: str, where: str) -> None:
    path = write(tmp_path / "k.yaml", text)
    refused(lambda: resolve(path), "k.yaml", key, where, "not a string")
    refused(lambda: resolve_hebbian(path), "k.yaml", key, "not a string")


def test_every_key_must_be_a_string_in_overrides_and_mappings() -> None:
    refused(lambda: resolve(overrides=["task={1: a, name: corridor}"]), "--set", "key 1")
    mixed: dict[Any, Any] = {1: "a", "seed": 0}
    refused(lambda: parse_config(mixed), "key 1", "at the top")
    refused(lambda: parse_config({"model": {None: 1}}), "key None", "in 'model'")
    refused(lambda: parse_hebbian_config({"network": {True: 1}}), "key True", "in 'network'")


def test_mixed_keys_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "k.yaml", "1: a\nfoo: b\n")
    cli_refuses([str(path)], tmp_path, capsys, "k.yaml", "key 1")


# --------------------------------------------------------------------------- 3. nesting

DEEP = {
    "yaml list": ("d.yaml", f"seed: {nested(3000)}\n"),
    "yaml mapping": ("d.yaml", "seed: " + nested(3000, "{a: ", "}") + "\n"),
    "toml array": ("d.toml", f"seed = {nested(3000)}\n"),
    "toml table": ("d.toml", "seed = " + nested(3000, "{a = ", "}") + "\n"),
    "yaml 40": ("d.yaml", f"seed: {nested(40)}\n"),
    "toml 40": ("d.toml", f"seed = {nested(40)}\n"),
    "yaml sections": ("d.yaml", "".join(f"{'  ' * i}k{i}:\n" for i in range(40)) + "  " * 40 + "x"),
    "yaml self": ("d.yaml", "seed: &a [*a]\n"),
    "yaml self mapping": ("d.yaml", "task: &a {corridor: *a}\n"),
}


@pytest.mark.parametrize("case", DEEP)
def test_deep_nesting_in_a_file(tmp_path: Path, case: str) -> None:
    name, text = DEEP[case]
    path = write(tmp_path / name, text)
    refused(lambda: resolve(path), name)
    refused(lambda: resolve_hebbian(path), name)


def test_deep_nesting_names_the_depth(tmp_path: Path) -> None:
    path = write(tmp_path / "d.toml", f"seed = {nested(40)}\n")
    refused(lambda: resolve(path), "d.toml", f"nested more than {MAX_DEPTH} levels deep")


@pytest.mark.parametrize(
    "override",
    [
        f"seed={nested(3000)}",
        f"seed={nested(40)}",
        "seed=&a [*a]",
        ".".join(["task"] * 100) + "=1",
    ],
)
def test_deep_nesting_in_an_override(override: str) -> None:
    refused(lambda: resolve(overrides=[override]))
    refused(lambda: resolve_hebbian(overrides=[override]))


def test_aliases_cannot_multiply_a_file(tmp_path: Path) -> None:
    """The billion laughs: nine levels of ten aliases, 10^9 values once expanded."""
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    path = write(tmp_path / "laughs.yaml", "\n".join(lines) + "\nseed: *a9\n")
    refused(lambda: resolve(path), "laughs.yaml", "values")


def test_deep_nesting_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "d.yaml", f"seed: {nested(3000)}\n")
    cli_refuses([str(path)], tmp_path, capsys, "d.yaml")
    cli_refuses(["--set", f"seed={nested(3000)}"], tmp_path, capsys, "seed")


# --------------------------------------------------------------------------- 4. long integers

DIGITS = "9" * 5000


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("i.yaml", f"seed: {DIGITS}\n"),
        ("i.yaml", f"train:\n  lr: -{DIGITS}\n"),
        ("i.toml", f"seed = {DIGITS}\n"),
        ("i.toml", f"[train]\nlr = {DIGITS}\n"),
    ],
)
def test_an_integer_too_long_to_read_in_a_file(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path / name, text)
    refused(lambda: resolve(path), name, "digits")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        (f"seed={DIGITS}", "seed"),
        (f"train.lr={DIGITS}", "train.lr"),
        (f"seed=[0, {DIGITS}]", "seed"),
        (f"seed=0x{'f' * 5000}", "seed"),  # Python reads it, but cannot write it back
        (f"train.lr={'9' * 400}", "train.lr"),  # an int beyond every float
        (f"model.hidden={'9' * 4000}", "model.hidden"),
    ],
)
def test_an_integer_too_long_in_an_override(override: str, field: str) -> None:
    refused(lambda: resolve(overrides=[override]), field)


def test_an_integer_too_long_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_refuses(["--set", f"seed={DIGITS}"], tmp_path, capsys, "seed")
    cli_refuses(["--set", f"seed={DIGITS}"], tmp_path, capsys, "seed", model="hebbian")


# --------------------------------------------------------------------------- 5. bounds


@pytest.mark.parametrize(
    "override",
    [
        "model.hidden=1e30",
        "task.corridor.n_samples=1e30",
        "task.corridor.L_vis=1e30",
        "record.log_points=1e30",
        "record.hessian.log_points=1e30",
        "task.corridor.L_x=1e300",
        "task.corridor.L_y=1e300",
        "task.corridor.K_smooth=1e300",
        "train.lr=1e300",
        "noise.update.sd=1e300",
        "record.every=1e30",
        "train.batch_size=1e30",
        "record.hessian.dense_max=1e30",
        "task.abstract.d_in=1e30",
        "task.abstract.texture_sd=1e300",
    ],
)
def test_every_number_has_an_upper_bound(override: str) -> None:
    field = override.partition("=")[0]
    refused(lambda: resolve(overrides=[override]), f"'{field}'", "must be <")


@pytest.mark.parametrize(
    "override",
    [
        "network.neurons=1e30",
        "inputs.ring.n_inputs=1e30",
        "inputs.place.n_scales=1e30",
        "dynamics.max_iter=1e30",
        "record.log_points=1e30",
        "train.sigma=1e300",
        "network.alpha=1e300",
        "inputs.ring.radius=1e300",
    ],
)
def test_every_hebbian_number_has_an_upper_bound(override: str) -> None:
    field = override.partition("=")[0]
    refused(lambda: resolve_hebbian(overrides=[override]), f"'{field}'", "must be <")


def _numeric_fields(cls: type, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            yield from _numeric_fields(kind, f"{prefix}{f.name}.")  # type: ignore[arg-type]
        elif not f.metadata.get("internal"):
            elem = typing.get_args(kind)[0] if f.metadata.get("batch") else kind
            if elem in (int, float):
                yield f"{prefix}{f.name}", dict(f.metadata)


@pytest.mark.parametrize("cls", [RunConfig, HebbianConfig])
def test_every_numeric_field_has_both_bounds(cls: type) -> None:
    found = list(_numeric_fields(cls))
    assert len(found) > 20
    for path, meta in found:
        assert "min" in meta and "max" in meta, path
        assert math.isfinite(meta["min"]) and math.isfinite(meta["max"]), path


def test_the_corridor_texture_stays_small() -> None:
    refused(
        lambda: resolve(
            overrides=[
                "task.corridor.L_x=1000",
                "task.corridor.L_y=1000",
                "task.corridor.L_vis=1000",
            ]
        ),
        "task.corridor",
        "n_tiles",
    )
    big = CorridorParams(L_x=1000.0, L_y=1000.0, L_vis=250)
    assert resolve(overrides=["task.corridor.L_x=1000", "task.corridor.L_y=1000"]).task.corridor
    assert big.n_tiles == 1_000_000  # the largest allowed


def test_too_many_grid_cells() -> None:
    overrides = ["inputs.kind=place", *(f"inputs.place.{k}=100" for k in ("n_scales", "phases_x"))]
    refused(lambda: resolve_hebbian(overrides=[*overrides, "inputs.place.phases_y=100"]), "grid")


def test_the_estimate_of_a_small_run() -> None:
    need = estimate_resources(resolve(preset="quick"))
    assert 0.4 * GiB < need.memory_bytes < 2 * GiB
    activity = 66 * 150 * 500 * 4  # records x samples x hidden x float32
    assert activity < need.disk_bytes < 4 * activity
    assert "66 records" in need.detail and "record" in need.advice
    check_resources(resolve(preset="quick"))
    hebbian = estimate_hebbian_resources(resolve_hebbian(preset="hebbian_ring"))
    assert 0.4 * GiB < hebbian.memory_bytes < 2 * GiB
    assert resolve_hebbian(preset="hebbian_place").resources().disk_bytes > 0


def test_a_run_too_large_for_memory_is_refused() -> None:
    cfg = resolve(
        overrides=[
            "model.hidden=100000",
            "seed=[0,1,2,3]",
            "task.corridor.n_samples=6000",
            "record.hidden=false",
        ]
    )
    message = refused(
        lambda: check_resources(cfg, memory_limit=24 * GiB),
        "4 networks x hidden 100,000 x 6,000 samples",
        "more than the limit of 24 GiB",
        "model.hidden",
    )
    assert message.startswith("config: this run would need about ")
    check_resources(cfg, memory_limit=2**50)
    # keeping the activity of every record multiplies it by the records, and the disk too
    keep = resolve(overrides=["model.hidden=100000", "task.corridor.n_samples=6000"])
    need = keep.resources()
    assert need.disk_bytes > 66 * 6000 * 100_000 * 4
    assert need.memory_bytes > cfg.resources().memory_bytes / 4
    refused(lambda: check_resources(keep, memory_limit=24 * GiB), "record.hidden false")


def test_a_hebbian_run_too_large_for_memory_is_refused() -> None:
    cfg = resolve_hebbian(overrides=["inputs.ring.n_inputs=1000000"])
    refused(lambda: check_resources(cfg, memory_limit=24 * GiB), "similarity of 1,000,000")
    every = resolve_hebbian(overrides=["record.every=1", "train.steps=2000000000"])
    refused(lambda: check_resources(every, memory_limit=24 * GiB), "record")


def test_the_machine_memory_is_the_default_limit() -> None:
    huge = resolve(overrides=["record.every=1", "train.steps=2000000000"])
    refused(lambda: check_resources(huge), "this machine's")


# --------------------------------------------------------------------------- 6. huge batches


def _values(n: int, scale: float) -> str:
    return "[" + ",".join(f"{scale * i:g}" for i in range(n)) + "]"


def test_a_huge_batch_is_refused_from_its_list_lengths() -> None:
    overrides = [
        f"seed={_values(100, 1)}",
        f"train.lr={_values(100, 0.001).replace('[0,', '[0.0001,')}",
        f"noise.update.sd={_values(100, 0.001)}",
        f"noise.label.sd={_values(100, 0.001)}",
    ]
    message = refused(
        lambda: resolve(overrides=overrides), "100,000,000 networks", f"{MAX_NETWORKS:,}", "GiB"
    )
    assert "seed 100 x train.lr 100 x noise.update.sd 100 x noise.label.sd 100" in message
    assert resolve(overrides=overrides[:2]).n_networks == 10_000


def test_a_huge_hebbian_batch_is_refused() -> None:
    overrides = [
        f"seed={_values(100, 1)}",
        f"train.eta={_values(100, 0.001)}",
        f"train.sigma={_values(100, 0.001)}",
    ]
    refused(lambda: resolve_hebbian(overrides=overrides), "1,000,000 networks", "train.eta 100")


def test_a_huge_batch_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--set", f"seed={_values(400, 1)}", "--set", f"noise.update.sd={_values(400, 0.01)}"]
    cli_refuses(args, tmp_path, capsys, "160,000 networks")


# --------------------------------------------------------------------------- 7. duplicates


@pytest.mark.parametrize(
    ("name", "text", "key"),
    [
        ("t.yaml", "train:\n  steps: 5\ntrain:\n  steps: 7\n", "key 'train' appears twice"),
        ("t.yaml", "train:\n  steps: 5\n  steps: 7\n", "key 'steps' appears twice"),
        ("t.yaml", "seed: 1\nseed: 2\n", "(at line 1, column 1 and line 2, column 1)"),
        ("t.yaml", "noise: {update: {sd: 0.1, sd: 0.2}}\n", "key 'sd' appears twice"),
        ("t.toml", "[train]\nsteps = 5\n[train]\nsteps = 7\n", "train"),
        ("t.toml", "seed = 1\nseed = 2\n", "cannot be parsed"),
    ],
)
def test_a_key_given_twice(tmp_path: Path, name: str, text: str, key: str) -> None:
    path = write(tmp_path / name, text)
    refused(lambda: resolve(path), name, key)


def test_a_key_given_twice_in_an_override() -> None:
    refused(lambda: resolve(overrides=["train={steps: 1, steps: 2}"]), "--set", "'steps'")


def test_a_merge_key_may_be_overridden(tmp_path: Path) -> None:
    text = "noise:\n  update: &u {sd: 0.1}\n  input: {<<: *u, sd: 0.2}\n"
    cfg = resolve(write(tmp_path / "m.yaml", text))
    assert cfg.noise.update.sd == (0.1,) and cfg.noise.input.sd == (0.2,)


def test_a_key_given_twice_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "t.yaml", "train:\n  steps: 5\ntrain:\n  steps: 7\n")
    cli_refuses([str(path)], tmp_path, capsys, "t.yaml", "'train'", "line 3")


# --------------------------------------------------------------------------- 8. presets


def test_an_empty_preset_is_unknown(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    refused(lambda: resolve(preset=""), "preset ''", "quick")
    refused(lambda: resolve_hebbian(preset=""), "preset ''", "hebbian_ring")
    refused(lambda: resolve(preset="quick\n"), "preset 'quick\\n'")
    cli_refuses(["--preset", ""], tmp_path, capsys, "preset ''")
    cli_refuses(["--preset", ""], tmp_path, capsys, "preset ''", model="hebbian")


# --------------------------------------------------------------------------- 9. echoing


@pytest.mark.parametrize(
    ("override", "shown"),
    [
        ("a\nb=1", "config field 'a\\nb'"),
        ("task.name=\x1b[31mred", "'\\x1b[31mred'"),
        ("task.name=a\u2028b", "'a\\u2028b'"),
        (f"seed={'x' * 1_000_000}", "... (1,000,000 characters)"),
        (f"{'k' * 1_000_000}=1", "... (1,000,000 characters)"),
        (f"task.{'k' * 1_000_000}=1", "... (1,000,005 characters)"),
        ("seed=\udcff", "not UTF-8 text"),
        (f"task.name=[{','.join(['1'] * 100_000)}]", "... (100,000 items)"),
    ],
)
def test_echoed_input_is_escaped_and_cut(override: str, shown: str) -> None:
    refused(lambda: resolve(overrides=[override]), shown)


def test_a_long_value_in_a_file_is_cut(tmp_path: Path) -> None:
    path = write(tmp_path / "v.yaml", "task:\n  name: " + "y" * 1_000_000 + "\n")
    refused(lambda: resolve(path), "task.name", "(1,000,000 characters)")


def test_a_file_name_is_escaped(tmp_path: Path) -> None:
    path = tmp_path / "a\nb.yaml"
    refused(lambda: resolve(path), "a\\nb.yaml", "not found")


def test_show_and_clip() -> None:
    assert show("x") == "'x'"
    assert show("a\nb\x00") == "'a\\nb\\x00'"
    assert show("z" * 100) == f"'{'z' * 60}'... (100 characters)"
    assert show(10**5000).startswith("<an integer of about 5,001 digits>")
    assert show(1.5) == "1.5" and show(None) == "None"
    deep: list[Any] = []
    deep.append(deep)  # a list containing itself
    assert show(deep) == "[[[...]]]"
    assert len(show(list(range(10**6)))) < 100
    assert clip("a\tb") == "a\\tb"
    assert clip("c" * 61).endswith("... (61 characters)")


# --------------------------------------------------------------------------- 10. the rest


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("task=[1]", "task"),
        ("model=5", "model"),
        ("noise=null", "noise"),
        ("noise.update=[]", "noise.update"),
        ("train.lr=.nan", "train.lr"),
        ("train.lr=nan", "train.lr"),
        ("train.lr=-inf", "train.lr"),
        ("train.lr=1e400", "train.lr"),
        ("noise.update.sd=-1e-300", "noise.update.sd"),
        ("seed=1e400", "seed"),
        ("seed=true", "seed"),
        ("seed=[]", "seed"),
        ("seed=[[]]", "seed"),
        ("seed=1.5", "seed"),
        ("seed=-1", "seed"),
        ("seed=!!set {1, 2}", "seed"),
        ("seed=2001-01-01", "seed"),
        ("seed=2001-13-45", "--set"),
        ("seed=!!binary aGVsbG8=", "seed"),
        ("task.name=5", "task.name"),
        ("task.name=[corridor]", "task.name"),
        ("task.name=", "task.name"),
        ("record.hidden=1", "record.hidden"),
        ("record.hidden=maybe", "record.hidden"),
        ("model.dtype=float16", "model.dtype"),
        ("seed.x=1", "seed"),
        ("=1", "--set"),
        ("seed", "--set"),
        ("seed=!!python/object/apply:os.system [true]", "seed"),
        ("train.rule={}", "train.rule"),
    ],
)
def test_hostile_overrides(override: str, field: str) -> None:
    refused(lambda: resolve(overrides=[override]), field)


@pytest.mark.parametrize(
    "raw",
    [
        [1, 2],
        None,
        "seed",
        {"seed": {"a": 1}},
        {"task": {"corridor": None}},
        {"train": {"lr": [0.1, "x"]}},
        {"model": {"hidden": True}},
        {"record": {"hessian": []}},
    ],
)
def test_hostile_mappings(raw: Any) -> None:
    refused(lambda: parse_config(raw))
    refused(lambda: parse_hebbian_config(raw if not isinstance(raw, dict) else {"x": raw}))


def test_negative_zero_is_zero() -> None:
    minus = resolve(overrides=["noise.update.sd=-0.0"])
    assert math.copysign(1.0, minus.noise.update.sd[0]) == 1.0
    assert config_hash(minus) == config_hash(resolve(overrides=["noise.update.sd=0"]))


# --------------------------------------------------------------------------- properties

SECTIONS: dict[str, type] = {"feedforward": RunConfig, "hebbian": HebbianConfig}


def _tree(cls: type) -> dict[str, Any]:
    """The schema as a nested dict: field -> sub-tree, or its metadata for a leaf."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out[f.name] = _tree(hints[f.name])
        else:
            out[f.name] = {"meta": dict(f.metadata), "default": f.default}
    return out


TREES = {model: _tree(cls) for model, cls in SECTIONS.items()}
NAMES = sorted(
    {name for tree in TREES.values() for name in _tree(RunConfig) | _tree(HebbianConfig)}
    | {"corridor", "abstract", "update", "label", "input", "hessian", "ring", "place"}
)

huge_ints = st.integers(min_value=-(10**1000), max_value=10**1000)
junk_scalars = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    huge_ints,
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e300, -1e300, -0.0, 5e-324, 1e30, 0.5, 2**31, 2**63]),
    st.text(max_size=12),
    st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=6),  # control characters
    st.builds(lambda c, n: c * n, st.characters(), st.integers(0, 3000)),
    st.booleans(),
    st.none(),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "1e5", "0x10", "1_000", ".nan", ""]),
)
junk = st.recursive(
    junk_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=6)), inner, max_size=3),
    ),
    max_leaves=8,
)
odd_keys = st.one_of(
    st.text(max_size=8), st.integers(-5, 5), st.none(), st.booleans(), st.floats(width=16)
)


def _leaf(meta: dict[str, Any], default: Any, *, clean: bool) -> st.SearchStrategy[Any]:
    """Values a field might be given: its default, its choices, numbers near and inside
    its bounds, or (unless ``clean``) junk."""
    options: list[st.SearchStrategy[Any]] = [st.just(default)]
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and hi is not None:
        if isinstance(lo, int) and isinstance(hi, int):
            options.append(st.integers(lo, min(hi, lo + 1000)))
            if not clean:
                options += [st.integers(lo - 2, lo + 2), st.sampled_from([hi, hi + 1])]
        else:
            options.append(st.floats(lo, min(hi, lo + 10)))
            if not clean:
                options.append(st.floats(lo - 1, hi + 1, allow_nan=False))
    choices = meta.get("choices")
    if choices:
        options.append(st.sampled_from(list(choices() if callable(choices) else choices)))
    if not clean:
        options.append(junk_scalars)
    value = st.one_of(*options)
    if meta.get("batch"):
        return st.one_of(value, st.lists(value, min_size=int(clean), max_size=4))
    return value


def _mapping(
    tree: dict[str, Any], *, clean: bool, depth: int = 0
) -> st.SearchStrategy[dict[Any, Any]]:
    """A mapping near the schema ``tree``: some of its fields (sections recursively,
    or junk in their place), now and then a junk or non-string key; with ``clean``,
    only values of the right kind (mostly a valid config)."""
    entries: dict[str, st.SearchStrategy[Any]] = {}
    for name, sub in tree.items():
        if "meta" in sub:
            entries[name] = _leaf(sub["meta"], sub["default"], clean=clean)
        else:
            section = _mapping(sub, clean=clean, depth=depth + 1)
            entries[name] = section if clean else st.one_of(section, junk)
    fields = st.fixed_dictionaries({}, optional=entries)
    if clean:
        return fields
    extra = st.dictionaries(st.one_of(st.sampled_from(NAMES), odd_keys), junk, max_size=1)
    return st.builds(
        lambda a, b, use: {**a, **b} if use else a,
        fields,
        extra,
        st.integers(0, 9).map(lambda i: i == 0),
    )


MAPPINGS = {
    (model, clean): _mapping(tree, clean=clean)
    for model, tree in TREES.items()
    for clean in (False, True)
}
models_and_mappings = st.tuples(st.sampled_from(sorted(TREES)), st.booleans()).flatmap(
    lambda key: st.tuples(st.just(key[0]), MAPPINGS[key])
)


def _toml_string(text: str) -> str:
    escaped = "".join(
        c
        if c.isprintable() and c not in '"\\'
        else f"\\u{ord(c):04x}"
        if ord(c) < 0x10000
        else f"\\U{ord(c):08x}"
        for c in text
    )
    return f'"{escaped}"'


def _toml_value(value: Any) -> str:
    """A value as TOML (inline tables; None, which TOML lacks, as a string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan"
            if math.isnan(value)
            else ("inf" if value > 0 else "-inf")
            if math.isinf(value)
            else repr(value)
        )
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{_toml_string(str(k))} = {_toml_value(v)}" for k, v in value.items())
            + "}"
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return _toml_string(str(value))


def _toml(data: dict[Any, Any]) -> str:
    return "".join(f"{_toml_string(str(k))} = {_toml_value(v)}\n" for k, v in data.items())


def _yaml(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def _dotted(tree: dict[str, Any]) -> list[str]:
    out = []
    for name, sub in tree.items():
        out.append(name)
        if "meta" not in sub:
            out += [f"{name}.{rest}" for rest in _dotted(sub)]
    return out


DOTTED = sorted(set(_dotted(TREES["feedforward"]) + _dotted(TREES["hebbian"])))
flow_values = st.one_of(
    junk.map(
        lambda v: (
            yaml.safe_dump(v, default_flow_style=True, width=10**9).removesuffix("\n...\n").strip()
        )
    ),
    st.text(max_size=12),
    st.sampled_from(["[1, 2", "{a: 1, a: 2}", "&a [*a]", "*x", "!!python/none ''", "'", '"\\x"']),
)
assignments = st.builds(
    lambda key, value: f"{key}={value}",
    st.one_of(st.sampled_from(DOTTED), st.text(max_size=10)),
    flow_values,
) | st.text(max_size=12)

RESOLVERS: dict[str, Callable[..., Any]] = {"feedforward": resolve, "hebbian": resolve_hebbian}
PROPERTY = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


def _valid_or_one_line(call: Callable[[], Any]) -> None:
    """``call()`` gives a config that every later step can use, or one ConfigError line."""
    try:
        cfg = call()
    except ConfigError as err:
        one_line(err)
        return
    assert cfg.n_networks <= MAX_NETWORKS
    need = cfg.resources()
    assert need.memory_bytes > 0 and need.disk_bytes > 0
    try:
        check_resources(cfg, memory_limit=2**62)
    except ConfigError as err:
        one_line(err)
    assert len(config_hash(cfg)) == 8
    if isinstance(cfg, RunConfig):
        describe_noise(cfg)


@settings(PROPERTY, max_examples=1000)
@given(drawn=models_and_mappings, toml=st.booleans())
def test_files_near_the_schema(tmp_path: Path, drawn: tuple[str, Any], toml: bool) -> None:
    model, raw = drawn
    path = tmp_path / ("c.toml" if toml else "c.yaml")
    path.write_text(_toml(raw) if toml else _yaml(raw), encoding="utf-8")
    _valid_or_one_line(lambda: RESOLVERS[model](path))


@settings(PROPERTY, max_examples=1000)
@given(model=st.sampled_from(sorted(TREES)), overrides=st.lists(assignments, max_size=4))
def test_overrides_near_the_schema(model: str, overrides: list[str]) -> None:
    _valid_or_one_line(lambda: RESOLVERS[model](overrides=overrides))


@settings(PROPERTY, max_examples=700)
@given(
    model=st.sampled_from(sorted(TREES)),
    text=st.one_of(
        st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    ),
    toml=st.booleans(),
)
def test_any_text_as_a_file(tmp_path: Path, model: str, text: str, toml: bool) -> None:
    path = tmp_path / ("t.toml" if toml else "t.yaml")
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _valid_or_one_line(lambda: RESOLVERS[model](path))


@settings(PROPERTY, max_examples=400)
@given(model=st.sampled_from(sorted(TREES)), raw=junk)
def test_any_mapping(model: str, raw: Any) -> None:
    parse = parse_config if model == "feedforward" else parse_hebbian_config
    _valid_or_one_line(lambda: parse(raw))


@settings(PROPERTY, max_examples=150)
@given(
    drawn=models_and_mappings,
    overrides=st.lists(assignments.filter(lambda a: "\x00" not in a), max_size=2),
)
def test_the_cli_checks_without_writing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    drawn: tuple[str, Any],
    overrides: list[str],
) -> None:
    model, raw = drawn
    path = tmp_path / "c.yaml"
    path.write_text(_yaml(raw), encoding="utf-8")
    args = [str(path), *(arg for o in overrides for arg in ("--set", o))]
    rc, err = cli(args, tmp_path, capsys, model="run" if model == "feedforward" else "hebbian")
    assert rc in (0, 2)
    if rc == 2:
        assert len(err) == 1 and err[0].startswith("driftlab: error: "), err
