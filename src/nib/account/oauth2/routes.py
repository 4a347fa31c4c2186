"""HTTP routes of the OAuth2 sign-in (the work is in flow.py).

1. ``GET /v1/account/sessions/oauth2/{provider}`` (or ``/tokens/oauth2/``, the token flow)
   answers 301 to the provider's authorize URL;
2. the provider sends the browser to the callback (GET, or a cross-site form POST for Apple),
   which answers 301 to the redirect route with the same parameters and the project;
3. ``GET …/oauth2/{provider}/redirect`` finishes: session cookies (or a one-time secret) and 301
   to the success URL, or 301 to the failure URL with the error.

Every redirect is a 301 with no-cache headers and a ``Content-Type`` (the Python SDK reads it).
The relay pages ``/auth/oauth2/success|failure`` (and ``/console/…``) send a mobile app's
browser tab on to ``appwrite-callback-<project>://`` with the query they got.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode, urlsplit

from starlette.responses import Response

from ...auth.principals import encode_session
from ...http.context import Context
from ...http.cookies import cookie_domain
from ...http.responses import BASE_HEADERS
from ...http.routing import Param, Router, optional
from ...tools import validators as v
from ...tools.useragent import parse_user_agent
from ...users import models
from ...users.provider_tokens import opened
from . import flow
from .providers import PROVIDER_KEYS

router = Router()

NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache"}
PROVIDER = Param("provider", v.whitelist(PROVIDER_KEYS, strict=True))
_TEXT = v.text(2048, 0)
SESSION_CREATED = "users.[userId].sessions.[sessionId].create"
TOKEN_CREATED = "users.[userId].tokens.[tokenId].create"


def redirect(location: str) -> Response:
    """301 to ``location``, never cached; text/html like Appwrite's, so clients that read the
    Content-Type of every answer (the Python SDK) can."""
    return Response(
        b"",
        status_code=301,
        media_type="text/html; charset=UTF-8",
        headers={**BASE_HEADERS, **NO_CACHE, "Location": location},
    )


def where(ctx: Context) -> flow.Where:
    public = ctx.settings.public_url.rstrip("/") or f"{'https' if ctx.secure else 'http'}://{ctx.host}"
    return flow.Where(ctx.project_id, public, tuple(ctx.allowed_hosts))


def signed_in_caller(ctx: Context) -> flow.Caller | None:
    """The signed-in user a sign-in links to, and the session it replaces."""
    principal = ctx.principal
    if principal.user is None or principal.session is None:
        return None
    return flow.Caller(principal.user["id"], principal.session.id)


def visit(ctx: Context) -> flow.Visit:
    return flow.Visit(ctx.policies.session_length, ctx.ip, parse_user_agent(ctx.user_agent), ctx.user_agent)


# -- start ----------------------------------------------------------------------------------------

_START = dict(
    scope="sessions.write",
    blocking=True,  # an OpenID Connect provider's discovery document may be fetched
    params=[
        PROVIDER,
        optional("success", v.redirect_url, default=""),
        optional("failure", v.redirect_url, default=""),
        optional("scopes", v.array_of(v.text(4096), 100, "Value must be a valid string and no longer than 4096 chars")),
    ],
)


def _start(ctx: Context, provider: str, success: str, failure: str, scopes, token: bool) -> Response:
    return redirect(
        flow.start(
            ctx.db,
            ctx.settings,
            where(ctx),
            provider=provider,
            success=success,
            failure=failure,
            scopes=scopes or [],
            token=token,
        )
    )


@router.get("/v1/account/sessions/oauth2/{provider}", **_START)
def create_oauth2_session(ctx: Context, provider: str, success: str, failure: str, scopes) -> Response:
    return _start(ctx, provider, success, failure, scopes, token=False)


@router.get("/v1/account/tokens/oauth2/{provider}", **_START)
def create_oauth2_token(ctx: Context, provider: str, success: str, failure: str, scopes) -> Response:
    return _start(ctx, provider, success, failure, scopes, token=True)


# -- the provider's callback ----------------------------------------------------------------------

_RETURN_PARAMS = [
    optional("code", _TEXT, default=""),
    optional("state", _TEXT, default=""),
    optional("error", _TEXT, default=""),
    optional("error_description", _TEXT, default=""),
    optional("user", _TEXT, default=""),  # Apple: the name, on the first consent only
]
_CALLBACK = dict(
    scope=None,
    public=True,  # the project is in the path; nobody is signed in to the provider's redirect
    any_origin=True,  # Apple POSTs its form from its own site
    params=[Param("projectId", v.text(1024)), PROVIDER, *_RETURN_PARAMS],
)


@router.get("/v1/account/sessions/oauth2/callback/{provider}/{projectId}", **_CALLBACK)
@router.post("/v1/account/sessions/oauth2/callback/{provider}/{projectId}", **_CALLBACK)
def callback(ctx: Context, projectId: str, provider: str, **received: str) -> Response:
    passed = {name: value for name, value in received.items() if value}
    query = urlencode({**passed, "project": projectId})
    return redirect(f"{where(ctx).public_url}/v1/account/sessions/oauth2/{provider}/redirect?{query}")


@router.get(
    "/v1/account/sessions/oauth2/{provider}/redirect",
    scope="public",
    blocking=True,  # the code is exchanged with the provider while the browser waits
    audit=("session.create", "user/{actor}"),
    event=SESSION_CREATED,
    params=[PROVIDER, *_RETURN_PARAMS],
)
def finish(
    ctx: Context, provider: str, code: str, state: str, error: str, error_description: str, user: str
) -> Response:
    place = where(ctx)
    caller = signed_in_caller(ctx)
    done = flow.finish(
        ctx.db,
        ctx.settings,
        place,
        provider=provider,
        callback=flow.Callback(code, state, error, error_description, {"user": user} if user else {}),
        caller=caller,
        visit=visit(ctx),
    )
    if done.user is None:
        ctx.declined = True  # sent to the failure URL: nobody signed in
        return redirect(done.location)
    ctx.actor = done.user
    location = done.location
    # The answer is a redirect: the event carries the new session (or token) as its routes render it.
    if done.token is not None:
        ctx.event = TOKEN_CREATED
        ctx.event_payload = models.token(done.token, secret="")
    if done.session is not None:
        ctx.event_payload = models.session(opened(ctx.db, ctx.settings, done.session), current=True)
        encoded = encode_session(done.user["id"], done.secret)
        ctx.sign_in(encoded, done.session["expire"])
        if urlsplit(location).path in flow.RELAY_SUCCESS:
            # What a mobile SDK needs to store the session it cannot read from a cookie.
            extras = {"project": place.project_id}
            domain = cookie_domain(ctx.host)
            if domain:
                extras["domain"] = domain
            extras.update(key=f"a_session_{place.project_id}", secret=encoded)
            location = flow.with_query(location, extras)
    return redirect(location)


# -- relay pages ----------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="refresh" content="0;url={target}"></head>
<body><p>{title}. <a href="{target}">Return to the app</a></p></body></html>
"""


