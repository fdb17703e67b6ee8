"""Whether a run directory may be used for a config: empty, or holding this config's run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from driftlab.config import ConfigError, first_difference, to_dict


class RunDirError(ConfigError):
    """The output directory holds something else than this config's run."""


def check_out_dir(out: Path, config: Any, parse: Callable[[Any], Any], kind: str) -> bool:
    """True when ``out`` holds the run of ``config`` (to resume), False when it is absent
    or empty; raises :class:`RunDirError` when it holds anything else (another config,
    another model's run, a file), before anything is written.

    ``parse``: the model's config parser (stored mapping -> config); ``kind``: the
    model's name in the message ("feed-forward", "Hebbian").
    """
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out '{out}': exists and is not a directory")
    stored = out / "config.yaml"
    if stored.is_file():
        try:
            old = to_dict(parse(yaml.safe_load(stored.read_text()) or {}))
        except (ConfigError, yaml.YAMLError, TypeError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise RunDirError(
                f"--out '{out}': holds a run that is not a {kind} run of this version "
                f"({first}); choose another --out or delete it"
            ) from None
        new = to_dict(config)
        if old != new:
            raise RunDirError(
                f"--out '{out}': holds a run of another config ({first_difference(old, new)}); "
                "choose another --out or delete it"
            )
        return True
    if out.exists() and any(out.iterdir()):
        raise RunDirError(f"--out '{out}': exists and is not a driftlab run directory")
    return False
