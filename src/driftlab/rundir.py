"""The run directory as a format: what a run leaves on disk, read with numpy and xarray.

Reading a run needs neither JAX nor the engine, so figures, summaries and a
cluster worker's collector can open results cheaply (``import driftlab.rundir``
does not import JAX). Writing stays beside the engine (:mod:`driftlab.run`,
:mod:`driftlab.hebbian.run`; the loop that writes both is :mod:`driftlab.runner.loop`).

Layout of a run directory (every file written atomically):

``config.yaml``      the resolved config (every field, defaults included)
``status.json``      ``running`` / ``complete`` / ``diverged``, step, speed, divergence
``timeseries.nc``    recorded measurements over (time, network)
``data.nc``          the task data of every network (feed-forward runs)
``inputs.nc``        the inputs of every network (Hebbian runs)
``activity.nc``      hidden activity per record point, when complete
``params.nc``        parameter snapshots, when ``record.params``
``hessian.nc``       Hessian spectra, when ``record.hessian`` records dense spectra
``checkpoint.npz``   the state after the last chunk (engine-specific)
``snapshots/``       per-record files while the run is running
``figures/``         figures drawn from the files above
``.driftlab.lock``   the lock a running process holds (:mod:`driftlab.runner.lock`)

A file that cannot be read raises :class:`DamagedRunError`, whose message names
the file and what the user can do.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xarray as xr

from driftlab.errors import DamagedRunError
from driftlab.storage import open_netcdf

DATASETS: tuple[str, ...] = ("timeseries", "data", "inputs", "activity", "params", "hessian")
"""The netCDF files a run directory may hold, by name (``<name>.nc``)."""

RESTART_HINT = "rerun the same command with --restart to start this run over"


def damaged(
    out: str | Path, name: str, problem: object, hint: str = RESTART_HINT
) -> DamagedRunError:
    """The error for file ``name`` of run directory ``out``: ``problem`` (an exception,
    shown as its type and first line, or a description) and ``hint``."""
    if isinstance(problem, BaseException):
        text = str(problem).strip().splitlines()
        problem = type(problem).__name__ + (f": {text[0][:200]}" if text else "")
    return DamagedRunError(f"run directory '{out}' is damaged: {name}: {problem}; {hint}")


def is_run_dir(path: str | Path) -> bool:
    """True when ``path`` holds a run's ``timeseries.nc``."""
    return (Path(path) / "timeseries.nc").is_file()


def load_run(out_dir: str | Path) -> dict[str, xr.Dataset]:
    """The datasets of a run directory, by name: ``timeseries`` always, and each of
    ``data``, ``inputs``, ``activity``, ``params``, ``hessian`` that is present.

    Raises ``FileNotFoundError`` when the directory holds no ``timeseries.nc``.
    """
    out = Path(out_dir)
    if not is_run_dir(out):
        raise FileNotFoundError(f"'{out}' holds no timeseries.nc: not a driftlab run directory")
    found = {}
    for name in DATASETS:
        path = out / f"{name}.nc"
        if path.is_file():
            try:
                found[name] = open_netcdf(path)
            except Exception as err:  # any failure to read the file means it is damaged
                raise damaged(out, path.name, err) from None
    return found


def load_hebbian_run(out_dir: str | Path) -> dict[str, xr.Dataset]:
    """The datasets of a Hebbian run directory (:func:`load_run`), checking that it is one."""
    found = load_run(out_dir)
    if found["timeseries"].attrs.get("model") != "hebbian":
        raise ValueError(
            f"'{out_dir}' is not a Hebbian run (written by execute, not execute_hebbian)"
        )
    return found


def read_status(out_dir: str | Path) -> dict[str, Any]:
    """``status.json`` of a run directory as a dict (``{}`` when there is none yet)."""
    path = Path(out_dir) / "status.json"
    if not path.is_file():
        return {}
    try:
        status = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as err:  # JSON and UTF-8 errors are ValueErrors
        raise damaged(out_dir, "status.json", err) from None
    if not isinstance(status, dict):
        raise damaged(
            out_dir, "status.json", f"expected a JSON object, got {type(status).__name__}"
        )
    return status
