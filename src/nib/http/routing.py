"""Route declarations: what each domain tells the pipeline about its routes.

A route is a plain synchronous function ``handler(ctx, **params)`` declared on a domain's
``Router`` with ``@router.route(method, path, scope=..., params=[...])`` (or ``get``/``post``/…).
Its ``Param``s are validated in declaration order (``validate``: the first failure wins, as in
Appwrite) before the handler runs. A handler returns a JSON-able dict (status from the route),
``None`` (204) or a Starlette ``Response`` (downloads); it never builds error JSON itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..auth.projects import AUTH_METHODS
from ..data.query import ListSpec, parse_queries
from ..tools.errors import AppwriteError
from ..tools.validators import Invalid, Validator

_MISSING = object()


@dataclass(frozen=True)
class Param:
    """One declared parameter: ``validator`` converts or raises ``Invalid``."""

    name: str
    validator: Validator | None = None
    required: bool = True
    default: Any = None


def optional(name: str, validator: Validator | None = None, default: Any = None) -> Param:
    return Param(name, validator, required=False, default=default)


def queries_param(spec: ListSpec) -> Param:
    """The ``queries`` parameter of a list route over ``spec`` (Appwrite's JSON queries)."""
    return optional("queries", lambda raw: parse_queries(raw, spec), default=parse_queries([], spec))


def validate(
    params: Sequence[Param],
    raw: dict[str, Any],
    allowed_hosts: Sequence[str] = (),
    dictionary: Callable[[], bool] = lambda: False,
) -> dict[str, Any]:
    """Declaration-order validation; an explicit JSON null means "not provided".

    ``allowed_hosts`` (the request's, see http/origins.py) go to validators that need them;
    ``dictionary`` tells new-password validators whether the project refuses common passwords
    (asked only when such a param is sent: it may read the project's policies).
    """
    values: dict[str, Any] = {}
    for param in params:
        value = raw.get(param.name, _MISSING)
        if value is _MISSING or value is None:
            if param.required:
                raise AppwriteError("general_argument_invalid", f'Param "{param.name}" is not optional.')
            values[param.name] = param.default
            continue
        if param.validator is not None:
            try:
                if getattr(param.validator, "needs_allowed_hosts", False):
                    value = param.validator(value, allowed_hosts)
                elif getattr(param.validator, "needs_dictionary", False):
                    value = param.validator(value, dictionary())
                else:
                    value = param.validator(value)
            except Invalid as invalid:
                raise AppwriteError("general_argument_invalid", f"Invalid `{param.name}` param: {invalid}") from None
        values[param.name] = value
    return values


Handler = Callable[..., Any]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    scope: str | None
    params: Sequence[Param]
    status: int
    pattern: re.Pattern = field(compare=False)
    literal_segments: int = 0
    public: bool = False  # no project needed (health)
    # (event, resource template): resource is formatted with the params, {id} = result $id and
    # {actor} = the acting user's ID.
    audit: tuple[str, str] | None = None
    session_group: bool = False  # creates a session: refused when already signed in
    mfa_exempt: bool = False  # reachable before the second factor
    streaming: bool = False  # body left unread for the handler (ctx.body); always in the pool
    # Opens stored files (downloads): inline like other GETs only where the device is local disk
    # (an open() costs what a SQLite read does), in the pool where it is remote (S3).
    reads_device: bool = False
    # Waits on other servers (OAuth2 providers): always in the worker pool, never on the event loop.
    blocking: bool = False
    # Cross-site writes welcome (a provider's form POST back to nib): no origin check.
    any_origin: bool = False
    # Appwrite's event pattern, announced after success (http/events.py), e.g.
    # "buckets.[bucketId].files.[fileId].create".
    event: str | None = None
    # The auth method the route belongs to (auth.projects.AUTH_METHODS): while the project has it
    # off, callers other than API keys get 501 user_auth_method_unsupported (before validation).
    auth_method: str | None = None


class Router:
    """Collects routes; each domain package has one and the app merges them."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        scope: str | None,
        params: Sequence[Param] = (),
        status: int = 200,
        public: bool = False,
        audit: tuple[str, str] | None = None,
        session_group: bool = False,
        mfa_exempt: bool = False,
        streaming: bool = False,
        reads_device: bool = False,
        blocking: bool = False,
        any_origin: bool = False,
        event: str | None = None,
        auth_method: str | None = None,
    ) -> Callable[[Handler], Handler]:
        if auth_method is not None and auth_method not in AUTH_METHODS:
            raise ValueError(f"unknown auth method {auth_method!r}")

        def register(handler: Handler) -> Handler:
            pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
            literal = sum(1 for part in path.split("/") if part and not part.startswith("{"))
            self.routes.append(
                Route(
                    method,
                    path,
                    handler,
                    scope,
                    tuple(params),
                    status,
                    pattern,
                    literal,
                    public,
                    audit,
                    session_group,
                    mfa_exempt,
                    streaming,
                    reads_device,
                    blocking,
                    any_origin,
                    event,
                    auth_method,
                )
            )
            return handler

        return register

    def get(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def patch(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **kw)

    def delete(self, path: str, **kw) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)
