"""Progress of long commands (backup, restore, export, import, migration): bars on a terminal,
plain log lines otherwise (a cron job's mail, a CI log, a pipe).

A command opens one ``Progress`` and starts a ``Step`` per phase; code doing the work only calls
``step.advance(n)``. Log lines are written when a step starts, about every 10% or 5 seconds of
it, and when it ends, so a log stays short whatever the count.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

_LOG_EVERY_SECONDS = 5.0


class Step(Protocol):
    def advance(self, amount: int = 1) -> None: ...


class Progress(Protocol):
    def step(self, description: str, total: int | None = None, *, unit: str = "items") -> Step:
        """A phase of ``total`` units (``None``: unknown); it ends when the next step starts or
        the progress closes."""


@contextmanager
def progress(stream: TextIO | None = None, *, bars: bool | None = None) -> Iterator[Progress]:
    """Progress reported on ``stream`` (stderr): bars when it is a terminal (or ``bars``)."""
    stream = stream or sys.stderr
    if bars if bars is not None else stream.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed}/{task.total} {task.fields[unit]}"),
            TimeRemainingColumn(),
        )
        with RichProgress(*columns, console=Console(file=stream)) as view:
            yield _Bars(view)
        return
    lines = _Lines(stream)
    try:
        yield lines
    finally:
        lines.end()


class _Bars:
    def __init__(self, view: RichProgress) -> None:
        self._view = view
        self._current: TaskID | None = None

    def step(self, description: str, total: int | None = None, *, unit: str = "items") -> Step:
        if self._current is not None:
            self._view.update(self._current, completed=self._view.tasks[self._current].total or 0)
        self._current = self._view.add_task(description, total=total, unit=unit)
        return _BarStep(self._view, self._current)


class _BarStep:
    def __init__(self, view: RichProgress, task: TaskID) -> None:
        self._view, self._task = view, task

    def advance(self, amount: int = 1) -> None:
        self._view.advance(self._task, amount)


class _Lines:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._current: _LineStep | None = None

    def step(self, description: str, total: int | None = None, *, unit: str = "items") -> Step:
        self.end()
        self._current = _LineStep(self._stream, description, total, unit)
        return self._current

    def end(self) -> None:
        if self._current is not None:
            self._current.finish()
            self._current = None


class _LineStep:
    def __init__(self, stream: TextIO, description: str, total: int | None, unit: str) -> None:
        self._stream, self._description, self._total, self._unit = stream, description, total, unit
        self._done = 0
        self._started = self._logged_at = time.monotonic()
        self._tenths = 0  # tenths of the total already logged
        self._write(f"{description}: started" + (f", {total} {unit}" if total is not None else ""))

    def advance(self, amount: int = 1) -> None:
        self._done += amount
        now = time.monotonic()
        tenths = self._done * 10 // self._total if self._total else 0
        if tenths > self._tenths or now - self._logged_at >= _LOG_EVERY_SECONDS:
            self._tenths, self._logged_at = tenths, now
            of = f"/{self._total}" if self._total is not None else ""
            self._write(f"{self._description}: {self._done}{of} {self._unit}")

    def finish(self) -> None:
        seconds = time.monotonic() - self._started
        self._write(f"{self._description}: done, {self._done} {self._unit} in {seconds:.1f} s")

    def _write(self, line: str) -> None:
        self._stream.write(line + "\n")
        self._stream.flush()
