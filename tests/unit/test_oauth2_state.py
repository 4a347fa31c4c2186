"""account/oauth2/state.py and the flow's URL helper: the signed state opens only for the
project and provider it was made for, unchanged and in time."""

from __future__ import annotations

import time

import orjson
import pytest

from nib.account.oauth2.flow import with_query
from nib.account.oauth2.state import LIFETIME, StateError, pack, unpack

KEY = "server-secret"
MADE = dict(project_id="p1", provider="oidc", success="http://localhost/ok", failure="", token=True, nonce="n0")


def test_a_state_opens_for_its_sign_in_only():
    text = pack(KEY, **MADE)
    body = orjson.loads(text)
    assert (body["success"], body["failure"], body["token"], body["nonce"]) == ("http://localhost/ok", "", True, "n0")
    state = unpack(KEY, text, project_id="p1", provider="oidc")
    assert (state.success, state.failure, state.token, state.nonce) == ("http://localhost/ok", "", True, "n0")
    for key, project, provider in (("other", "p1", "oidc"), (KEY, "p2", "oidc"), (KEY, "p1", "github")):
        with pytest.raises(StateError):
            unpack(key, text, project_id=project, provider=provider)


@pytest.mark.parametrize(
    "change",
    [{"success": "http://localhost/elsewhere"}, {"token": False}, {"expire": 2**40}, {"signature": "0" * 64}],
)
def test_a_changed_state_is_refused(change):
    body = {**orjson.loads(pack(KEY, **MADE)), **change}
    with pytest.raises(StateError):
        unpack(KEY, orjson.dumps(body).decode(), project_id="p1", provider="oidc")


def test_an_old_state_or_no_state_is_refused(monkeypatch):
    text = pack(KEY, **MADE)
    later = time.time() + LIFETIME + 1
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(StateError, match="expired"):
        unpack(KEY, text, project_id="p1", provider="oidc")
    for garbage in ("", "not json", "[]", '{"success": "x"}'):
        with pytest.raises(StateError):
            unpack(KEY, garbage, project_id="p1", provider="oidc")


def test_with_query_keeps_the_url_query():
    assert with_query("http://a/b?x=1&secret=old", {"secret": "s", "userId": "u"}) == "http://a/b?x=1&secret=s&userId=u"
    assert with_query("myapp://cb", {"error": '{"code": 1}'}) == "myapp://cb?error=%7B%22code%22%3A+1%7D"
