"""The Account e-mail flows over HTTP, each finished through the official SDK in client mode with
the secret read from a real e-mail (aiosmtpd on loopback): verification, password recovery,
magic URL and e-mail OTP sign-in (issue 3, E-mail), on the 1.5 paths and the newer SDKs'."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
from account_support import PASSWORD, account, as_member, expire_token, fallback_session, guest, member, sign_up
from appwrite.id import ID
from users_support import assert_error, count_rows, sdk_error, unique_email

from live_server import free_port
from mail_support import first_link, link_params, one_time_code, part
from nib.auth.principals import CACHE_SECONDS
from nib.auth.tables import tokens
from nib.data.db import Database
from nib.tools.config import Settings

APP = "https://app.example.com/welcome"
# Redirect URLs must be on the server's hostname or one of the project's web platforms.
INVALID_URL = "Invalid `url` param: URL host must be one of: localhost, app.example.com"


@pytest.fixture(scope="module", autouse=True)
def app_platform(server):
    """The app these tests redirect to is a web platform of the test project."""
    server.cli("platforms", "add", "--project", server.project, "--hostname", "app.example.com")
    time.sleep(CACHE_SECONDS)  # platforms are cached per process for this long
    yield
    server.cli("platforms", "remove", "--project", server.project, "--hostname", "app.example.com")


def test_redirect_to_a_host_that_is_no_platform_is_refused(server):
    who = member(server)
    with as_member(server, who) as http:
        response = http.post("/account/verification", json={"url": "https://evil.example.net/welcome"})
    assert_error(response, 400, "general_argument_invalid", INVALID_URL)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _expires_in(token, seconds: int) -> None:
    assert abs(datetime.fromisoformat(token.expire) - (_now() + timedelta(seconds=seconds))) < timedelta(minutes=1)


def _deprecated(call, *args):
    """Call an SDK method the newest SDK keeps for its 1.5 name (and warns about)."""
    with pytest.warns(DeprecationWarning):
        return call(*args)


def _logs(server, session: str) -> list[str]:
    with guest(server, **{"X-Appwrite-Session": session}) as http:
        return [log["event"] for log in http.get("/account/logs").json()["logs"]]


def _exchange(server, method: str, path: str, user_id: str, secret: str) -> tuple[dict, str]:
    """Trade a token for a session as a browser app does: (Session JSON, encoded session)."""
    with guest(server) as http:
        response = http.request(method, path, json={"userId": user_id, "secret": secret})
    assert response.status_code == 201, response.text
    return response.json(), fallback_session(response, server.project)


# -- e-mail verification --------------------------------------------------------------------------


def test_verification_through_the_sdk(server, smtp):
    who = member(server)
    me = account(server, session=who.session)
    token = me.create_email_verification(APP)  # POST /account/verifications/email
    assert token.userid == who.user["$id"] and token.secret == "" and token.phrase == ""
    _expires_in(token, 3600)

    mail = smtp.mailbox.wait_for(who.email)
    assert mail["Subject"] == "Account Verification"
    params = link_params(mail)
    assert params["userId"] == who.user["$id"] and len(params["secret"]) == 256 and params["expire"]
    assert first_link(mail).startswith(APP + "?")

    confirmed = me.update_email_verification(params["userId"], params["secret"])
    assert confirmed.id == token.id and confirmed.userid == who.user["$id"] and confirmed.secret == ""
    assert me.get().emailverification is True
    assert {"verification.create", "verification.update"} <= set(_logs(server, who.session))


def test_verification_on_the_1_5_paths_and_by_a_guest(server, smtp):
    who = member(server)
    with as_member(server, who) as http:
        created = http.post("/account/verification", json={"url": APP})
    assert created.status_code == 201, created.text
    params = link_params(smtp.mailbox.wait_for(who.email))
    # The link may be opened where nobody is signed in: the confirmation's scope is `public`.
    with guest(server) as http:
        confirmed = http.put("/account/verification", json=params)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["$id"] == created.json()["$id"]
    assert account(server, session=who.session).get().emailverification is True
    with sdk_error(409, "user_email_already_verified"):
        _deprecated(account(server, session=who.session).create_verification, APP)


def test_verification_secret_works_once(server, smtp):
    who = member(server)
    me = account(server, session=who.session)
    me.create_email_verification(APP)
    params = link_params(smtp.mailbox.wait_for(who.email))
    with sdk_error(401, "user_invalid_token"):
        me.update_email_verification(params["userId"], params["secret"][:-1] + "x")
    me.update_email_verification(params["userId"], params["secret"])
    with sdk_error(401, "user_invalid_token") as info:
        me.update_email_verification(params["userId"], params["secret"])
    assert info.value.message == "Invalid token passed in the request."


def test_expired_verification_is_refused(server, smtp, db):
    who = member(server)
    me = account(server, session=who.session)
    token = me.create_email_verification(APP)
    params = link_params(smtp.mailbox.wait_for(who.email))
    expire_token(db, server.project, token.id)
    with sdk_error(401, "user_invalid_token"):
        me.update_email_verification(params["userId"], params["secret"])
    assert me.get().emailverification is False


def test_verification_refusals(server, smtp):
    with guest(server) as http:
        assert_error(
            http.post("/account/verifications/email", json={"url": APP}),
            401,
            "general_unauthorized_scope",
            "User (role: guests) missing scope (account)",
        )
        assert_error(
            http.put("/account/verification", json={"userId": "missing-user-0000", "secret": "x" * 256}),
            404,
            "user_not_found",
        )
    who = member(server)
    with as_member(server, who) as http:
        for body in ({}, {"url": "not a url"}, {"url": "app.example.com/welcome"}, {"url": 5}):
            assert_error(http.post("/account/verification", json=body), 400, "general_argument_invalid")
        assert http.post("/account/verification", json={"url": "//x"}).json()["message"] == INVALID_URL
    with guest(server) as http:
        anonymous = fallback_session(http.post("/account/sessions/anonymous"), server.project)
    with sdk_error(400, "user_email_not_found"):
        account(server, session=anonymous).create_email_verification(APP)
    assert smtp.mailbox.pending(who.email) == 0


# -- password recovery ----------------------------------------------------------------------------


def test_recovery_through_the_sdk(server, smtp):
    user = sign_up(server, name="Ada")
    new_password = "brand-new-password-2"
    token = account(server).create_recovery(user["email"].upper(), APP)
    assert token.userid == user["$id"] and token.secret == ""
    _expires_in(token, 3600)

    mail = smtp.mailbox.wait_for(user["email"])
    assert "Hello Ada" in part(mail, "plain")
    params = link_params(mail)
    assert params["userId"] == user["$id"] and len(params["secret"]) == 256

    done = account(server).update_recovery(params["userId"], params["secret"], new_password)
    assert done.id == token.id and done.secret == ""

    with sdk_error(401, "user_invalid_credentials"):
        account(server).create_email_password_session(user["email"], PASSWORD)
    session = account(server).create_email_password_session(user["email"], new_password)
    assert session.userid == user["$id"]
    with sdk_error(401, "user_invalid_token"):
        account(server).update_recovery(params["userId"], params["secret"], "another-password-3")


def test_recovery_marks_the_email_verified_and_is_logged(server, smtp):
    who = member(server)
    account(server).create_recovery(who.email, APP)
    params = link_params(smtp.mailbox.wait_for(who.email))
    account(server).update_recovery(params["userId"], params["secret"], "brand-new-password-2")
    assert account(server, session=who.session).get().emailverification is True  # sessions stay valid
    assert {"recovery.create", "recovery.update"} <= set(_logs(server, who.session))


def test_recovery_refusals(server, smtp, db):
    with sdk_error(404, "user_not_found"):
        account(server).create_recovery(unique_email("nobody"), APP)
    user = sign_up(server)
    with guest(server) as http:
        assert_error(
            http.post("/account/recovery", json={"email": user["email"], "url": "nope"}),
            400,
            "general_argument_invalid",
            INVALID_URL,
        )
        assert_error(
            http.post("/account/recovery", json={"email": "not-an-email", "url": APP}), 400, "general_argument_invalid"
        )
    token = account(server).create_recovery(user["email"], APP)
    params = link_params(smtp.mailbox.wait_for(user["email"]))
    with sdk_error(400, "general_argument_invalid"):  # Appwrite's password rules: 8 chars at least
        account(server).update_recovery(params["userId"], params["secret"], "short")
    with sdk_error(401, "user_invalid_token"):
        account(server).update_recovery(params["userId"], "x" * 256, "brand-new-password-2")
    with sdk_error(404, "user_not_found"):
        account(server).update_recovery("missing-user-0000", params["secret"], "brand-new-password-2")
    with sdk_error(401, "user_invalid_token"):  # a recovery link is no way to sign in
        account(server).create_session(params["userId"], params["secret"])
    with sdk_error(401, "user_invalid_token"):  # nor does it verify the address
        account(server).update_email_verification(params["userId"], params["secret"])
    expire_token(db, server.project, token.id)
    with sdk_error(401, "user_invalid_token"):
        account(server).update_recovery(params["userId"], params["secret"], "brand-new-password-2")


def test_blocked_user_gets_no_recovery_mail(server, smtp, users):
    user = sign_up(server)
    users.update_status(user["$id"], False)
    with sdk_error(401, "user_blocked"):
        account(server).create_recovery(user["email"], APP)
    assert smtp.mailbox.pending(user["email"]) == 0


def test_api_key_callers_see_the_secret(server, smtp, http):
    user = sign_up(server)
    body = http.post("/account/recovery", json={"email": user["email"], "url": APP}).json()
    assert body["secret"] == link_params(smtp.mailbox.wait_for(user["email"]))["secret"]
    body = http.post("/account/tokens/email", json={"userId": ID.unique(), "email": user["email"]}).json()
    assert body["secret"] == one_time_code(smtp.mailbox.wait_for(user["email"]))


# -- magic URL ------------------------------------------------------------------------------------


def test_magic_url_signs_an_existing_user_in(server, smtp):
    user = sign_up(server)
    token = account(server).create_magic_url_token(ID.unique(), user["email"], f"{APP}?lang=en")
    assert token.userid == user["$id"] and token.secret == "" and token.phrase == ""
    _expires_in(token, 3600)

    mail = smtp.mailbox.wait_for(user["email"])
    params = link_params(mail)
    assert params["lang"] == "en" and params["project"] == server.project and params["userId"] == user["$id"]
    assert len(params["secret"]) == 64
    assert datetime.fromisoformat(params["expire"]) == datetime.fromisoformat(token.expire)

    session, encoded = _exchange(server, "PUT", "/account/sessions/magic-url", params["userId"], params["secret"])
    assert session["provider"] == "magic-url" and session["factors"] == ["email"] and session["secret"] == ""
    me = account(server, session=encoded).get()
    assert me.id == user["$id"] and me.emailverification is True
    with sdk_error(401, "user_invalid_token"):
        _deprecated(account(server).update_magic_url_session, params["userId"], params["secret"])


def test_magic_url_for_a_new_address_creates_the_user(server, smtp, users):
    email, user_id = unique_email("magic"), ID.custom(f"m{ID.unique()[:12]}")
    token = account(server).create_magic_url_token(user_id, email, APP)
    assert token.userid == user_id
    params = link_params(smtp.mailbox.wait_for(email))
    session = _deprecated(account(server).update_magic_url_session, params["userId"], params["secret"])
    assert session.userid == user_id and session.provider == "magic-url" and session.factors == ["email"]
    created = users.get(user_id)
    assert created.email == email and created.emailverification is True and created.passwordupdate == ""


def test_magic_url_defaults_and_phrase(server, smtp):
    email = unique_email("magic")
    with guest(server) as http:
        response = http.post(
            "/account/sessions/magic-url", json={"userId": ID.unique(), "email": email, "phrase": True}
        )
    assert response.status_code == 201, response.text
    phrase = response.json()["phrase"]
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", phrase)
    mail = smtp.mailbox.wait_for(email)
    assert phrase in part(mail, "plain")
    link = urlsplit(first_link(mail))
    assert (link.scheme, link.netloc, link.path) == ("http", "127.0.0.1", "/auth/magic-url")
    with guest(server) as http:
        assert_error(
            http.post("/account/tokens/magic-url", json={"userId": ID.unique(), "email": email, "url": "x"}),
            400,
            "general_argument_invalid",
            INVALID_URL,
        )
        assert_error(
            http.post("/account/tokens/magic-url", json={"userId": ID.unique(), "email": email, "phrase": "yes"}),
            400,
            "general_argument_invalid",
            "Invalid `phrase` param: Value must be a valid boolean",
        )


def test_expired_magic_url_is_refused(server, smtp, db):
    user = sign_up(server)
    token = account(server).create_magic_url_token(ID.unique(), user["email"], APP)
    params = link_params(smtp.mailbox.wait_for(user["email"]))
    expire_token(db, server.project, token.id)
    with sdk_error(401, "user_invalid_token"):
        _deprecated(account(server).update_magic_url_session, params["userId"], params["secret"])


# -- e-mail OTP -----------------------------------------------------------------------------------


def test_email_otp_sign_in(server, smtp):
    user = sign_up(server)
    token = account(server).create_email_token(ID.unique(), user["email"], phrase=True)
    assert token.userid == user["$id"] and token.secret == "" and token.phrase
    _expires_in(token, 900)

    mail = smtp.mailbox.wait_for(user["email"])
    code = one_time_code(mail)
    assert token.phrase in part(mail, "plain")
    with sdk_error(401, "user_invalid_token"):
        account(server).create_session(user["$id"], f"{(int(code) + 1) % 1000000:06d}")

    session, encoded = _exchange(server, "POST", "/account/sessions/token", user["$id"], code)
    assert session["provider"] == "email" and session["factors"] == ["email"]
    me = account(server, session=encoded).get()
    assert me.id == user["$id"] and me.emailverification is True
    with sdk_error(401, "user_invalid_token"):
        account(server).create_session(user["$id"], code)
    assert "session.create" in _logs(server, encoded)


def test_email_otp_through_the_sdk_for_a_new_address(server, smtp, db):
    email = unique_email("otp")
    token = account(server).create_email_token(ID.unique(), email)
    assert token.phrase == ""
    code = one_time_code(smtp.mailbox.wait_for(email))
    session = account(server).create_session(token.userid, code)
    assert session.userid == token.userid and session.provider == "email" and session.secret == ""
    assert count_rows(db, tokens, server.project, user_id=token.userid) == 0  # consumed

    expired = account(server).create_email_token(ID.unique(), email)
    code = one_time_code(smtp.mailbox.wait_for(email))
    expire_token(db, server.project, expired.id)
    with sdk_error(401, "user_invalid_token"):
        account(server).create_session(token.userid, code)


def test_tokens_are_not_refused_to_a_signed_in_user(server, smtp):
    """Unlike the session routes, asking for a token is not in Appwrite's session group."""
    who = member(server)
    token = account(server, session=who.session).create_email_token(ID.unique(), who.email)
    assert token.userid == who.user["$id"] and token.secret == ""
    assert len(one_time_code(smtp.mailbox.wait_for(who.email))) == 6


