"""Browsers: CORS headers and Appwrite's origin check.

A request's allowed hosts are the server's own hostname (``Settings.hostname``) and the web
platforms of its project (auth/platforms.py), matched exactly or by ``*.domain`` wildcard.

* An ``Origin`` on an allowed host gets ``Access-Control-Allow-Origin: <origin>`` and
  ``Access-Control-Allow-Credentials: true`` with Appwrite's method/header lists; any other
  origin gets the lists only, so the browser hides the response from the page.
* Origin check (CSRF): a POST/PUT/PATCH/DELETE without a valid API key whose ``Origin`` (or
  ``Referer``) has a host that is not allowed is refused with 403 ``general_unknown_origin``.
  Requests without one pass, and so do origins without a host (``null``, ``file://``), as in
  Appwrite. Other schemes are judged by their host too: ``capacitor://localhost`` passes where
  ``localhost`` is allowed.
* Preflight (``OPTIONS``) is answered before any project is known: browsers send no custom
  headers on it, so, as Appwrite does, the origin is echoed as is. The actual request is then
  judged by the rules above.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from starlette.responses import Response

from ..tools.errors import AppwriteError
from ..tools.validators import hostname_allowed

_ALLOWED_HEADERS = (
    "Origin, Cookie, Set-Cookie, X-Requested-With, Content-Type, Access-Control-Allow-Origin, "
    "Access-Control-Request-Headers, Accept, X-Appwrite-Project, X-Appwrite-Key, X-Appwrite-Locale, "
    "X-Appwrite-Mode, X-Appwrite-JWT, X-Appwrite-Response-Format, X-Appwrite-Timeout, X-SDK-Version, "
    "X-SDK-Name, X-SDK-Language, X-SDK-Platform, X-SDK-GraphQL, X-Appwrite-ID, X-Appwrite-Timestamp, "
    "Content-Range, Range, Cache-Control, Expires, Pragma, X-Forwarded-For, X-Forwarded-User-Agent, "
    "X-Appwrite-Impersonate-User-Id, X-Appwrite-Impersonate-User-Email, X-Appwrite-Impersonate-User-Phone"
)
_LISTS = {
    "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE",
    "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
    "Access-Control-Expose-Headers": "X-Appwrite-Session, X-Fallback-Cookies",
}
# The preflight also allows the session headers the Web SDK sends back after sign-in.
_PREFLIGHT = {
    **_LISTS,
    "Access-Control-Allow-Headers": _ALLOWED_HEADERS + ", X-Appwrite-Session, X-Fallback-Cookies",
    "Access-Control-Allow-Credentials": "true",
}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Origin schemes Appwrite names in its refusal; any other gets "Unsupported platform".
_PLATFORM_NAMES = {
    "http": "Web",
    "https": "Web",
    "appwrite-ios": "iOS",
    "appwrite-macos": "macOS",
    "appwrite-watchos": "watchOS",
    "appwrite-tvos": "tvOS",
    "appwrite-android": "Android",
    "appwrite-windows": "Windows",
    "appwrite-linux": "Linux",
}


def preflight_headers(origin: str | None) -> dict[str, str]:
    """CORS headers of an ``OPTIONS`` answer: the origin echoed (``*`` without one)."""
    return {**_PREFLIGHT, "Access-Control-Allow-Origin": origin or "*"}


class BrowserRequest:
    """Where a request comes from, and the hosts its project allows.

    Made before the project is known (with the server's hostname only); the pipeline adds the
    project's platforms with ``allow`` once it has the project ID.
    """

    def __init__(self, headers: Mapping[str, str], server_hostname: str) -> None:
        self.origin = headers.get("origin") or None
        # Appwrite judges the Origin, or the Referer when a browser sent no Origin.
        self.scheme, self.host = _scheme_and_host(self.origin or headers.get("referer") or "")
        self._server_hostname = server_hostname.lower()
        self.allowed_hosts: tuple[str, ...] = (self._server_hostname,)

    def allow(self, platform_hosts: Sequence[str]) -> None:
        """Allow the project's platform hostnames besides the server's own."""
        self.allowed_hosts = tuple(dict.fromkeys((self._server_hostname, *platform_hosts)))

    def check(self, method: str, has_key: bool) -> None:
        """403 ``general_unknown_origin`` for a keyless write from a host that is not allowed."""
        if method not in _WRITES or has_key:
            return
        self.check_host()

    def check_host(self) -> None:
        """403 ``general_unknown_origin`` when the request comes from a page on a host that is
        not allowed (realtime judges every connection so)."""
        if not self.host or hostname_allowed(self.host, self.allowed_hosts):
            return
        platform = _PLATFORM_NAMES.get(self.scheme)
        if platform is None:
            raise AppwriteError("general_unknown_origin", "Unsupported platform")
        raise AppwriteError(
            "general_unknown_origin",
            f"Invalid Origin. Register your new client ({self.host}) as a new {platform} platform "
            "on your project console dashboard",
        )

    def add_cors_headers(self, response: Response) -> None:
        """CORS headers for a request that sent an ``Origin``; credentials only for allowed hosts."""
        if self.origin is None:
            return
        response.headers.update(_LISTS)
        if self.host and hostname_allowed(self.host, self.allowed_hosts):
            response.headers["Access-Control-Allow-Origin"] = self.origin
            response.headers["Access-Control-Allow-Credentials"] = "true"


def _scheme_and_host(url: str) -> tuple[str, str]:
    """PHP ``parse_url`` scheme and host: empty when absent or unparsable."""
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.hostname or ""
    except ValueError:
        return "", ""
