"""E-mail verification and password recovery by a 6-digit code (issue 12; the newest SDK's
``create/update_email_verification_otp`` and ``create/update_recovery_otp``), each finished with
the code read from a real e-mail (aiosmtpd on loopback). SMTP off or failing for these routes is
in test_account_email_flows.py, with every other e-mail route."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from account_support import PASSWORD, account, as_member, expire_token, fallback_session, guest, member, sign_up
from users_support import assert_error, sdk_error, unique_email

from mail_support import one_time_code, part
from nib.http.ratelimit import RULES

NEW_PASSWORD = "brand-new-password-2"


def _expires_in(token, seconds: int) -> None:
    expected = datetime.now(timezone.utc) + timedelta(seconds=seconds)
    assert abs(datetime.fromisoformat(token.expire) - expected) < timedelta(minutes=1)


def _logs(server, session: str) -> set[str]:
    with guest(server, **{"X-Appwrite-Session": session}) as http:
        return {log["event"] for log in http.get("/account/logs").json()["logs"]}


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# -- verification -----------------------------------------------------------------------------------


def test_verification_by_code_through_the_sdk(server, smtp):
    who = member(server, name="Ada")
    me = account(server, session=who.session)
    token = me.create_email_verification_otp()
    assert token.userid == who.user["$id"] and token.secret == "" and token.phrase == ""
    _expires_in(token, 900)
    mail = smtp.mailbox.wait_for(who.email)
    assert mail["Subject"] == "Account Verification"
    text = part(mail, "plain")
    assert "Hey Ada" in text and "This code will expire in 15 minutes." in text
    assert not re.search(r"https?://", text)  # a code, no link
    code = one_time_code(mail)

    with sdk_error(401, "user_invalid_token"):
        me.update_email_verification_otp(who.user["$id"], _wrong(code))
    assert me.get().emailverification is False
    confirmed = me.update_email_verification_otp(who.user["$id"], code)  # still usable after a wrong one
    assert confirmed.id == token.id and confirmed.userid == who.user["$id"] and confirmed.secret == ""
    assert me.get().emailverification is True
    with sdk_error(401, "user_invalid_token"):  # once only
        me.update_email_verification_otp(who.user["$id"], code)
    assert {"verification.create", "verification.update"} <= _logs(server, who.session)


def test_verification_code_with_a_phrase_confirmed_by_a_guest(server, smtp):
    who = member(server)
    token = account(server, session=who.session).create_email_verification_otp(phrase=True)
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", token.phrase)
    mail = smtp.mailbox.wait_for(who.email)
    assert f"Security phrase for this email is {token.phrase}." in part(mail, "plain")
    with guest(server) as http:
        confirmed = http.put(
            "/account/verifications/email/otp", json={"userId": who.user["$id"], "secret": one_time_code(mail)}
        )
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["phrase"] == token.phrase
    assert account(server, session=who.session).get().emailverification is True
    with sdk_error(409, "user_email_already_verified"):
        account(server, session=who.session).create_email_verification_otp()


def test_codes_and_links_do_not_mix(server, smtp, db):
    who = member(server)
    me = account(server, session=who.session)
    token = me.create_email_verification_otp()
    code = one_time_code(smtp.mailbox.wait_for(who.email))
    with sdk_error(401, "user_invalid_token"):  # a code completes no link flow
        me.update_email_verification(who.user["$id"], code)
    with sdk_error(401, "user_invalid_token"):
        account(server).update_recovery_otp(who.user["$id"], code, NEW_PASSWORD)
    expire_token(db, server.project, token.id)
    with sdk_error(401, "user_invalid_token"):
        me.update_email_verification_otp(who.user["$id"], code)
    assert me.get().emailverification is False


def test_verification_code_refusals(server, smtp):
    with guest(server) as http:
        assert_error(
            http.post("/account/verifications/email/otp"),
            401,
            "general_unauthorized_scope",
            "User (role: guests) missing scope (account)",
        )
        assert_error(
            http.put("/account/verifications/email/otp", json={"userId": "missing-user-0000", "secret": "123456"}),
            404,
            "user_not_found",
        )
        assert_error(
            http.put("/account/verifications/email/otp", json={"secret": "123456"}),
            400,
            "general_argument_invalid",
            'Param "userId" is not optional.',
        )
        anonymous = fallback_session(http.post("/account/sessions/anonymous"), server.project)
    with sdk_error(400, "user_email_not_found"):
        account(server, session=anonymous).create_email_verification_otp()


# -- recovery ---------------------------------------------------------------------------------------


def test_recovery_by_code_through_the_sdk(server, smtp):
    user = sign_up(server, name="Grace")
    token = account(server).create_recovery_otp(user["email"].upper())
    assert token.userid == user["$id"] and token.secret == "" and token.phrase == ""
    _expires_in(token, 900)
    mail = smtp.mailbox.wait_for(user["email"])
    assert mail["Subject"] == "Password Reset" and "Hello Grace" in part(mail, "plain")
    code = one_time_code(mail)

    # A refused password changes nothing and leaves the code usable.
    with sdk_error(400, "general_argument_invalid"):
        account(server).update_recovery_otp(user["$id"], code, "short")
    with sdk_error(401, "user_invalid_token"):
        account(server).update_recovery_otp(user["$id"], _wrong(code), NEW_PASSWORD)
    assert account(server).create_email_password_session(user["email"], PASSWORD).userid == user["$id"]
    done = account(server).update_recovery_otp(user["$id"], code, NEW_PASSWORD)
    assert done.id == token.id and done.secret == ""

    with sdk_error(401, "user_invalid_credentials"):
        account(server).create_email_password_session(user["email"], PASSWORD)
    assert account(server).create_email_password_session(user["email"], NEW_PASSWORD).userid == user["$id"]
    with sdk_error(401, "user_invalid_token"):  # once only
        account(server).update_recovery_otp(user["$id"], code, "another-password-3")
    me = account(server, session=fallback_session_of(server, user["email"]))
    assert me.get().emailverification is True  # the user read the mail
    assert {"recovery.create", "recovery.update"} <= _logs(server, fallback_session_of(server, user["email"]))


def fallback_session_of(server, email: str) -> str:
    with guest(server) as http:
        response = http.post("/account/sessions/email", json={"email": email, "password": NEW_PASSWORD})
    return fallback_session(response, server.project)


def test_recovery_code_with_a_phrase(server, smtp):
    user = sign_up(server)
    token = account(server).create_recovery_otp(user["email"], phrase=True)
    assert token.phrase
    assert f"Security phrase for this email is {token.phrase}." in part(smtp.mailbox.wait_for(user["email"]), "plain")


def test_recovery_code_refusals(server, smtp, users, db):
    with sdk_error(404, "user_not_found"):
        account(server).create_recovery_otp(unique_email("nobody"))
    with guest(server) as http:
        assert_error(
            http.post("/account/recovery/otp", json={"email": "not-an-email"}), 400, "general_argument_invalid"
        )
    blocked = sign_up(server)
    users.update_status(blocked["$id"], False)
    with sdk_error(401, "user_blocked"):
        account(server).create_recovery_otp(blocked["email"])
    assert smtp.mailbox.pending(blocked["email"]) == 0

    user = sign_up(server)
    token = account(server).create_recovery_otp(user["email"])
    code = one_time_code(smtp.mailbox.wait_for(user["email"]))
    with sdk_error(404, "user_not_found"):
        account(server).update_recovery_otp("missing-user-0000", code, NEW_PASSWORD)
    with sdk_error(401, "user_invalid_token"):  # no sign-in either
        account(server).create_session(user["$id"], code)
    expire_token(db, server.project, token.id)
    with sdk_error(401, "user_invalid_token"):
        account(server).update_recovery_otp(user["$id"], code, NEW_PASSWORD)


def test_api_key_callers_see_the_code(server, smtp, http):
    user = sign_up(server)
    body = http.post("/account/recovery/otp", json={"email": user["email"]}).json()
    assert body["secret"] == one_time_code(smtp.mailbox.wait_for(user["email"]))


def test_a_signed_in_user_may_ask_for_a_recovery_code(server, smtp):
    who = member(server)
    with as_member(server, who) as http:
        assert http.post("/account/recovery/otp", json={"email": who.email}).status_code == 201
    assert len(one_time_code(smtp.mailbox.wait_for(who.email))) == 6


def test_rate_limits_mirror_the_link_routes():
    for method, path, key in (
        ("POST", "/v1/account/recovery/otp", "url:{url},email:{param-email}"),
        ("PUT", "/v1/account/recovery/otp", "url:{url},userId:{param-userId}"),
        ("POST", "/v1/account/verifications/email/otp", "url:{url},userId:{userId}"),
        ("PUT", "/v1/account/verifications/email/otp", "url:{url},userId:{param-userId}"),
    ):
        rule = RULES[(method, path)]
        assert (rule.limit, rule.period, rule.keys[0], rule.path) == (10, 3600, key, path)
