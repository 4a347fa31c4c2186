"""Appwrite's mock OAuth2 provider (``/v1/mock/tests/general/oauth2…``), for replaying Appwrite's
own OAuth2 test scenarios against nib. Mounted only when NIB_OAUTH2_MOCK=on (app.py).

Fixed credentials as in Appwrite: app ID ``1``, secret ``123456``; code ``abcdef``, access token
``123456``, refresh token ``tuvwxyz``; one user, ``useroauth@localhost.test``, verified.
"""

from __future__ import annotations

from starlette.responses import Response

from ...http.context import Context
from ...http.responses import json_response
from ...http.routing import Param, Router, optional
from ...tools import validators as v
from ...tools.errors import AppwriteError
from .flow import with_query
from .routes import redirect

router = Router()

BASE = "/v1/mock/tests/general/oauth2"
APP_ID, SECRET, CODE, ACCESS_TOKEN, REFRESH_TOKEN = "1", "123456", "abcdef", "123456", "tuvwxyz"
_TEXT = v.text(2048, 0)
_MOCK = dict(scope=None, public=True)


def _url(value) -> str:
    if v.url_host(value) is None:
        raise v.Invalid("Value must be a valid URL")
    return value


@router.get(
    BASE,
    **_MOCK,
    params=[
        Param("client_id", v.text(100)),
        Param("redirect_uri", _url),
        optional("scope", _TEXT, ""),
        Param("state", _TEXT),
    ],
)
def authorize(ctx: Context, client_id: str, redirect_uri: str, scope: str, state: str) -> Response:
    """Consent granted at once: back to the app with the code and the state unchanged."""
    return redirect(with_query(redirect_uri, {"code": CODE, "state": state}))


@router.get(
    BASE + "/token",
    **_MOCK,
    params=[
        Param("client_id", v.text(100)),
        Param("client_secret", v.text(100)),
        optional("grant_type", v.text(100), "authorization_code"),
        optional("redirect_uri", _TEXT, ""),
        optional("code", v.text(100), ""),
        optional("refresh_token", v.text(100), ""),
    ],
)
def token(ctx: Context, client_id, client_secret, grant_type, redirect_uri, code, refresh_token) -> dict:
    if client_id != APP_ID:
        raise AppwriteError("general_mock", "Invalid client ID")
    if client_secret != SECRET:
        raise AppwriteError("general_mock", "Invalid client secret")
    if grant_type == "authorization_code" and code != CODE:
        raise AppwriteError("general_mock", "Invalid token")
    if grant_type == "refresh_token" and refresh_token != REFRESH_TOKEN:
        raise AppwriteError("general_mock", "Invalid refresh token")
    if grant_type not in ("authorization_code", "refresh_token"):
        raise AppwriteError("general_mock", "Invalid grant type")
    return {"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN, "expires_in": 14400}


@router.get(BASE + "/user", **_MOCK, params=[Param("token", v.text(100))])
def user(ctx: Context, token: str) -> dict:
    if token != ACCESS_TOKEN:
        raise AppwriteError("general_mock", "Invalid token")
    return {"id": 1, "name": "User Name", "email": "useroauth@localhost.test", "verified": True}


@router.get(BASE + "/success", **_MOCK)
def success(ctx: Context) -> dict:
    return {"result": "success"}


@router.get(BASE + "/failure", **_MOCK)
def failure(ctx: Context) -> Response:
    return json_response({"result": "failure"}, 400)
