"""nib's log lines on stderr, as text or as one JSON object per line: the ``nib`` logger and those
below it, and the access log (``access``).

A line written while a request is served carries that request's ID (``REQUEST_ID``, set by the
pipeline for the request's task; worker threads inherit it), so an error line joins its access
line. Access lines skip the ``logging`` machinery (a record, the caller's frame, handler chain:
~20 µs a line, an eighth of a cached GET's CPU) and are written straight to the same stream, in the
same format, under the same lock.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import orjson

FORMATS = ("text", "json")
REQUEST_ID: ContextVar[str] = ContextVar("nib_request_id", default="")


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """The handler ``configure`` installs (told apart from any an embedding program adds)."""


_handler: _Handler | None = None


def configure(format: str) -> None:
    """Send ``nib*`` log records (from WARNING, as before) and access lines to stderr in
    ``format`` (``text`` or ``json``). Calling it again replaces what it installed."""
    global _handler
    if format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, got {format!r}")
    logger = logging.getLogger("nib")
    if _handler is not None:
        logger.removeHandler(_handler)
    _handler = _Handler(sys.stderr)
    _handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    logger.addHandler(_handler)
    logger.propagate = False
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def access(fields: dict[str, Any], text: Callable[[dict[str, Any]], str]) -> None:
    """One access line (logger ``nib.access``): ``fields`` as JSON, or ``text(fields)``."""
    handler = _handler
    if handler is None:
        return
    stamp = _stamp(time.time())
    if isinstance(handler.formatter, JsonFormatter):
        line = orjson.dumps({"time": stamp, "level": "info", "logger": "nib.access", **fields}).decode()
    else:
        line = f"{stamp} INFO nib.access {text(fields)}"
    handler.acquire()
    try:
        handler.stream.write(line + "\n")
        handler.stream.flush()
    finally:
        handler.release()


_second: tuple[int, str] = (0, "")


def _stamp(now: float) -> str:
    """``now`` as ISO 8601 UTC with milliseconds; the seconds' text is computed once a second."""
    global _second
    whole = int(now)
    second = _second
    if second[0] != whole:
        second = _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{second[1]}.{int((now - whole) * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """``<UTC time> <LEVEL> <logger> <message> [request=<id>]``, then the traceback if any."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_stamp(record.created)} {record.levelname} {record.name} {record.getMessage()}"
        if request_id := REQUEST_ID.get():
            line += f" request={request_id}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's ID, the traceback
    as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": _stamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if request_id := REQUEST_ID.get():
            entry["requestId"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()
