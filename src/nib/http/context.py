"""What a handler is given: the request's ``Context`` and, on streaming routes, its ``RequestBody``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timezone

import anyio.from_thread

from ..auth import principals
from ..auth.projects import AuthPolicies, auth_policies
from ..auth.roles import request_roles
from ..data.db import Database
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from . import cookies
from .params import MAX_BODY_BYTES

BATCH_BYTES = 1 << 20  # body bytes per hop between the event loop and the handler's thread


class RequestBody:
    """The body of a streaming route, iterated from the handler's worker thread.

    The bytes are gathered on the event loop in pieces of up to ``BATCH_BYTES`` (the server hands
    over what each socket read brought, 64-256 KiB: a thread hop for each cost more than the
    bytes), and the next piece is gathered while the handler writes the last one, so reading the
    socket and writing the file overlap. The server stops reading the socket while its buffer is
    full, so memory stays bounded by two pieces. More than ``MAX_BODY_BYTES`` (Appwrite's 12 MiB
    request limit) is refused with 413, up front when ``Content-Length`` says so; a client that
    disconnects ends the upload with an error.
    """

    def __init__(self, receive, content_length: str | None) -> None:
        self._receive = receive
        self._done = False
        self._loop: asyncio.AbstractEventLoop | None = None
        if content_length and content_length.isdigit() and int(content_length) > MAX_BODY_BYTES:
            raise _too_large()

    def __iter__(self) -> Iterator[bytes]:
        if self._done:
            return
        size = 0
        pending: Future | None = None
        try:
            pieces, more = anyio.from_thread.run(self._gather)
            while True:
                size += sum(map(len, pieces))
                if size > MAX_BODY_BYTES:
                    raise _too_large()
                if more:
                    assert self._loop is not None, "set by the first _gather"
                    pending = asyncio.run_coroutine_threadsafe(self._gather(), self._loop)
                yield from pieces
                if not more:
                    return
                assert pending is not None
                pieces, more = pending.result()
                pending = None
        finally:
            self._done = True
            if pending is not None:  # the consumer stopped early: stop reading for it
                pending.cancel()

    async def _gather(self) -> tuple[list[bytes], bool]:
        """On the event loop: the next messages' bytes, up to ``BATCH_BYTES`` (one socket read
        may add more; not joined, a copy the event loop would make), and whether more follow."""
        self._loop = asyncio.get_running_loop()
        pieces: list[bytes] = []
        size = 0
        more = True
        while more and size < BATCH_BYTES:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise AppwriteError("general_argument_invalid", "The request body ended early.")
            piece = message.get("body", b"")
            more = message.get("more_body", False)
            if piece:
                pieces.append(piece)
                size += len(piece)
        return pieces, more


# The response format of a request without X-Appwrite-Response-Format: the newest.
NEWEST_FORMAT = (999,)


def _too_large() -> AppwriteError:
    return AppwriteError("general_argument_invalid", "Request body is larger than 12 MiB.", status=413)


@dataclass
class Context:
    """What a handler may know about its request: no HTTP objects, only facts.

    A handler that signs a browser in or out calls ``sign_in``/``sign_out``; the pipeline adds
    the cookies and headers to the response. A handler that acts for a user who is not yet the
    principal (sign-up, sign-in) names them in ``actor`` for the audit log.
    """

    db: Database
    settings: Settings
    principal: principals.Principal
    ip: str
    user_agent: str
    host: str = ""
    secure: bool = False
    timestamp: str = ""  # X-Appwrite-Timestamp, read by the routes that honour it
    actor: dict | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # the request's (lower-case names)
    # The hosts redirects may go to: the server's and its project's web platforms.
    allowed_hosts: tuple[str, ...] = ()
    body: RequestBody | None = None  # streaming routes only
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    # Running inline on the event loop (GETs on SQLite): a handler leaves blocking work to the
    # response, which runs it in the worker pool.
    on_event_loop: bool = False
    # The handler answered without doing what its route declares (an OAuth2 sign-in that ends on
    # its failure URL): no audit entry, no event.
    declined: bool = False
    # The route's event (http/events.py), where the response alone does not say it all: IDs of
    # its placeholders, the payload of a delete (the deleted resource), the roles that may
    # read a file (its bucket's read roles, and its own under fileSecurity).
    event_params: dict[str, str] = field(default_factory=dict)
    event_payload: dict | None = None
    event_roles: list[str] | None = None
    # The pattern to announce instead of the route's, when one route ends in either of two
    # writes (the OAuth2 redirect creates a session, or a token in the token flow).
    event: str | None = None

    @property
    def project_id(self) -> str:
        return self.principal.project_id

    @property
    def policies(self) -> AuthPolicies:
        """The project's auth policies (session length, password rules…), through their 1 s cache."""
        return auth_policies(self.db, self.project_id)

    def format_at_least(self, *version: int) -> bool:
        """Whether the client reads responses of format ``version`` or newer
        (``X-Appwrite-Response-Format``, e.g. ``1.5.0`` from a 1.5-era SDK): models leave out the
        fields added since then for older formats, as Appwrite's response filters do. No header,
        or one that is no version, means the newest."""
        header = self.headers.get("x-appwrite-response-format", "")
        if not header:
            return True
        try:
            requested = tuple(int(part) for part in header.split("."))
        except ValueError:
            requested = NEWEST_FORMAT
        return requested >= version

    def roles(self) -> list[str] | None:
        """The caller's roles (one read of its confirmed memberships); ``None`` for an API key,
        which bypasses permission checks."""
        return None if self.principal.is_key else request_roles(self.db, self.principal)

    def sign_in(self, encoded: str, expire: datetime) -> None:
        """Session cookies and ``X-Fallback-Cookies`` for a new session."""
        for value in cookies.session_cookies(self.project_id, encoded, expire, self.host, self.secure):
            self.response_headers.append(("set-cookie", value))
        self.response_headers.append(("x-fallback-cookies", cookies.fallback_header(self.project_id, encoded)))

    def unchanged_since(self) -> datetime | None:
        """The ``X-Appwrite-Timestamp`` of an update that must not overwrite a newer change
        (409 ``document_update_conflict`` then); ``None`` without the header."""
        if not self.timestamp:
            return None
        try:
            moment = datetime.fromisoformat(self.timestamp)
        except ValueError:
            raise AppwriteError("general_argument_invalid", "Invalid X-Appwrite-Timestamp header value") from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)

    def sign_out(self) -> None:
        """Clear the session cookies (``deleted``) and send ``X-Fallback-Cookies: []``."""
        for value in cookies.cleared_cookies(self.project_id, self.host, self.secure):
            self.response_headers.append(("set-cookie", value))
        self.response_headers.append(("x-fallback-cookies", cookies.fallback_header(self.project_id, None)))
