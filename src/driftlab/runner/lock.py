"""One writer per run directory: an exclusive OS lock held while a process runs it.

The lock is ``fcntl.flock`` on the file ``.driftlab.lock`` inside the run
directory. It is advisory and belongs to the open file, so the operating system
releases it when the process ends, however it ends (``kill -9`` included): a
directory whose holder died is simply taken over by the next run, and there is
no stale marker to clean up. The lock file itself stays (deleting it would let
two processes lock two different files); while held it says who holds it
(process id, host, since when, the command), which a second process reports.

On a network file system, ``flock`` is as reliable as the server's lock service
(Linux's NFS client maps it to NFS byte-range locks).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from driftlab.errors import RunDirBusyError

LOCK_NAME = ".driftlab.lock"


def _is_scratch(name: str) -> bool:
    """The lock file, or a temporary of an interrupted atomic write."""
    return name == LOCK_NAME or (name.startswith(".") and name.endswith(".tmp"))


def contents(out: Path) -> list[str]:
    """The names in ``out`` that a run wrote or a user put there (not the scratch files)."""
    return sorted(p.name for p in out.iterdir() if not _is_scratch(p.name))


def holder(out: Path) -> str:
    """Who holds (or last held) the lock of ``out``, in words ("unknown" if unreadable)."""
    try:
        info = json.loads((out / LOCK_NAME).read_text())
        return f"pid {info['pid']} on {info['host']}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


@contextlib.contextmanager
def run_dir_lock(out: Path) -> Iterator[None]:
    """Hold the exclusive lock of run directory ``out`` (which must exist) for the
    block; raises :class:`RunDirBusyError` at once if another process holds it."""
    import fcntl  # POSIX only; imported here so that reading runs works anywhere

    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise RunDirBusyError(
                f"--out '{out}': in use by another driftlab process ({holder(out)}); "
                "wait for it to finish or stop it, then rerun"
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:500],
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock
