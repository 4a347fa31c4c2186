"""How a console page is declared and served: ``PageRouter``, ``Page``.

A page handler is a plain function run in a worker thread (services are synchronous), given a
``Page`` and the path's parameters::

    router = PageRouter()

    @router.get("/projects/{project_id}/users")
    def users(page: Page, project_id: str) -> Response:
        return page.render("users.html", users=...)

    @router.post("/projects/{project_id}/users/{user_id}/status", audit=("user.update", "user/{user_id}"))
    def set_status(page: Page, project_id: str, user_id: str) -> Response:
        ...
        return page.redirect(f"/projects/{project_id}/users/{user_id}", "Saved.")

Paths are relative to ``/console``. Every page needs a signed-in administrator (else: the
sign-in page) unless declared ``public``. Every POST must carry the session's CSRF token (form
field ``csrf``), checked before the handler runs. An ``AppwriteError`` from a service becomes, on
a POST, a redirect back with the error's message shown; on a GET, an error page with its code.
A POST's ``audit`` entry is written after the handler succeeded, as the administrator's action in
the project named by the ``project_id`` path parameter (``console`` for instance-wide actions).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ..auth import admins
from ..auth import projects as project_service
from ..data import audit
from ..data.db import Database
from ..http.incoming import client_ip
from ..tools import dates
from ..tools.config import Settings
from ..tools.errors import AppwriteError

if TYPE_CHECKING:
    from jinja2 import Environment

log = logging.getLogger("nib")

PREFIX = "/console"
NOTICE_COOKIE = "nib_console_notice"
TEMPLATES = Path(__file__).parent / "templates"

# The CSRF token of the page being rendered, for macros: templates imported by another (macros.html)
# do not see its variables, but they see globals.
_rendering_csrf: ContextVar[str] = ContextVar("rendering_csrf", default="")


@functools.cache
def _environment() -> Environment:
    """The template environment, built (and jinja2 imported) by the first page a process renders:
    servers nobody opens the console on never load it."""
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        # Every value is escaped: names, prefs and file names are people's input, never markup.
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["console"] = PREFIX
    environment.globals["csrf_token"] = _rendering_csrf.get
    environment.filters["date"] = lambda value: dates.fmt(value)[:19].replace("T", " ") if value else ""
    environment.filters["json"] = lambda value: orjson.dumps(value, option=orjson.OPT_INDENT_2).decode()
    environment.filters["size"] = lambda value: _human_size(int(value or 0))
    environment.filters["quote"] = lambda value: quote(str(value), safe="")
    return environment


def _human_size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


@dataclass
class Page:
    """One console request, as a handler sees it."""

    request: Request
    db: Database
    settings: Settings
    signed_in: admins.SignedIn | None
    form: FormData | None = None
    # The ID a create handler made, for its audit entry's ``{id}``.
    created_id: str = ""
    # The project an action's audit entry belongs to when no ``project_id`` is in the path (a
    # project just created); instance-wide actions go to ``console``.
    audit_project: str = ""
    # Every project, read once per request: the project switcher and project() both need them.
    _projects: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def admin(self) -> admins.Admin:
        assert self.signed_in is not None, "a public page has no administrator"
        return self.signed_in.admin

    @property
    def ip(self) -> str:
        return client_ip(self.request.scope, {k.lower(): v for k, v in self.request.headers.items()})

    @property
    def secure(self) -> bool:
        proto = self.request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
        return (proto or self.request.url.scheme) == "https"

    def value(self, name: str, default: str = "") -> str:
        """A form field of a POST, or a query parameter of a GET, as text."""
        source = self.form if self.form is not None else self.request.query_params
        found = source.get(name)
        return found if isinstance(found, str) else default

    def values(self, name: str) -> list[str]:
        """Every value of a repeated form field or query parameter."""
        source = self.form if self.form is not None else self.request.query_params
        return [v for v in source.getlist(name) if isinstance(v, str)]

    def projects(self) -> list[dict[str, Any]]:
        if self._projects is None:
            self._projects = project_service.list_projects(self.db)
        return self._projects

    def project(self, project_id: str) -> dict[str, Any]:
        """The project row (404 ``project_not_found``)."""
        for row in self.projects():
            if row["id"] == project_id:
                return row
        raise AppwriteError("project_not_found")

    def render(self, template: str, status: int = 200, **values: Any) -> Response:
        notice = self.request.cookies.get(NOTICE_COOKIE)
        context = {
            "page": self,
            "admin": self.signed_in.admin if self.signed_in else None,
            "csrf": self.signed_in.csrf if self.signed_in else "",
            "notice": _decode_notice(notice),
            "path": self.request.url.path,
            "projects": self.projects() if self.signed_in else [],
            **values,
        }
        token = _rendering_csrf.set(context["csrf"])
        try:
            html = _environment().get_template(template).render(context)
        finally:
            _rendering_csrf.reset(token)
        response = HTMLResponse(html, status_code=status)
        if notice:
            response.delete_cookie(NOTICE_COOKIE, path=PREFIX)
        return response

    def redirect(self, to: str, notice: str = "", *, error: bool = False) -> Response:
        """303 to ``to`` (relative to /console), showing ``notice`` on the next page."""
        response = RedirectResponse(PREFIX + to, status_code=303)
        if notice:
            self.notify(response, notice, error=error)
        return response

    def notify(self, response: Response, text: str, *, error: bool = False) -> None:
        value = quote(orjson.dumps({"error": error, "text": text[:500]}).decode(), safe="")
        response.set_cookie(NOTICE_COOKIE, value, path=PREFIX, httponly=True, samesite="strict", secure=self.secure)

    def record(self, project_id: str, event: str, resource: str) -> None:
        """An audit entry of this administrator's action (for actions a handler words itself)."""
        actor = audit.Actor("admin", self.admin.id, self.admin.email, self.admin.name)
        audit.record(
            self.db,
            project_id=project_id,
            event=event,
            resource=resource,
            actor=actor,
            ip=self.ip,
            user_agent=self.request.headers.get("user-agent", ""),
        )