def _relay(title: str, project: str, received: dict[str, str]) -> Response:
    """A page sending the browser on to the app's ``appwrite-callback-<project>://`` scheme with
    what this page was given (mobile SDKs wait for that URL)."""
    body = f"<!doctype html><title>{title}</title><p>{title}.</p>"
    if v.is_key(project):
        query = urlencode({"project": project, **{name: value for name, value in received.items() if value}})
        body = _PAGE.format(title=title, target=html.escape(f"appwrite-callback-{project}://?{query}", quote=True))
    return Response(body.encode(), media_type="text/html; charset=UTF-8", headers={**BASE_HEADERS, **NO_CACHE})


# What nib's redirects add to a relay page's URL (the session's cookie, a token's secret, an error).
_RELAYED = [optional(name, v.text(4096, 0), default="") for name in ("domain", "key", "secret", "userId", "error")]
_RELAY = dict(scope=None, public=True, params=[optional("project", v.text(1024), default=""), *_RELAYED])


@router.get("/auth/oauth2/success", **_RELAY)
@router.get("/console/auth/oauth2/success", **_RELAY)
def relay_success(ctx: Context, project: str, **received: str) -> Response:
    return _relay("Signed in", project, received)


@router.get("/auth/oauth2/failure", **_RELAY)
@router.get("/console/auth/oauth2/failure", **_RELAY)
def relay_failure(ctx: Context, project: str, **received: str) -> Response:
    return _relay("Sign-in failed", project, received)
