"""Progress of a run, readable on a terminal and in a log file.

A run advances in chunks whose sizes follow its record schedule: the first chunks are
single steps (records are log-spaced: steps 1, 2, 3, ...) and the very first one includes
the JIT compilation. A rate taken from those chunks is wildly wrong (a 2-minute run once
showed an ETA of 29:50:40), so :class:`Progress` ignores everything up to the end of this
process's first update and measures speed only over the steps after it.

Two modes, chosen by whether the stream is a terminal:

* on a terminal, one line rewritten in place (``\\r``), truncated to the terminal width and
  redrawn at most ten times a second;
* otherwise (log files, CI, cluster jobs), a full line each time the run crosses another
  ``every_fraction`` of its steps or ``every_seconds`` have passed since the last line, so
  a 2-minute run writes about twenty lines and a 10-hour run one a minute; every line says
  where the run is, how fast it goes, when it should end and the recorders' last values.

Both modes start with a line saying whether the run starts or resumes, and
:meth:`Progress.close` ends with a line saying how far the run got, in how long, how fast.
This module has no JAX in it: the run loop calls :meth:`Progress.update` with plain ints.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TextIO

__all__ = ["Progress", "format_duration"]

_MIN_SPAN = 0.5  # seconds after the first update before a rate means anything
_REDRAW = 0.1  # seconds between redraws on a terminal: at most ten a second


def format_duration(seconds: float) -> str:
    """``M:SS`` under an hour, ``H:MM:SS`` under a day, ``Nd HH:MM:SS`` beyond.

    Rounded to the nearest second; negative durations read ``0:00``, and an infinite or
    undefined one ``--`` (what an ETA shows before a speed can be measured).
    """
    if not math.isfinite(seconds):
        return "--"
    total = max(0, round(seconds))
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}:{minutes:02d}:{secs:02d}"
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def _format_rate(rate: float) -> str:
    """A speed with the digits that matter: ``3,900``, ``12.5``, ``0.42``."""
    if rate >= 100:
        return f"{rate:,.0f}"
    if rate >= 10:
        return f"{rate:.1f}"
    return f"{rate:.2f}"


class Progress:
    """The progress of one run: a start line, progress after every chunk, a final line.

    ``total``: the run's last step; ``initial``: the step this process starts from (over 0
    for a resumed run); ``networks``: how many networks the batch trains (each step advances
    all of them). ``stream`` defaults to ``sys.stderr`` and ``tty`` to ``stream.isatty()``.
    ``clock`` gives seconds (tests pass a fake one). Without a terminal a line is written
    when the run crosses another multiple of ``every_fraction`` of ``total`` or
    ``every_seconds`` after the previous line.

    Speed is in steps per second of the batch (and, with several networks, network-steps
    per second). It is measured from the end of this process's first update, whose chunk
    includes compiling, over a sliding window: the last ``window_seconds`` (30 s) of
    updates, or all of them since the first while the run is younger than that. A window
    rather than the whole span because a long run speeds up as its log-spaced records thin
    out, and slows down when the accelerator is shared; 30 s still averages over many
    chunks and their periodic records and checkpoints. Until two updates half a second
    apart exist, speed and ETA read ``--``. The final line reports the mean over the whole
    span since the first update.

    ``name`` replaces the line's head (``training N networks``) and ``unit`` the word
    ``steps``: a sweep counts network-steps over all its runs
    (:mod:`driftlab.sweep.execute`). ``counts=False`` shows the percentage, ETA and
    elapsed time but not the counts and speed, for a total in units that mean
    nothing to a reader (``driftlab reproduce`` counts estimated seconds of work
    and changes ``name`` as it moves from one experiment to the next).
    """

    def __init__(
        self,
        total: int,
        initial: int,
        networks: int,
        *,
        label: str = "training",
        stream: TextIO | None = None,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        every_fraction: float = 0.05,
        every_seconds: float = 60.0,
        window_seconds: float = 30.0,
        name: str | None = None,
        unit: str = "steps",
        counts: bool = True,
    ) -> None:
        if every_fraction <= 0 or every_seconds <= 0 or window_seconds <= 0:
            raise ValueError("every_fraction, every_seconds and window_seconds must be > 0")
        self.total, self.initial, self.networks = int(total), int(initial), int(networks)
        self.stream: TextIO = sys.stderr if stream is None else stream
        self.tty = _isatty(self.stream) if tty is None else tty
        self.clock = clock
        self.every_fraction, self.every_seconds = every_fraction, every_seconds
        self.window_seconds = window_seconds
        self.name = name or f"{label} {networks} network{'' if networks == 1 else 's'}"
        self.unit = unit
        self.counts = counts
        self.step = self.initial
        self.postfix: dict[str, str] = {}
        self.updates = 0
        self.closed = False
        self.t_start = clock()
        self._first: tuple[float, int] | None = None  # (time, step) after the first update
        self._last_update = self.t_start
        self._window: deque[tuple[float, int]] = deque()  # samples, oldest first
        self._dirty = False  # an update that no line shows yet
        self._drawn = False  # a progress line is on the terminal, without its newline
        self._last_draw = -math.inf
        self._last_line = self.t_start
        self._last_bucket = self._bucket(self.initial)
        if not counts:
            pct = 100 if self.total <= 0 else math.floor(100 * self.initial / self.total)
            start = f"resuming at {pct}%" if self.initial > 0 else "starting"
        elif self.initial >= self.total:
            start = f"nothing to run, already at step {self.initial:,} of {self.total:,}"
        elif self.initial > 0:
            start = f"resuming from step {self.initial:,} of {self.total:,}"
        else:
            start = f"starting at step 0 of {self.total:,}"
        self._write(f"{self.name}: {start}\n")

    # ---------------------------------------------------------------- measurements

    @property
    def rate(self) -> float | None:
        """Steps per second over the window, or None while not measurable yet."""
        if self._first is None or not self._window:
            return None
        now, step = self._last_update, self.step
        if now - self._first[0] < _MIN_SPAN:
            return None
        t0, s0 = self._window[0]
        return (step - s0) / (now - t0) if now > t0 else None

    @property
    def eta(self) -> float | None:
        """Seconds until ``total`` at :attr:`rate`, as of the last update; None if unknown."""
        if self.step >= self.total:
            return 0.0
        rate = self.rate
        if rate is None or rate <= 0:
            return None
        return (self.total - self.step) / rate

    @property
    def elapsed(self) -> float:
        """Seconds since this object was made (the process's share of the run)."""
        return self.clock() - self.t_start

    # ---------------------------------------------------------------- the loop's calls

    def update(self, step: int, postfix: Mapping[str, str] | None = None) -> None:
        """The run is at absolute ``step`` after a chunk; ``postfix``: the recorders' last
        values to show (None keeps the previous ones). Ignored after :meth:`close`."""
        if self.closed:
            return
        now = self.clock()
        self.step = int(step)
        if postfix is not None:
            self.postfix = dict(postfix)
        self.updates += 1
        self._last_update = now
        if self._first is None:
            self._first = (now, self.step)
            self._window.append((now, self.step))
        else:
            # samples at least 1% of the window apart bound the memory of many tiny chunks
            if now - self._window[-1][0] >= self.window_seconds / 100:
                self._window.append((now, self.step))
            # keep the newest sample at or before the window's start as the anchor
            while len(self._window) >= 2 and self._window[1][0] <= now - self.window_seconds:
                self._window.popleft()
        self._dirty = True
        if self.tty:
            if now - self._last_draw >= _REDRAW:
                self._draw(now)
        else:
            bucket = self._bucket(self.step)
            if bucket > self._last_bucket or now - self._last_line >= self.every_seconds:
                self._line(now)

    def close(self) -> None:
        """The final line: how far the run got, in how long, how fast. Safe to call twice.

        The last progress line is brought up to date first (on a terminal it stays, ended
        by a newline), so the recorders' last values are on screen and in the log."""
        if self.closed:
            return
        self.closed = True
        now = self.clock()
        if self._dirty:
            if self.tty:
                self._draw(now)
            else:
                self._line(now)
        if self._drawn:
            self._write("\n")
            self._drawn = False
        if self.updates == 0 and self.initial >= self.total:
            return  # the start line said there was nothing to run
        self._write(f"{self.name}: {self._summary(now)}\n")

    # ---------------------------------------------------------------- text

    def line(self, width: int | None = None) -> str:
        """The progress line for the last update, e.g. ``training 1 network  45%  90,000/
        200,000 steps  3,900 steps/s  ETA 0:28  elapsed 0:23  loss -1.21  active 0.30``.

        With a ``width`` (a terminal), the parts that matter least go first until the line
        fits: the network-steps/s, the elapsed time, then the recorders' values from the
        last; a line still too wide is cut. Step, speed and ETA come first so a cut spares
        them."""
        pct = 100 if self.total <= 0 else math.floor(100 * self.step / self.total)
        rate = self.rate
        speed = "--" if rate is None else _format_rate(rate)
        head = [self.name, f"{pct:3d}%"]
        network_rate = ""
        if self.counts:
            head += [f"{self.step:,}/{self.total:,} {self.unit}", f"{speed} {self.unit}/s"]
            if rate is not None and self.networks > 1:
                network_rate = f" ({_format_rate(rate * self.networks)} network-steps/s)"
        eta = f"ETA {format_duration(math.inf if self.eta is None else self.eta)}"
        elapsed = f"elapsed {format_duration(self._last_update - self.t_start)}"
        extra = [f"{key} {value}" for key, value in self.postfix.items()]

        def join(network: str, parts: list[str]) -> str:
            return "  ".join([*head[:-1], head[-1] + network, eta, *parts])

        text = join(network_rate, [elapsed, *extra])
        if width is None or len(text) <= width:
            return text
        candidates = [join("", [elapsed, *extra])]
        candidates += [join("", extra[:k]) for k in range(len(extra), -1, -1)]
        for candidate in candidates:
            if len(candidate) <= width:
                return candidate
        return candidates[-1][:width]

    def _speed(self, rate: float) -> str:
        """``3,900 steps/s``, with network-steps/s in brackets for several networks."""
        text = f"{_format_rate(rate)} {self.unit}/s"
        if self.networks > 1:
            text += f" ({_format_rate(rate * self.networks)} network-steps/s)"
        return text

    def _summary(self, now: float) -> str:
        if not self.counts:
            pct = 100 if self.total <= 0 else math.floor(100 * self.step / self.total)
            head = "done" if pct >= 100 else f"stopped at {pct}%"
            return f"{head} in {format_duration(now - self.t_start)}"
        ran = self.step - self.initial
        where = f"step {self.step:,} of {self.total:,}"
        if self.step >= self.total:
            head = f"done {self.total:,} {self.unit}" if self.initial == 0 else f"done, at {where}"
        else:
            pct = 0 if self.total <= 0 else math.floor(100 * self.step / self.total)
            head = f"stopped at {where} ({pct}%)"
        if self.updates == 0:
            return f"{head}, no steps run"
        if self.initial > 0:
            head += f": {ran:,} {self.unit} from step {self.initial:,}"
        text = f"{head} in {format_duration(now - self.t_start)}"
        first = self._first
        assert first is not None  # at least one update
        span = self._last_update - first[0]
        if self.updates >= 2 and span > 0:
            mean = (self.step - first[1]) / span
            first_chunk = format_duration(first[0] - self.t_start)
            return f"{text} at {self._speed(mean)}; first chunk {first_chunk} incl. compiling"
        whole = self._last_update - self.t_start
        return f"{text} at {self._speed(ran / whole)}" if whole > 0 else text

    # ---------------------------------------------------------------- output

    def _bucket(self, step: int) -> int:
        """Which multiple of ``every_fraction`` of the total ``step`` has reached."""
        if self.total <= 0:
            return 0
        return math.floor(step / self.total / self.every_fraction + 1e-9)

    def _draw(self, now: float) -> None:
        """Rewrite the terminal line, fitted and padded to the width (less one column, so
        that no terminal wraps it; the padding clears a longer previous line)."""
        width = max(1, shutil.get_terminal_size().columns - 1)
        self._write("\r" + self.line(width).ljust(width))
        self._drawn, self._dirty, self._last_draw = True, False, now

    def _line(self, now: float) -> None:
        """A full, self-contained line for a log."""
        self._write(self.line() + "\n")
        self._dirty, self._last_line = False, now
        self._last_bucket = self._bucket(self.step)

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal; False for streams that cannot tell (or are closed)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False
