"""Whether a run directory may be used for a config, and preparing it for one writer.

A run directory is empty, or holds this config's run (to resume), or is refused
with one line before anything is written: another config's run, another model's
run, something that is not a run directory, a path that cannot be a directory.
Left-overs of an interrupted write (``.*.tmp``) and the lock file
(:mod:`driftlab.runner.lock`) do not count as contents: a directory holding only
those (a crash between ``mkdir`` and the first rename) starts afresh.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from driftlab.config import ConfigError, first_difference, to_dict
from driftlab.errors import RunDirError as RunDirError  # re-exported
from driftlab.rundir import DATASETS, damaged, read_status
from driftlab.runner.lock import contents as contents  # re-exported
from driftlab.runner.lock import run_dir_lock

RUN_FILES: frozenset[str] = frozenset(
    {"config.yaml", "status.json", "checkpoint.npz", "snapshots", "figures"}
    | {f"{name}.nc" for name in DATASETS}
)
"""Every entry a run writes into its directory (besides the lock and temporaries)."""


def _check_path(out: Path) -> None:
    """``out`` can be (or become) a directory: it is one, or its first existing
    ancestor is a directory."""
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out '{out}': exists and is not a directory")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise RunDirError(f"--out '{out}': '{parent}' is a file, not a directory")
            return


def check_out_dir(
    out: Path, config: Any, parse: Callable[[Any], Any], kind: str, *, restart: bool = False
) -> bool:
    """True when ``out`` holds the run of ``config`` (to resume), False when it is absent
    or empty (or ``restart`` clears it); raises :class:`RunDirError` when it holds
    anything else, before anything is written.

    ``parse``: the model's config parser (stored mapping -> config); ``kind``: the
    model's name in the message ("feed-forward", "Hebbian"). A ``config.yaml`` that
    cannot be read names the directory as damaged
    (:class:`driftlab.errors.DamagedRunError`). With ``restart`` any run directory
    is accepted (its run's files will be deleted), but not a directory that holds
    other files and no run.
    """
    _check_path(out)
    if not out.is_dir():
        return False
    names = contents(out)
    if not names:
        return False
    if "config.yaml" not in names and "status.json" not in names:
        foreign = [n for n in names if n not in RUN_FILES]
        if foreign:
            raise RunDirError(
                f"--out '{out}': exists and is not a driftlab run directory (it holds "
                f"'{foreign[0]}'); choose another --out"
            )
        if not restart:  # a run's files without the config that names them
            raise damaged(out, "config.yaml", "missing")
    if restart:
        return False
    stored = out / "config.yaml"
    if not stored.is_file():
        raise damaged(out, "config.yaml", "missing")
    try:
        old = to_dict(parse(yaml.safe_load(stored.read_bytes().decode("utf-8")) or {}))
    except ConfigError as err:
        raise RunDirError(
            f"--out '{out}': holds a run that is not a {kind} run of this version "
            f"({str(err).splitlines()[0]}); choose another --out or use --restart"
        ) from None
    except Exception as err:  # unreadable: not UTF-8, not YAML, not a mapping
        raise damaged(out, "config.yaml", err) from None
    new = to_dict(config)
    if old != new:
        raise RunDirError(
            f"--out '{out}': holds a run of another config ({first_difference(old, new)}); "
            "choose another --out, or --restart to replace it"
        )
    read_status(out)  # a damaged status.json is named here, before anything runs
    return True


def remove_temporaries(out: Path) -> None:
    """Delete the ``.*.tmp`` left by interrupted atomic writes in ``out`` and its
    sub-folders (only while holding the lock: no write of ours is in flight)."""
    for folder in (out, out / "snapshots", out / "figures"):
        if folder.is_dir():
            for path in folder.glob(".*.tmp"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def clear_run_dir(out: Path) -> None:
    """Delete every file a run writes in ``out`` (``--restart``); the lock, and any
    file a user put beside them, stay."""
    for name in contents(out):
        if name not in RUN_FILES:
            continue
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    remove_temporaries(out)


def _first_missing(out: Path) -> Path | None:
    """The outermost directory of ``out``'s path that does not exist yet (None: all do)."""
    missing = None
    for path in (out, *out.parents):
        if path.exists():
            break
        missing = path
    return missing


@contextlib.contextmanager
def claimed(out: Path) -> Iterator[None]:
    """Create ``out`` if needed and hold its lock for the block (one writer per run
    directory). Errors are one line: :class:`RunDirError` when the directory cannot
    be created or written (a read-only file system, no permission, a full disk),
    :class:`driftlab.errors.RunDirBusyError` when another process holds it. What
    this call created is removed again if the block fails before a run has written
    its config there, so a refused or interrupted start leaves nothing behind."""
    top = _first_missing(out)
    with contextlib.ExitStack() as lock:
        try:
            out.mkdir(parents=True, exist_ok=True)
            lock.enter_context(run_dir_lock(out))
        except OSError as err:
            if top is not None:
                shutil.rmtree(top, ignore_errors=True)
            problem = err.strerror or type(err).__name__
            raise RunDirError(f"--out '{out}': cannot write there: {problem}") from None
        try:
            yield
        except BaseException:
            lock.close()
            if top is not None and not (out / "config.yaml").exists():
                shutil.rmtree(top, ignore_errors=True)
            raise
