"""Process-level settings that must happen before JAX starts.

On a CPU, XLA's default multithreading more than halves the speed of one small
network (measured in benchmarks/RESULTS.md); one thread per process, one process
per core, is the fast layout. :func:`limit_cpus` restricts this process to
``n`` cores (the cores it is running on first) before JAX is imported, which also
sizes XLA's thread pools.
"""

from __future__ import annotations

import os
import sys


def _current_cpu() -> int | None:
    try:
        with open("/proc/self/stat") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[36])
    except (OSError, IndexError, ValueError):
        return None


def limit_cpus(n: int, start: int | None = None) -> list[int]:
    """Pin this process to ``n`` of its allowed cores, from the ``start``-th (modulo
    their number; default: the core it runs on); returns them ([] if unsupported).

    Must run before ``import jax``; has no effect once JAX has started.
    """
    if "jax" in sys.modules or not hasattr(os, "sched_setaffinity"):
        return []
    allowed = sorted(os.sched_getaffinity(0))
    if n >= len(allowed):
        return allowed
    if start is not None:
        first = start % len(allowed)
    else:
        here = _current_cpu()
        first = allowed.index(here) if here in allowed else 0
    chosen = [allowed[(first + i) % len(allowed)] for i in range(n)]
    os.sched_setaffinity(0, chosen)
    return chosen
