"""The errors a user sees, each with its one-line message and the command line's exit code.

This module imports nothing heavy, so the command line can catch every error
without loading JAX. Exit codes (also in the README, "Exit codes"):

== =====================================================================
0  success
1  every network of the run diverged (the run itself is complete)
2  bad input: a config (:class:`ConfigError`), an argument, an ``--out`` that
   cannot hold the run, a damaged run directory (:class:`DamagedRunError`)
3  the run directory is in use by another process (:class:`RunDirBusyError`)
4  a file could not be written during the run, e.g. a full disk
   (:class:`RunIOError`); rerun to resume
130 stopped by Ctrl-C (SIGINT), 143 by SIGTERM (:class:`RunInterruptedError`);
   rerun to resume
== =====================================================================
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUSY, EXIT_IO = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


class DriftlabError(Exception):
    """An error whose message is one line meant for the user; ``exit_code`` is what
    the command line exits with."""

    exit_code = EXIT_FAILED


class ConfigError(DriftlabError, ValueError):
    """A configuration value is not allowed; the message names the field."""

    exit_code = EXIT_USAGE


class RunDirError(ConfigError):
    """The output directory cannot hold this run or sweep (the message says why)."""


class DamagedRunError(DriftlabError, ValueError):
    """A file of a run directory cannot be read or does not fit the run; the message
    names the file and what to do."""

    exit_code = EXIT_USAGE


class RunDirBusyError(DriftlabError, RuntimeError):
    """Another process holds the run directory's lock (the message says which)."""

    exit_code = EXIT_BUSY


class RunStoppedError(DriftlabError):
    """The run stopped before its end and resumes when rerun; ``step``: the step of
    its last checkpoint, where the rerun continues."""

    exit_code = EXIT_IO

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


class RunIOError(RunStoppedError):
    """A file of the run could not be written (a full disk, a read-only file system)."""


class RunInterruptedError(RunStoppedError):
    """Stopped by SIGINT (Ctrl-C) or SIGTERM (``signum``), after a checkpoint; the
    exit code is the shell's convention, 128 + the signal number."""

    def __init__(self, message: str, step: int, signum: int) -> None:
        super().__init__(message, step)
        self.signum = signum
        self.exit_code = 128 + signum