# -- without working SMTP -------------------------------------------------------------------------


@pytest.fixture
def mail_nib(nib_with):
    """Another nib with these settings, whose test project lets e-mail links go to the app."""

    def start(**env: str):
        nib = nib_with(**env)
        nib.cli("platforms", "add", "--project", nib.project, "--hostname", "app.example.com")
        time.sleep(CACHE_SECONDS)
        return nib

    return start


def _every_mail_route(nib) -> list:
    """(method, path, body, session) of every route that sends e-mail, 1.5 and newer spellings."""
    who = member(nib)
    email = unique_email("nomail")
    return [
        ("POST", "/account/verification", {"url": APP}, who.session),
        ("POST", "/account/verifications/email", {"url": APP}, who.session),
        ("POST", "/account/recovery", {"email": who.email, "url": APP}, None),
        ("POST", "/account/tokens/magic-url", {"userId": ID.unique(), "email": email, "url": APP}, None),
        ("POST", "/account/sessions/magic-url", {"userId": ID.unique(), "email": email}, None),
        ("POST", "/account/tokens/email", {"userId": ID.unique(), "email": who.email}, None),
        ("POST", "/account/verifications/email/otp", {}, who.session),
        ("POST", "/account/recovery/otp", {"email": who.email}, None),
    ]


