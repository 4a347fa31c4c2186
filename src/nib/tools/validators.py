"""Parameter validators with Appwrite's exact descriptions.

A validator is a callable ``value -> converted value`` that raises ``Invalid(description)``;
the HTTP layer turns that into 400 ``Invalid `<param>` param: <description>``.
"""

from __future__ import annotations

import functools
import gzip
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeGuard, cast
from urllib.parse import urlsplit


class Invalid(ValueError):
    """A parameter value failed validation; the argument is Appwrite's validator description."""


# Called with the value; those with a true ``needs_allowed_hosts`` (``RedirectUrl``) also take the
# project's allowed hosts, those with ``needs_dictionary`` (new passwords) its dictionary switch. Returns the value to use, or raises ``Invalid``.
Validator = Callable[..., Any]

_KEY = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,35}\Z")
_UID_DESCRIPTION = (
    "UID must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, and underscore. "
    "Can't start with a leading underscore"
)
KEY_DESCRIPTION = (
    "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, "
    "and underscore. Can't start with a special char"
)


def is_key(value: Any) -> TypeGuard[str]:
    """Appwrite's Key/UID rule: 1-36 of ``A-Za-z0-9._-``, not starting with a special char."""
    return isinstance(value, str) and _KEY.match(value) is not None


def uid(value: Any) -> str:
    if not is_key(value):
        raise Invalid(_UID_DESCRIPTION)
    return value


def custom_id(value: Any) -> str:
    """``unique()`` or a UID; the service replaces ``unique()`` with a generated ID."""
    if isinstance(value, str) and (value == "unique()" or is_key(value)):
        return value
    raise Invalid(KEY_DESCRIPTION)


def key(value: Any) -> str:
    """Role names etc.: UID rules."""
    if not is_key(value):
        raise Invalid(KEY_DESCRIPTION)
    return value


# Patterns use \A…\Z and [0-9]: Python's $ accepts a trailing newline and \d any Unicode digit,
# PHP's validators neither.
# PHP FILTER_VALIDATE_EMAIL, simplified: dot-atom local part, dotted hostname labels.
_EMAIL = re.compile(
    r"\A(?=.{1,320}\Z)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?=.{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z"
)


