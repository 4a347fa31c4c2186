"""The console as an ASGI app: its pages, its static files and the headers every answer carries."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..data.db import Database
from ..http.ratelimit import Limiter
from ..tools.config import Settings
from . import auth, keys, overview, projects, settings, signin, storage, teams, users
from .pages import PREFIX, PageRouter

# Every module of pages, in matching order.
ROUTERS: tuple[PageRouter, ...] = (
    signin.router,
    projects.router,
    overview.router,
    users.router,
    teams.router,
    storage.router,
    keys.router,
    auth.router,
    settings.router,
)

# No inline script or style, nothing from elsewhere: an injected tag can neither run nor load.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


def console_app(db: Database, settings: Settings, limiter: Limiter) -> ASGIApp:
    """The console's ASGI app, serving ``/console`` and below."""
    routes = [route for router in ROUTERS for route in router.routes(db, settings)]
    static = Mount(PREFIX + "/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app = Starlette(routes=[*routes, static])
    app.state.limiter = limiter
    return _SecurityHeaders(app)


class _SecurityHeaders:
    def __init__(self, app: Starlette) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        static = scope["path"].startswith(PREFIX + "/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"cache-control" or not static]
                extra = (
                    SECURITY_HEADERS
                    if not static
                    else SECURITY_HEADERS[:4] + [(b"cache-control", b"public, max-age=3600")]
                )
                message["headers"] = headers + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
