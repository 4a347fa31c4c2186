"""``multipart/form-data`` bodies read as a stream of parts (file uploads).

python-multipart's push parser turned into a pull interface: ``FormReader(body, content_type)``
yields each ``Part`` once its headers are read; a file part's bytes are pulled with
``part.chunks()`` while the body arrives (only what the socket delivered is in memory), a field's
value with ``part.text()`` (bounded). Whatever a consumer leaves unread is skipped when it asks
for the next part.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from ..tools.errors import AppwriteError

MAX_FIELD_BYTES = 64 * 1024  # a form field (fileId, a permission) is short; refuse a flood


def _malformed() -> AppwriteError:
    return AppwriteError("general_argument_invalid", "The multipart/form-data body is malformed.")


class Part:
    """One part: its field ``name``, its ``filename`` (``None`` for a plain field)."""

    def __init__(self, reader: FormReader, name: str, filename: str | None) -> None:
        self._reader = reader
        self.name = name
        self.filename = filename
        self._done = False

    def chunks(self) -> Iterator[bytes]:
        """The part's bytes as they arrive; raises when the body ends inside the part."""
        while not self._done:
            event = self._reader._next_event()
            if event is None:
                self._done = True
                raise AppwriteError("general_argument_invalid", "The request body ended early.")
            if event[0] == "data":
                yield event[1]
            elif event[0] == "end":
                self._done = True

    def text(self) -> str:
        """A field's value (at most ``MAX_FIELD_BYTES``)."""
        collected = bytearray()
        for chunk in self.chunks():
            collected += chunk
            if len(collected) > MAX_FIELD_BYTES:
                raise AppwriteError("general_argument_invalid", f"The form field {self.name!r} is too long.")
        return collected.decode("utf-8", "replace")


class FormReader:
    """The parts of one multipart body, pulled from ``body`` (an iterable of byte chunks)."""

    def __init__(self, body: Iterable[bytes], content_type: str) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise _malformed()
        self._body = iter(body)
        self._events: deque[tuple] = deque()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}
        self._finished = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
                "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": lambda data, start, end: self._events.append(("data", bytes(data[start:end]))),
                "on_part_end": lambda: self._events.append(("end",)),
            },
        )

    def __iter__(self) -> Iterator[Part]:
        while True:
            event = self._next_event()
            if event is None:
                return
            if event[0] != "part":
                continue  # the rest of a part its consumer did not read
            part = event[1]
            yield part
            for _ in part.chunks():
                pass

    # -- parser callbacks ---------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._headers = {}

    def _on_header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        raw_filename = options.get(b"filename")
        filename = None
        if raw_filename is not None:
            # Browsers once sent full client paths; PHP keeps the last component, as here.
            filename = raw_filename.decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
        self._events.append(("part", Part(self, name, filename)))

    # -- pulling ------------------------------------------------------------------------------

    def _next_event(self) -> tuple | None:
        while not self._events:
            if self._finished:
                return None
            chunk = next(self._body, None)
            try:
                if chunk is None:
                    self._finished = True
                    self._parser.finalize()
                else:
                    self._parser.write(chunk)
            except MultipartParseError:
                self._finished = True
                raise _malformed() from None
        return self._events.popleft()