def is_email(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and len(value.split("@", 1)[0]) <= 64 and _EMAIL.match(value) is not None


def email(value: Any) -> str:
    if not is_email(value):
        raise Invalid("Value must be a valid email address")
    return value.lower()


def email_or_empty(value: Any) -> str:
    return "" if value == "" else email(value)


_PHONE = re.compile(r"\A\+[1-9][0-9]{6,14}\Z")


def is_phone(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and _PHONE.match(value) is not None


def phone(value: Any) -> str:
    if not is_phone(value):
        raise Invalid("Phone number must start with a '+' can have a maximum of fifteen digits.")
    return value


def phone_or_empty(value: Any) -> str:
    return "" if value == "" else phone(value)


def _password_ok(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and 8 <= len(value.encode()) <= 256


def password(value: Any) -> str:
    """Plain password (login, imported hashes): 8-256 bytes."""
    if not _password_ok(value):
        raise Invalid("Password must be between 8 and 256 characters long.")
    return value


# Appwrite's PasswordDictionary message (sic "265").
NEW_PASSWORD_DESCRIPTION = (
    "Password must be between 8 and 265 characters long, and should not be one of the commonly used password."
)


def new_password(value: Any, dictionary: bool = False) -> str:
    """A new plain-text password (PasswordDictionary): 8-256 bytes and, when the project turned
    its dictionary on (``dictionary``), not one of the 10,000 most common passwords."""
    if not _password_ok(value) or (dictionary and common_password(value)):
        raise Invalid(NEW_PASSWORD_DESCRIPTION)
    return value


def new_password_or_empty(value: Any, dictionary: bool = False) -> str:
    return "" if value == "" else new_password(value, dictionary)


# The pipeline hands these the project's dictionary switch (routing.validate).
new_password.needs_dictionary = True  # type: ignore[attr-defined]
new_password_or_empty.needs_dictionary = True  # type: ignore[attr-defined]


@functools.cache
def _common_passwords() -> frozenset[str]:
    # Read once, on the first check of a project with the dictionary on (~10k short strings).
    raw = gzip.decompress((Path(__file__).parent / "common_passwords.txt.gz").read_bytes())
    return frozenset(line for line in raw.decode().split("\n") if line)


def common_password(value: str) -> bool:
    """Whether ``value`` is on the 10k most common passwords list, exactly (case-sensitive), as
    Appwrite's dictionary looks it up."""
    return value in _common_passwords()


def has_personal_data(password: str, *, user_id: str, email: str | None, name: str | None, phone: str | None) -> bool:
    """Appwrite's PersonalData check: the password contains, case-insensitively, the user's ID,
    e-mail, the e-mail's local part, name, or phone number with or without its ``+``."""
    lowered = password.lower()
    pieces = [user_id, email, (email or "").split("@")[0], name, (phone or "").replace("+", ""), phone]
    return any(piece and piece.lower() in lowered for piece in pieces)


def text(max_length: int, min_length: int = 1, allowed_chars: str | None = None) -> Validator:
    description = f"Value must be a valid string and at least {min_length} chars and no longer than {max_length} chars"
    if allowed_chars:
        description += " and only consist of '" + ", ".join(allowed_chars) + "' chars"

    def validate(value: Any) -> str:
        if not isinstance(value, str) or not min_length <= len(value) <= max_length:
            raise Invalid(description)
        if allowed_chars and any(ch not in allowed_chars for ch in value):
            raise Invalid(description)
        return value

    return validate


def integer_range(minimum: int, maximum: int) -> Validator:
    """Integers and numeric strings within [minimum, maximum]."""
    description = f"Value must be a valid range between {minimum:,} and {maximum:,}"

    def validate(value: Any) -> int:
        if isinstance(value, bool):
            raise Invalid(description)
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or not minimum <= value <= maximum:
            raise Invalid(description)
        return value

    return validate


def integer(value: Any) -> int:
    """A JSON integer (strings rejected)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid("Value must be a valid integer")
    return value


def boolean(value: Any) -> bool:
    """Strict: JSON true/false only."""
    if not isinstance(value, bool):
        raise Invalid("Value must be a valid boolean")
    return value


_LOOSE_TRUE = {"true", "1", "True"}
_LOOSE_FALSE = {"false", "0", "False"}


def loose_boolean(value: Any) -> bool:
    """Also ``"true" "false" "1" "0" 1 0`` (form bodies and query strings)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value in _LOOSE_TRUE | _LOOSE_FALSE:
        return value in _LOOSE_TRUE
    raise Invalid("Value must be a valid boolean")


def future_date(value: Any) -> datetime:
    """An ISO 8601 date/time (naive = UTC) later than now, as aware UTC at millisecond
    precision (what is stored and shown)."""
    description = "Value must be valid date in the future."
    if not isinstance(value, str):
        raise Invalid(description)
    try:
        moment = datetime.fromisoformat(value.strip())
        moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise Invalid(description) from None
    if moment <= datetime.now(timezone.utc):
        raise Invalid(description)
    return moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)


def whitelist(values: Sequence[str], strict: bool = False) -> Validator:
    description = "Value must be one of (" + ", ".join(values) + ")"
    folded = {v.lower(): v for v in values}

    def validate(value: Any) -> str:
        if isinstance(value, str):
            if value in values:
                return value
            if not strict and value.lower() in folded:
                return folded[value.lower()]
        raise Invalid(description)

    return validate


def array_of(element: Validator, max_items: int, element_description: str) -> Validator:
    description = f"Value must a valid array no longer than {max_items} items and {element_description}"

    def validate(value: Any) -> list[Any]:
        if not isinstance(value, list) or len(value) > max_items:
            raise Invalid(description)
        try:
            return [element(item) for item in value]
        except Invalid:
            raise Invalid(description) from None

    return validate


def _php_json_length(value: Any) -> int:
    """Length of PHP's json_encode: non-ASCII escaped as 6-char \\u escapes and '/' as '\\/'."""
    encoded = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
    return len(encoded) + encoded.count("/")


def assoc(value: Any) -> dict[str, Any]:
    """A JSON object of at most 65535 bytes as PHP encodes it (prefs)."""
    if not isinstance(value, dict) or _php_json_length(value) > 65535:
        raise Invalid("Value must be a valid object.")
    return value


_LABEL = re.compile(r"\A[A-Za-z0-9]{1,36}\Z")


def is_label(value: Any) -> TypeGuard[str]:
    """Appwrite's Label validator: a Key of letters and digits only."""
    return isinstance(value, str) and _LABEL.match(value) is not None


def _label(value: Any) -> str:
    if not is_label(value):
        raise Invalid("label")
    return value


_LABEL_LIST = array_of(
    _label,
    1000,
    "Value must be a valid string and at least 1 chars and no longer than 36 chars and only consist of alphanumeric chars",
)


def labels(value: Any) -> list[str]:
    """Up to 1000 alphanumeric labels of 1-36 chars, de-duplicated keeping first occurrence."""
    return list(dict.fromkeys(_LABEL_LIST(value)))


# PHP FILTER_VALIDATE_URL (utopia-php URL validator): only the characters FILTER_SANITIZE_URL
# keeps, a scheme, and a host unless the scheme is mailto/news/file; http(s) hosts must be valid
# host names or bracketed IPv6 addresses.
_URL_CHARS = re.compile(r"\A[A-Za-z0-9$\-_.+!*'(),{}|\\^~\[\]`<>#%\";/?:@&=]+\Z")
_URL_HOST_LABEL = re.compile(r"\A[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
_HOSTLESS_SCHEMES = frozenset({"mailto", "news", "file"})


def _is_host_name(host: str) -> bool:
    host = host[:-1] if host.endswith(".") else host
    return 0 < len(host) <= 253 and all(_URL_HOST_LABEL.match(label) for label in host.split("."))


def _is_url(value: str) -> bool:
    if not _URL_CHARS.match(value):
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number in range)
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if not scheme:
        return False
    if scheme in ("http", "https"):
        host = parts.hostname or ""
        if parts.netloc.rpartition("@")[2].startswith("["):
            try:
                return ipaddress.ip_address(host).version == 6
            except ValueError:
                return False
        return _is_host_name(host)
    return bool(parts.netloc) or scheme in _HOSTLESS_SCHEMES


# Appwrite's platform hostnames (utopia Hostname validator): a hostname, `*.domain` (any
# subdomain, not the domain itself) or `*` (any host). Stored and compared lower-case.
_HOST_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_PLATFORM_HOSTNAME = re.compile(rf"\A(?:\*|(?:\*\.)?{_HOST_LABEL}(?:\.{_HOST_LABEL})*)\Z")


def platform_hostname(value: Any) -> str:
    """A web platform's hostname: no scheme, port or path; ``*.example.com`` for subdomains."""
    if not isinstance(value, str) or len(value) > 253 or not _PLATFORM_HOSTNAME.match(value.lower()):
        raise Invalid("Value must be a valid hostname without path, port and protocol.")
    return value.lower()


def request_host(host: str) -> str:
    """A Host header without its port, lower-cased (``[::1]:80`` -> ``[::1]``, PHP's
    ``parse_url(..., PHP_URL_HOST)``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.split(":", 1)[0]


def hostname_allowed(host: str, patterns: Sequence[str]) -> bool:
    """Whether ``host`` matches one of the platform hostnames (exact, ``*.domain`` or ``*``)."""
    host = host.lower()
    for pattern in patterns:
        if pattern == host or pattern == "*" or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def url_host(value: Any) -> str | None:
    """The host of an absolute URL as PHP's FILTER_VALIDATE_URL accepts it, None if it is not one."""
    # A backslash is "/" to browsers but not to urlsplit: "http://evil.com\\@localhost" would
    # pass as localhost and send the user to evil.com.
    if not isinstance(value, str) or not value.isascii() or "\\" in value or not _is_url(value):
        return None
    return urlsplit(value).hostname or None


class RedirectUrl:
    """Where e-mail links and invitations send the user back to (the ``url`` param): an absolute
    URL on a host the project allows (Appwrite's Host validator; one message for every failure).

    The allowed hosts belong to the request's project, so the pipeline calls this validator as
    ``validator(value, allowed_hosts)`` (``needs_allowed_hosts``); routes declare it like any other.
    """

    needs_allowed_hosts = True

    def __call__(self, value: Any, allowed_hosts: Sequence[str]) -> str:
        host = url_host(value)
        if host is None or not hostname_allowed(host, allowed_hosts):
            raise Invalid("URL host must be one of: " + ", ".join(allowed_hosts))
        return cast(str, value)  # url_host found a host in it, so it is a string


redirect_url = RedirectUrl()


# Levels of lists and objects a parameter's value may nest (``[]`` is one, ``{"a": []}`` two).
# orjson writes at most 254 levels, and a stored value sits a few levels down in the documents
# that carry it (a user's prefs in a user list), so this leaves ample room.
MAX_DEPTH = 128

# Why a value is refused (``refusal``), completing "Invalid `<param>` param: Value …".
TOO_DEEP = f"must not be nested more than {MAX_DEPTH} levels deep"
LONE_SURROGATE = "must not contain a lone UTF-16 surrogate"
NUL_CHARACTER = "must not contain a NUL character"
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def text_refusal(text: str) -> str | None:
    """``LONE_SURROGATE`` or ``NUL_CHARACTER`` when ``text`` holds one, else None."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    return NUL_CHARACTER if found.group() == "\x00" else LONE_SURROGATE


def refusal(value: Any) -> str | None:
    """What makes ``value`` unfit to be a parameter (``TOO_DEEP``, or a ``text_refusal`` of a
    string or key), else None. Iterative: no depth of nesting can exhaust the stack here."""
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            problem = text_refusal(item)
            if problem:
                return problem
            continue
        children: Iterable[Any]
        if isinstance(item, dict):
            pending.extend((key, depth) for key in item)
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth == MAX_DEPTH:
            return TOO_DEEP
        pending.extend((child, depth + 1) for child in children)
    return None
