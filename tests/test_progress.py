"""The progress display, driven by a fake clock: no JAX, no sleeping, no terminal needed."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import pytest

from driftlab.runner.progress import Progress, format_duration


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Log(io.StringIO):
    """A stream that also remembers, for each write, the fake time it happened at."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.times: list[float] = []

    def write(self, s: str) -> int:
        self.times.extend(self.clock.now for _ in range(s.count("\n")))
        return super().write(s)


def _seconds(text: str) -> float:
    """Inverse of format_duration, for the ETAs the lines show."""
    days = 0
    if "d " in text:
        d, text = text.split("d ")
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts
    return days * 86400 + h * 3600 + m * 60 + s


def _etas(text: str) -> list[str]:
    return re.findall(r"ETA (\S+)", text)


def _record_chunks(total: int, chunk: int) -> list[int]:
    """Chunk ends as the run loop makes them: log-spaced record targets, chunks at most
    ``chunk`` steps, so the first chunks are single steps."""
    targets = np.unique(np.geomspace(1, total, 120).astype(int))
    ends, current = [], 0
    for target in targets:
        while current < target:
            current += min(chunk, int(target) - current)
            ends.append(current)
    return ends


def test_format_duration() -> None:
    assert format_duration(0) == "0:00"
    assert format_duration(51.4) == "0:51"
    assert format_duration(28 * 60 + 5) == "28:05"
    assert format_duration(3600 * 29 + 50 * 60 + 40) == "1d 05:50:40"
    assert format_duration(3600 * 2 + 5) == "2:00:05"
    assert format_duration(-3) == "0:00"
    assert format_duration(float("inf")) == "--"
    assert format_duration(float("nan")) == "--"


@pytest.mark.parametrize("tty", [False, True])
def test_eta_ignores_the_compiling_first_chunk(tty: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a: os.terminal_size((300, 24)))
    clock, total = Clock(), 200_000
    log = Log(clock)
    p = Progress(total, 0, 1, stream=log, tty=tty, clock=clock)
    clock.now += 5.0  # compiling, and one step
    p.update(1)
    assert p.eta is None
    assert _etas(log.getvalue()) in ([], ["--"])
    speed = 10_000 / 2.5
    step, checked = 1, False
    while step < total:
        n = min(10_000, total - step)
        clock.now += n / speed
        step += n
        p.update(step, {"loss": "-1.21"})
        true_remaining = (total - step) / speed
        eta = p.eta
        assert eta is not None
        assert eta <= 2 * true_remaining + 1
        if p.updates == 3:
            assert eta == pytest.approx(true_remaining, rel=0.1)
            checked = True
    p.close()
    assert checked
    # every ETA a line showed, against the time that was truly left when it was shown
    lines = re.split(r"[\r\n]", log.getvalue())
    shown = [(_seconds(e), line) for line in lines for e in _etas(line) if e != "--"]
    assert shown
    for eta_s, line in shown:
        step_shown = int(re.search(r"([\d,]+)/200,000 steps", line)[1].replace(",", ""))  # type: ignore[index]
        assert eta_s <= 2 * (total - step_shown) / speed + 1, line


@pytest.mark.parametrize("speed", [4_000.0, 1_600.0])
def test_log_of_a_short_run_has_few_lines(speed: float) -> None:
    clock, total = Clock(), 200_000
    log = Log(clock)
    p = Progress(total, 0, 1, stream=log, tty=False, clock=clock)
    for i, end in enumerate(_record_chunks(total, 10_000)):
        previous = p.step
        clock.now += (5.0 if i == 0 else 0.0) + (end - previous) / speed + 0.002
        p.update(end, {"loss": "-1.21", "active": "0.30"})
    p.close()
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text
    assert text.endswith("\n")
    assert 20 <= len(lines) <= 25
    assert lines[0] == "training 1 network: starting at step 0 of 200,000"
    assert lines[-1].startswith("training 1 network: done 200,000 steps in ")
    assert "100%  200,000/200,000 steps" in lines[-2]
    for line in lines[1:-1]:  # self-contained progress lines
        assert "steps/s" in line
        assert "ETA " in line
        assert "loss -1.21" in line


def test_log_of_a_long_run_has_a_line_a_minute() -> None:
    clock, total, speed, chunk = Clock(), 100_000_000, 2_800.0, 10_000
    log = Log(clock)
    p = Progress(total, 0, 1, stream=log, tty=False, clock=clock)
    t0 = clock.now
    for end in _record_chunks(total, chunk):
        clock.now += (end - p.step) / speed + 0.001
        p.update(end, {"loss": "0.5"})
    p.close()
    hours = (clock.now - t0) / 3600
    assert 9.5 < hours < 10.5
    gaps = np.diff(log.times)
    assert gaps.max() <= p.every_seconds + chunk / speed + 0.01
    assert len(log.times) <= hours * 60 + 20 + 5
    last = log.getvalue().splitlines()[-1]
    assert "done 100,000,000 steps in 9:" in last or "done 100,000,000 steps in 10:" in last