def _decode_notice(value: str | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        found = orjson.loads(unquote(value))
    except orjson.JSONDecodeError:
        return None
    return found if isinstance(found, dict) and isinstance(found.get("text"), str) else None


Handler = Callable[..., Response]


@dataclass(frozen=True)
class _Declared:
    method: str
    path: str
    handler: Handler
    audit: tuple[str, str] | None
    public: bool


class PageRouter:
    """The pages of one console module; ``routes(db, settings)`` makes them Starlette routes."""

    def __init__(self) -> None:
        self.declared: list[_Declared] = []

    def get(self, path: str, *, public: bool = False) -> Callable[[Handler], Handler]:
        return self._declare("GET", path, None, public)

    def post(
        self, path: str, *, audit: tuple[str, str] | None = None, public: bool = False
    ) -> Callable[[Handler], Handler]:
        return self._declare("POST", path, audit, public)

    def _declare(
        self, method: str, path: str, audit: tuple[str, str] | None, public: bool
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.declared.append(_Declared(method, path, handler, audit, public))
            return handler

        return register

    def routes(self, db: Database, settings: Settings) -> list[Route]:
        return [
            Route(PREFIX + d.path, _endpoint(d, db, settings), methods=[d.method], name=d.handler.__name__)
            for d in self.declared
        ]


def _endpoint(declared: _Declared, db: Database, settings: Settings) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=2000) if declared.method == "POST" else None
        return await run_in_threadpool(_serve, declared, request, form, db, settings)

    return endpoint


def _serve(declared: _Declared, request: Request, form: FormData | None, db: Database, settings: Settings) -> Response:
    """The page's answer, with the server time it took (handler and render) as ``Server-Timing``."""
    started = time.perf_counter()
    response = _answer(declared, request, form, db, settings)
    response.headers["server-timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
    return response


def _answer(declared: _Declared, request: Request, form: FormData | None, db: Database, settings: Settings) -> Response:
    signed_in = admins.session(db, request.cookies.get(admins.COOKIE))
    page = Page(request, db, settings, signed_in, form)
    if signed_in is None and not declared.public:
        if declared.method == "GET":
            return RedirectResponse(f"{PREFIX}/login?next={quote(request.url.path, safe='/')}", status_code=303)
        return page.render("error.html", status=401, message="Sign in to the console first.")
    if declared.method == "POST" and signed_in is not None and not admins.csrf_matches(signed_in, page.value("csrf")):
        return page.render(
            "error.html",
            status=403,
            message="This form has expired or did not come from the console. Reload the page and try again.",
        )
    params = dict(request.path_params)
    try:
        response = declared.handler(page, **params)
    except AppwriteError as error:
        if declared.method == "GET":
            return page.render("error.html", status=error.status, message=error.message)
        back = _back(request)
        response = RedirectResponse(back, status_code=303)
        page.notify(response, error.message, error=True)
        return response
    if declared.audit is not None and signed_in is not None:
        event, template = declared.audit
        try:
            project_id = params.get("project_id") or page.audit_project or "console"
            page.record(project_id, event, template.format(**params, id=page.created_id))
        except Exception:
            # The change is made: report the lost entry rather than the action.
            log.exception("console audit entry %s not recorded", event)
    return response


def _back(request: Request) -> str:
    """Where a failed form returns to: the page it was posted from when that is a console page."""
    referer = request.headers.get("referer", "")
    path = referer.split(request.url.netloc, 1)[-1] if request.url.netloc in referer else ""
    return path if path.startswith(PREFIX) else PREFIX