def _call(nib, method: str, path: str, body: dict, session: str | None):
    headers = {"X-Appwrite-Session": session} if session else {}
    with guest(nib, **headers) as http:
        return http.request(method, path, json=body)


def test_smtp_disabled(server, mail_nib):
    nib = mail_nib(NIB_SMTP_HOST="")
    for method, path, body, session in _every_mail_route(nib):
        assert_error(_call(nib, method, path, body, session), 503, "general_smtp_disabled", "SMTP disabled")


def test_smtp_failure_is_reported_and_leaves_no_token(server, mail_nib):
    nib = mail_nib(NIB_SMTP_HOST="127.0.0.1", NIB_SMTP_PORT=str(free_port()))  # nobody listens there
    for method, path, body, session in _every_mail_route(nib):
        error = assert_error(_call(nib, method, path, body, session), 503, "general_server_error")
        assert (
            error["message"]
            == "E-mail could not be sent: the SMTP server could not be reached. Please try again later."
        )
    assert _stored_tokens(nib) == 0


def _stored_tokens(nib) -> int:
    settings = Settings.from_env(data_dir=nib.data_dir, database_url=nib.database_url)
    database = Database(settings.resolved_database_url, pool_size=1)
    try:
        return count_rows(database, tokens, nib.project)
    finally:
        database.dispose()