@pytest.mark.parametrize("width", [110, 40])
def test_terminal_line_fits_and_is_throttled(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.get_terminal_size", lambda *a: os.terminal_size((width, 24)))
    clock, total = Clock(), 100_000
    log = Log(clock)
    p = Progress(total, 0, 4, stream=log, tty=True, clock=clock)
    long = {"loss": "-1.2345", "active": "0.30", "place_fields": "12.5", "drift": "0.004"}
    for step in range(100, total + 1, 100):  # 1,000 updates over 10 s of fake time
        clock.now += 0.01
        p.update(step, long)
    p.close()
    text = log.getvalue()
    lines = text.split("\n")
    assert lines[0] == "training 4 networks: starting at step 0 of 100,000"
    assert lines[1].startswith("\r")
    progress = lines[1].split("\r")[1:]
    assert all(len(seg) == width - 1 for seg in progress)  # padded, and never wraps
    assert 2 <= len(progress) <= 10 * 10 + 2  # at most ~10 redraws a second
    assert lines[2].startswith("training 4 networks: done 100,000 steps in 0:10 at ")
    assert "(40,000 network-steps/s)" in lines[2]
    assert lines[3:] == [""]  # the output ends with a newline
    # the last drawn line is up to date, though its update came within the throttle
    done = "training 4 networks  100%  100,000/100,000 steps  10,000 steps/s  ETA 0:00"
    assert progress[-1].startswith(done[: width - 1])
    if width == 110:  # what matters least gave way, the ETA and the first values stayed
        last = progress[-1].rstrip()
        assert last.endswith("ETA 0:00  loss -1.2345  active 0.30")
        assert "network-steps/s" not in last


def test_resume_says_so() -> None:
    clock = Clock()
    log = Log(clock)
    p = Progress(200_000, 86_000, 4, stream=log, tty=False, clock=clock)
    assert "resuming from step 86,000 of 200,000" in log.getvalue()
    clock.now += 3.0
    p.update(96_000)
    clock.now += 2.5
    p.update(106_000)
    p.close()
    last = log.getvalue().splitlines()[-1]
    assert "stopped at step 106,000 of 200,000 (53%)" in last
    assert "20,000 steps from step 86,000 in 0:06" in last
    assert "4,000 steps/s (16,000 network-steps/s)" in last


def test_close_twice_prints_one_final_line() -> None:
    clock = Clock()
    log = Log(clock)
    p = Progress(1_000, 0, 1, stream=log, tty=False, clock=clock)
    clock.now += 1.0
    p.update(1_000)
    p.close()
    once = log.getvalue()
    p.close()
    p.update(1_000)  # ignored once closed
    assert log.getvalue() == once
    assert sum("done 1,000 steps" in line for line in once.splitlines()) == 1


def test_nothing_to_run() -> None:
    clock = Clock()
    log = Log(clock)
    p = Progress(1_000, 1_000, 2, stream=log, tty=False, clock=clock)
    p.close()
    assert log.getvalue() == (
        "training 2 networks: nothing to run, already at step 1,000 of 1,000\n"
    )


def test_stream_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    p = Progress(10, 0, 1, label="hebbian")
    p.update(10)
    p.close()
    err = capsys.readouterr().err
    assert err.startswith("hebbian 1 network: starting at step 0 of 10\n")
    assert "hebbian 1 network: done 10 steps in 0:00" in err


def test_without_counts_a_job_shows_percent_eta_and_elapsed_only() -> None:
    """``counts=False`` (driftlab reproduce): no counts or speeds of a unit that means
    nothing to a reader; the ETA still comes from the measured rate."""
    clock = Clock()
    log = Log(clock)
    bar = Progress(
        1000, 250, 1, name="job [2/9 table1 0%]", stream=log, tty=False, clock=clock, counts=False
    )
    for step in (300, 400, 500):
        clock.now += 10.0
        bar.update(step)
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines[0] == "job [2/9 table1 0%]: resuming at 25%"
    assert any(
        re.fullmatch(r"job \[2/9 table1 0%\]  \s*\d+%  ETA 0:50  elapsed 0:30", x) for x in lines
    )
    assert lines[-1] == "job [2/9 table1 0%]: stopped at 50% in 0:30"
    assert not any("/s" in x or "1,000" in x for x in lines)
