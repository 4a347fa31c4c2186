"""Signing in to the console: the first administrator's set-up link, sign-in and sign-out."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response

from ..auth import admins
from ..data import audit
from ..http.ratelimit import Limiter, Rule
from ..tools.errors import AppwriteError
from .pages import PREFIX, Page, PageRouter

router = PageRouter()

# Ten attempts per ten minutes from one address for one e-mail, and a hundred from one address.
SIGN_IN_LIMIT = Rule(10, 600, ("url:{url},email:{param-email},ip:{ip}",), "/console/login")
SIGN_IN_LIMIT_IP = Rule(100, 600, ("url:{url},ip:{ip}",), "/console/login")


def _signed_in(page: Page, secret: str, to: str) -> Response:
    response = RedirectResponse(to if to.startswith(PREFIX + "/") else PREFIX + "/", status_code=303)
    response.set_cookie(
        admins.COOKIE,
        secret,
        max_age=admins.SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=page.secure,
    )
    return response


@router.get("/login", public=True)
def login_form(page: Page) -> Response:
    if page.signed_in is not None:
        return page.redirect("/")
    return page.render("login.html", next=page.value("next"), email="", setup=not admins.has_admins(page.db))


@router.post("/login", public=True)
def login(page: Page) -> Response:
    email = page.value("email").strip().lower()
    limiter: Limiter = page.request.app.state.limiter
    headers: dict[str, str] = {}
    try:
        for rule in (SIGN_IN_LIMIT, SIGN_IN_LIMIT_IP):
            limiter.apply(
                rule, "POST", "console", "", False, page.ip, page.request.url.netloc, "", {"email": email}, headers
            )
        secret, signed_in = admins.sign_in(page.db, email=email, password=page.value("password"), ip=page.ip)
    except AppwriteError as error:
        # Every refused sign-in is kept, with the address it came from.
        page.signed_in = None
        _record_failure(page, email)
        message = (
            "Too many sign-in attempts: wait a few minutes." if error.status == 429 else "Wrong e-mail or password."
        )
        return page.render(
            "login.html", status=error.status, error=message, next=page.value("next"), email=email, setup=False
        )
    page.signed_in = signed_in
    page.record("console", "session.create", f"admin/{signed_in.admin.id}")
    return _signed_in(page, secret, page.value("next"))


def _record_failure(page: Page, email: str) -> None:
    audit.record(
        page.db,
        project_id="console",
        event="session.failed",
        resource=f"email/{email}"[:128],
        actor=audit.Actor("guest", email=email),
        ip=page.ip,
        user_agent=page.request.headers.get("user-agent", ""),
    )


@router.post("/logout", audit=("session.delete", "admin"))
def logout(page: Page) -> Response:
    admins.sign_out(page.db, page.request.cookies.get(admins.COOKIE, ""))
    response = RedirectResponse(PREFIX + "/login", status_code=303)
    response.delete_cookie(admins.COOKIE, path="/")
    return response


@router.get("/setup", public=True)
def setup_form(page: Page) -> Response:
    token = page.value("token")
    if not admins.setup_token_valid(page.db, token) or admins.has_admins(page.db):
        return page.render("error.html", status=401, message=admins.SETUP_INVALID)
    return page.render("setup.html", token=token, email="", name="")


@router.post("/setup", public=True)
def setup(page: Page) -> Response:
    token, email, name = page.value("token"), page.value("email"), page.value("name")
    if page.value("password") != page.value("confirm"):
        return page.render("setup.html", status=400, token=token, email=email, name=name, error="The passwords differ.")
    try:
        secret, signed_in = admins.complete_setup(
            page.db, token=token, email=email, password=page.value("password"), name=name, ip=page.ip
        )
    except AppwriteError as error:
        return page.render("setup.html", status=error.status, token=token, email=email, name=name, error=error.message)
    page.signed_in = signed_in
    page.record("console", "admin.create", f"admin/{signed_in.admin.id}")
    return _signed_in(page, secret, PREFIX + "/")
