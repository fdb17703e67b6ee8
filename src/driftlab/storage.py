"""Atomic files: every file a run writes appears whole or not at all.

A file is written to a temporary name in the same directory, flushed to disk,
then renamed over the target with ``os.replace`` (atomic on POSIX).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

NETCDF_ENGINE = "h5netcdf"


class RunNotice(UserWarning):
    """Something a user resuming a run should know; the command line prints it as one line."""


class WriteError(OSError):
    """Writing a file failed (a full disk, a read-only file system, ...); ``filename``
    is the file meant, not its temporary, and nothing of it was left behind."""


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` then move the result onto ``path`` atomically."""
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # created like any new file (mode 0666 less the umask), exclusively ours
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as err:
        raise WriteError(err.errno, err.strerror or str(err), str(path)) from err
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise WriteError(err.errno, err.strerror or str(err), str(path)) from err
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically (:func:`atomic_write`)."""

    def _write(p: Path) -> None:
        p.write_text(text, encoding="utf-8")

    atomic_write(path, _write)


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    def _write(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    atomic_write(path, _write)


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickled objects); the file is closed even
    when it turns out not to be one."""
    with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def write_netcdf(path: Path, dataset: xr.Dataset) -> None:
    def _write(p: Path) -> None:
        dataset.to_netcdf(str(p), engine="h5netcdf")

    atomic_write(path, _write)


def open_netcdf(path: str | Path) -> xr.Dataset:
    """Load a netCDF file written by driftlab fully into memory."""
    return xr.load_dataset(path, engine=NETCDF_ENGINE)
