"""The session cookies and the ``X-Fallback-Cookies`` header.

Two cookies, the ``_legacy`` one first and the main one last (clients read the last
``Set-Cookie``). The main cookie is ``SameSite=None``, which browsers only keep with ``Secure``:
over plain http (local development) the legacy cookie keeps the browser signed in.
``Secure`` is sent when the request came over https, including behind a proxy that says so in
``X-Forwarded-Proto`` (as Appwrite, whose protocol comes from that header).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from email.utils import format_datetime

import orjson

from ..auth.credentials import cookie_name
from ..tools.validators import request_host

# A fixed past date for clearing cookies.
_EXPIRED = "Thu, 01 Jan 1970 00:00:00 GMT"


def cookie_domain(host: str) -> str | None:
    """``.<host>`` for a real hostname; none for localhost and IP addresses."""
    name = request_host(host).strip("[]")
    if not name or name == "localhost":
        return None
    try:
        ipaddress.ip_address(name)
        return None
    except ValueError:
        return "." + name


def _cookies(project_id: str, value: str, expires: str, host: str, secure: bool) -> list[str]:
    attributes = [f"expires={expires}", "path=/"]
    domain = cookie_domain(host)
    if domain:
        attributes.append(f"domain={domain}")
    if secure:
        attributes.append("secure")
    attributes.append("httponly")
    name = cookie_name(project_id)
    tail = "; ".join(attributes)
    return [f"{name}_legacy={value}; {tail}", f"{name}={value}; {tail}; samesite=None"]


def session_cookies(project_id: str, encoded: str, expire: datetime, host: str, secure: bool) -> list[str]:
    """Set-Cookie values that sign a browser in until ``expire``."""
    return _cookies(project_id, encoded, format_datetime(expire, usegmt=True), host, secure)


def cleared_cookies(project_id: str, host: str, secure: bool) -> list[str]:
    """Set-Cookie values that sign a browser out (value ``deleted``, expiry in the past)."""
    return _cookies(project_id, "deleted", _EXPIRED, host, secure)


def fallback_header(project_id: str, encoded: str | None) -> str:
    """``X-Fallback-Cookies``: the session for clients without cookies, ``[]`` after logout."""
    return orjson.dumps({cookie_name(project_id): encoded}).decode() if encoded else "[]"
