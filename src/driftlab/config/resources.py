"""What a run would take, estimated from its config before anything is allocated.

Each model's config estimates its run (``RunConfig.resources()``,
``HebbianConfig.resources()``) from :class:`Resources` parts;
:func:`check_resources` refuses, in one line, a run that would not fit this
machine's memory (or a container's limit), naming the largest part and the
fields that shrink it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from driftlab.config.schema import show_bytes
from driftlab.errors import ConfigError
from driftlab.runner.schedule import record_steps

PROCESS_BYTES = 512 * 2**20
"""Memory of the Python process with JAX loaded and a small run compiled (measured: 0.5 GiB)."""


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class Resources:
    """What a run would take, estimated from its config before anything is allocated
    (within about a factor of 2): ``memory_bytes`` of RAM at its peak (the process,
    parameters, optimiser state, task data, the batch's activity at a chunk or a
    record, the records gathered at the end), ``disk_bytes`` of its run directory at
    its largest (the per-record snapshots beside the files they are gathered into,
    just before they are removed), ``detail`` the largest part of the memory, and
    ``advice`` the fields that shrink it."""

    memory_bytes: int
    disk_bytes: int
    detail: str
    advice: str


Part = tuple[str, float, str]
"""One part of a run's memory: (what, bytes, which fields shrink it)."""


def combine(resident: Sequence[Part], phases: Sequence[Part], disk_bytes: float) -> Resources:
    """:class:`Resources` of a run whose memory is the process (:data:`PROCESS_BYTES`),
    the ``resident`` parts (held from start to end) and the largest of its ``phases``
    (held in turn: building the task, a chunk and a record, gathering the records)."""
    peak = max(phases, key=lambda part: part[1])
    largest = max([*resident, *phases], key=lambda part: part[1])
    memory = PROCESS_BYTES + sum(part[1] for part in resident) + peak[1]
    return Resources(int(memory), int(disk_bytes), largest[0], largest[2])


def count_records(total: int, every: int = 0, log_points: int = 0) -> int:
    """How many record points :func:`driftlab.runner.schedule.record_steps` makes,
    without building the list when ``every`` (up to 2^31 of them) rules."""
    if log_points and not every:
        return len(record_steps(total, 0, log_points))  # at most MAX_RECORDS + 2
    every = every or max(1, total // 100)
    return total // every + 1 + (total % every != 0)


class HasResources(Protocol):
    """A config that can estimate its run (both models' configs)."""

    def resources(self) -> Resources: ...


CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")
"""A container's memory limit (cgroup v2; ``max`` when there is none)."""


def physical_memory() -> int | None:
    """This machine's physical memory in bytes, or the container's limit
    (:data:`CGROUP_LIMIT`) where that is lower; None where neither is known."""
    try:
        total: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = None
    try:
        text = CGROUP_LIMIT.read_text().strip()
    except OSError:
        return total
    if not text.isdigit():
        return total
    return int(text) if total is None else min(total, int(text))


def check_resources(cfg: HasResources, *, memory_limit: int | None = None) -> None:
    """Refuse a run that would need more memory than ``memory_limit`` bytes (default:
    this machine's physical memory, :func:`physical_memory`), estimated by the config's
    ``resources()`` before anything is allocated: one line naming the largest part
    and the fields that shrink it."""
    need = cfg.resources()
    limit = physical_memory() if memory_limit is None else memory_limit
    if limit is None or need.memory_bytes <= limit:
        return
    than = "this machine's" if memory_limit is None else "the limit of"
    raise ConfigError(
        f"config: this run would need about {show_bytes(need.memory_bytes)} of memory "
        f"({need.detail}), more than {than} {show_bytes(limit)}; reduce {need.advice}"
    )
