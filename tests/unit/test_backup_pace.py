"""The backup's rate cap (``nib backup --max-rate``): parsing a rate, and the pace it holds."""

from __future__ import annotations

import pytest

from nib.operations.backups import Pace, parse_rate


@pytest.mark.parametrize(
    ("text", "rate"), [("150M", 150e6), ("1.5g", 1.5e9), ("500k", 500e3), ("1000", 1000.0), (" 2 M ", 2e6)]
)
def test_a_rate_is_bytes_a_second(text, rate):
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["fast", "0", "-5M", "5T", "", "1e9", "150MB/s"])
def test_anything_else_is_refused(text):
    with pytest.raises(ValueError, match="is not a rate: give a positive number of bytes a second"):
        parse_rate(text)


class FakeTime:
    """A clock that moves only when slept on (or told to)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_chunks_pass_at_the_rate():
    time = FakeTime()
    pace = Pace(100.0, time.clock, time.sleep)
    assert list(pace.wrap([b"a" * 50] * 4)) == [b"a" * 50] * 4
    assert time.slept == [0.5, 0.5, 0.5]  # the first at once, then one every 50/100 s


def test_a_slow_source_earns_no_burst():
    time = FakeTime()
    pace = Pace(100.0, time.clock, time.sleep)
    chunks = pace.wrap(b"x" * 50 for _ in range(3))
    next(chunks)
    time.now += 10  # the source took 10 s for the next chunk: it passes at once
    next(chunks)
    next(chunks)  # but the one after it still waits its half second
    assert time.slept == [0.5]


def test_streams_share_one_pace():
    time = FakeTime()
    pace = Pace(100.0, time.clock, time.sleep)
    first, second = pace.wrap([b"1" * 100] * 2), pace.wrap([b"2" * 100] * 2)
    for stream in (first, second, first, second):
        next(stream)
    assert time.slept == [1.0, 1.0, 1.0]  # 400 bytes at 100 a second, whichever stream sends


def test_no_rate_never_waits():
    time = FakeTime()
    assert list(Pace(None, time.clock, time.sleep).wrap([b"z"] * 1000)) == [b"z"] * 1000
    assert time.slept == []
