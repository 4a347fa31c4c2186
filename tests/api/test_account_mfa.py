"""MFA of the signed-in user through the official SDK in client mode: the TOTP authenticator,
recovery codes, challenges (TOTP, e-mail, recovery code) and the sign-in they complete,
on the 1.5 paths and the newer SDKs' ``/account/mfa/challenges``."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pyotp
import pytest
import sqlalchemy as sa
from account_support import account, fallback_session, guest, member, sign_in
from appwrite.enums.authentication_factor import AuthenticationFactor
from appwrite.enums.authenticator_type import AuthenticatorType
from appwrite.services.account import Account
from users_support import assert_error, count_rows, parse_dt, sdk_error, user_row

from live_server import BACKENDS, create_pg_database, drop_pg_database, start_server, stop_server
from mail_support import one_time_code, part
from nib.account.tables import challenges
from nib.auth.tables import authenticators, projects, sessions

TOTP = AuthenticatorType.TOTP
CODE = re.compile(r"^[0-9a-f]{10}$")
GUEST_MESSAGE = "User (role: guests) missing scope (account)"


# -- helpers --------------------------------------------------------------------------------------


def enrol(me: Account) -> str:
    """Add and verify a TOTP authenticator; returns its secret."""
    secret = me.create_mfa_authenticator(TOTP).secret
    me.update_mfa_authenticator(TOTP, pyotp.TOTP(secret).now())
    return secret


def mfa_member(server):
    """A member with a verified authenticator and MFA on: (member, TOTP secret)."""
    who = member(server)
    me = account(server, session=who.session)
    secret = enrol(me)
    assert me.update_mfa(True).mfa is True
    return who, secret


def new_session(server, who) -> str:
    """A fresh e-mail/password session of ``who`` (one factor): its encoded value."""
    return sign_in(server, who.email)[1]


def with_session(server, session: str):
    return guest(server, **{"X-Appwrite-Session": session})


def challenge(http, factor: str, path: str = "/account/mfa/challenges") -> str:
    response = http.post(path, json={"factor": factor})
    assert response.status_code == 201, response.text
    return response.json()["$id"]


def answer(http, challenge_id: str, otp: str, path: str = "/account/mfa/challenges"):
    return http.put(path, json={"challengeId": challenge_id, "otp": otp})


def delete_totp(http, otp: str):
    """DELETE with the otp in the body, as the 1.5 SDKs send it."""
    return http.request("DELETE", "/account/mfa/authenticators/totp", json={"otp": otp})


def pass_totp_challenge(server, session: str, secret: str) -> None:
    """Complete a TOTP challenge on ``session`` (second factor, recent challenge)."""
    me = account(server, session=session)
    created = me.create_mfa_challenge(AuthenticationFactor.TOTP)
    me.update_mfa_challenge(created.id, pyotp.TOTP(secret).now())


def project_name(db, project: str) -> str:
    with db.read() as conn:
        return conn.execute(sa.select(projects.c.name).where(projects.c.id == project)).scalar_one()


def set_challenge_expire(db, project: str, challenge_id: str, expire: datetime) -> None:
    with db.write() as conn:
        conn.execute(
            challenges.update()
            .where(challenges.c.project_id == project, challenges.c.id == challenge_id)
            .values(expire=expire)
        )


@pytest.fixture(scope="module", params=BACKENDS)
def mailless(request, tmp_path_factory):
    """A server of its own with no SMTP host configured."""
    pg_name = create_pg_database() if request.param == "postgresql" else None
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}" if pg_name else None
    nib = start_server(request.param, tmp_path_factory.mktemp("mailless"), url, env={"NIB_SMTP_HOST": ""})
    yield nib
    stop_server(nib)
    if pg_name:
        drop_pg_database(pg_name)


# -- access ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path",
    [
        ("PATCH", "/account/mfa"),
        ("GET", "/account/mfa/factors"),
        ("POST", "/account/mfa/authenticators/totp"),
        ("GET", "/account/mfa/recovery-codes"),
        ("POST", "/account/mfa/challenge"),
        ("PUT", "/account/mfa/challenges"),
    ],
)
def test_guests_are_refused(server, method, path):
    with guest(server) as http:
        assert_error(http.request(method, path), 401, "general_unauthorized_scope", GUEST_MESSAGE)


def test_one_factor_session_reaches_only_the_exempt_routes(server):
    who, secret = mfa_member(server)
    with with_session(server, new_session(server, who)) as http:
        for method, path in (
            ("GET", "/account"),
            ("PATCH", "/account/mfa"),
            ("POST", "/account/mfa/recovery-codes"),
            ("POST", "/account/mfa/authenticators/totp"),
            ("DELETE", "/account/mfa/authenticators/totp"),
        ):
            assert_error(http.request(method, path), 401, "user_more_factors_required")
        assert http.get("/account/mfa/factors").json()["totp"] is True
        challenge_id = challenge(http, "totp", "/account/mfa/challenge")
        assert answer(http, challenge_id, pyotp.TOTP(secret).now(), "/account/mfa/challenge").status_code == 200
        assert http.get("/account").status_code == 200


# -- the TOTP authenticator -------------------------------------------------------------------------


def test_totp_enrolment(server, db):
    who = member(server)
    me = account(server, session=who.session)
    with with_session(server, who.session) as http:
        response = http.post("/account/mfa/authenticators/totp")
    assert response.status_code == 200
    created = response.json()
    secret = created["secret"]
    assert re.fullmatch(r"[A-Z2-7]{103}", secret)
    issuer = project_name(db, server.project)
    assert created["uri"] == (
        f"otpauth://totp/{quote(issuer, safe='')}%3A{quote(who.email, safe='')}"
        f"?issuer={quote(issuer, safe='')}&secret={secret}"
    )
    assert pyotp.parse_uri(created["uri"]).secret == secret
    assert me.list_mfa_factors().totp is False  # not before it is verified

    verified = me.update_mfa_authenticator(TOTP, pyotp.TOTP(secret).now())
    assert verified.id == who.user["$id"] and verified.mfa is False
    assert me.list_mfa_factors().totp is True
    current = me.get_session("current")
    assert current.factors == ["password", "totp"]
    assert count_rows(db, authenticators, server.project, user_id=who.user["$id"], verified=True) == 1

    with sdk_error(409, "user_authenticator_already_verified"):
        me.create_mfa_authenticator(TOTP)
    with sdk_error(409, "user_authenticator_already_verified"):
        me.update_mfa_authenticator(TOTP, pyotp.TOTP(secret).now())


def test_unverified_authenticator_is_replaced(server, db):
    who = member(server)
    me = account(server, session=who.session)
    first = me.create_mfa_authenticator(TOTP).secret
    second = me.create_mfa_authenticator(TOTP).secret
    assert first != second
    assert count_rows(db, authenticators, server.project, user_id=who.user["$id"]) == 1
    assert me.update_mfa_authenticator(TOTP, pyotp.TOTP(second).now()).mfa is False


def test_verify_authenticator_failures(server):
    who = member(server)
    me = account(server, session=who.session)
    with sdk_error(404, "user_authenticator_not_found"):
        me.update_mfa_authenticator(TOTP, "123456")
    secret = me.create_mfa_authenticator(TOTP).secret
    wrong = f"{(int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000:06d}"
    with sdk_error(401, "user_invalid_token"):
        me.update_mfa_authenticator(TOTP, wrong)
    with with_session(server, who.session) as http:
        for kind in ("sms", "TOTP"):
            assert_error(
                http.post(f"/account/mfa/authenticators/{kind}"),
                400,
                "general_argument_invalid",
                "Invalid `type` param: Value must be one of (totp)",
            )
        assert_error(http.put("/account/mfa/authenticators/totp", json={}), 400, "general_argument_invalid")
        assert_error(http.put("/account/mfa/authenticators/totp", json={"otp": ""}), 400, "general_argument_invalid")
    assert me.list_mfa_factors().totp is False


def test_totp_accepts_one_step_of_drift(server):
    """nib's choice: the previous and next 30-second codes count too (Appwrite 1.5: only the current)."""
    who = member(server)
    me = account(server, session=who.session)
    secret = me.create_mfa_authenticator(TOTP).secret
    if time.time() % 30 > 25:  # keep the server's window the test's one
        time.sleep(30 - time.time() % 30 + 0.1)
    totp = pyotp.TOTP(secret)
    with sdk_error(401, "user_invalid_token"):
        me.update_mfa_authenticator(TOTP, totp.at(time.time() - 90))
    assert me.update_mfa_authenticator(TOTP, totp.at(time.time() - 30)).mfa is False


def test_delete_authenticator_with_an_otp(server, db):
    who = member(server)
    me = account(server, session=who.session)
    with with_session(server, who.session) as http:
        assert_error(delete_totp(http, "123456"), 404, "user_authenticator_not_found")
        secret = enrol(me)
        assert_error(delete_totp(http, "nonsense"), 401, "user_invalid_token")
        response = delete_totp(http, pyotp.TOTP(secret).now())
        assert response.status_code == 204
        assert me.list_mfa_factors().totp is False
        # An unused recovery code works instead of the TOTP code, and is used up.
        enrol(me)
        codes = me.create_mfa_recovery_codes().recoverycodes
        assert delete_totp(http, codes[0]).status_code == 204
    assert count_rows(db, authenticators, server.project, user_id=who.user["$id"]) == 0
    assert user_row(db, server.project, who.user["$id"])["mfa_recovery_codes"] == codes[1:]


def test_delete_authenticator_without_otp_needs_a_recent_challenge(server):
    """The newest SDK sends no otp (newer servers ask for a recent challenge instead)."""
    who = member(server)
    me = account(server, session=who.session)
    secret = enrol(me)
    with sdk_error(401, "user_challenge_required"):
        me.delete_mfa_authenticator(TOTP)
    pass_totp_challenge(server, who.session, secret)
    me.delete_mfa_authenticator(TOTP)
    assert me.list_mfa_factors().totp is False
    with sdk_error(404, "user_authenticator_not_found"):
        me.delete_mfa_authenticator(TOTP)


# -- MFA on and off, factors ------------------------------------------------------------------------


def test_factors(server, users):
    who = member(server)
    me = account(server, session=who.session)
    factors = me.list_mfa_factors()
    assert (factors.totp, factors.email, factors.phone, factors.recoverycode) == (False, False, False, False)
    users.update_email_verification(who.user["$id"], True)
    enrol(me)
    me.create_mfa_recovery_codes()
    with with_session(server, who.session) as http:
        assert http.get("/account/mfa/factors").json() == {
            "totp": True,
            "phone": False,
            "email": True,
            "recoveryCode": True,
            "custom": False,
        }


def test_update_mfa(server, users):
    who = member(server)
    me = account(server, session=who.session)
    with with_session(server, who.session) as http:
        assert_error(http.patch("/account/mfa", json={"mfa": "true"}), 400, "general_argument_invalid")
        assert_error(http.patch("/account/mfa", json={}), 400, "general_argument_invalid")
    users.update_email_verification(who.user["$id"], True)
    # Turning MFA on credits this session with the verified e-mail: it is not locked out.
    assert me.update_mfa(True).mfa is True
    assert me.get_session("current").factors == ["password", "email"]
    assert me.get().mfa is True
    gated = new_session(server, who)
    with sdk_error(401, "user_more_factors_required"):
        account(server, session=gated).get()
    assert me.update_mfa(False).mfa is False
    assert account(server, session=gated).get().mfa is False


# -- signing in with a second factor ----------------------------------------------------------------


def test_sign_in_with_a_totp_challenge(server):
    who, secret = mfa_member(server)
    session = new_session(server, who)
    me = account(server, session=session)
    with sdk_error(401, "user_more_factors_required"):
        me.get()
    created = me.create_mfa_challenge(AuthenticationFactor.TOTP)
    assert created.userid == who.user["$id"]
    expire = parse_dt(created.expire) - parse_dt(created.createdat)
    assert expire == timedelta(hours=1)
    completed = me.update_mfa_challenge(created.id, pyotp.TOTP(secret).now())
    assert completed.factors == ["password", "totp"]
    assert completed.secret == "" and completed.current is True
    assert abs(parse_dt(completed.mfaupdatedat) - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert me.get().id == who.user["$id"]
    with sdk_error(401, "user_invalid_token"):  # single use
        me.update_mfa_challenge(created.id, pyotp.TOTP(secret).now())


def test_email_challenge(server, smtp, users, db):
    who = member(server, name="Mira")
    users.update_email_verification(who.user["$id"], True)
    account(server, session=who.session).update_mfa(True)
    session = new_session(server, who)
    me = account(server, session=session)
    with sdk_error(401, "user_more_factors_required"):
        me.get()
    created = me.create_mfa_challenge(AuthenticationFactor.EMAIL)
    message = smtp.mailbox.wait_for(who.email)
    assert message["Subject"] == f"Verification Code for {project_name(db, server.project)}"
    assert "Hello Mira," in part(message, "plain")
    code = one_time_code(message)
    with sdk_error(401, "user_invalid_token"):
        me.update_mfa_challenge(created.id, f"{(int(code) + 1) % 1_000_000:06d}")
    # Only the code's digest is stored.
    assert (
        count_rows(db, challenges, server.project, id=created.id, code_hash=hashlib.sha256(code.encode()).hexdigest())
        == 1
    )
    assert me.update_mfa_challenge(created.id, code).factors == ["password", "email"]
    assert me.get().email == who.email


def test_email_challenge_needs_a_verified_email(server, db):
    who = member(server)
    with with_session(server, who.session) as http:
        assert_error(http.post("/account/mfa/challenges", json={"factor": "email"}), 400, "user_email_not_verified")
    with guest(server) as http:
        anonymous = http.post("/account/sessions/anonymous")
    user_id = anonymous.json()["userId"]
    session = fallback_session(anonymous, server.project)
    with with_session(server, session) as http:
        assert_error(http.post("/account/mfa/challenges", json={"factor": "email"}), 400, "user_email_not_found")
    for owner in (who.user["$id"], user_id):
        assert count_rows(db, challenges, server.project, user_id=owner) == 0


def test_email_challenge_without_smtp(mailless):
    who = member(mailless)
    with with_session(mailless, who.session) as http:
        assert_error(http.post("/account/mfa/challenges", json={"factor": "email"}), 503, "general_smtp_disabled")


def test_phone_challenge_is_disabled(server):
    who = member(server)
    with sdk_error(503, "general_phone_disabled"):
        account(server, session=who.session).create_mfa_challenge(AuthenticationFactor.PHONE)


def test_challenge_failures(server, db):
    who, secret = mfa_member(server)
    other, _ = mfa_member(server)
    session = new_session(server, who)
    with with_session(server, session) as http:
        for factor in ("sms", ""):
            assert_error(
                http.post("/account/mfa/challenges", json={"factor": factor}),
                400,
                "general_argument_invalid",
                "Invalid `factor` param: Value must be one of (email, phone, totp, recoverycode, custom)",
            )
        assert_error(http.put("/account/mfa/challenges", json={"otp": "123456"}), 400, "general_argument_invalid")
        assert_error(answer(http, "unknown-challenge", pyotp.TOTP(secret).now()), 401, "user_invalid_token")
        with with_session(server, other.session) as theirs:
            foreign = challenge(theirs, "totp")
        assert_error(answer(http, foreign, pyotp.TOTP(secret).now()), 401, "user_invalid_token")

        # A wrong answer leaves the challenge open; an expired one is refused.
        open_one = challenge(http, "totp")
        assert_error(answer(http, open_one, "000000x"), 401, "user_invalid_token")
        set_challenge_expire(db, server.project, open_one, datetime.now(timezone.utc) - timedelta(seconds=1))
        assert_error(answer(http, open_one, pyotp.TOTP(secret).now()), 401, "user_invalid_token")
        assert_error(http.get("/account"), 401, "user_more_factors_required")

        retried = challenge(http, "totp")
        assert_error(answer(http, retried, "999999x"), 401, "user_invalid_token")
        assert answer(http, retried, pyotp.TOTP(secret).now()).status_code == 200
    assert count_rows(db, challenges, server.project, id=retried) == 0


def test_totp_challenge_needs_a_verified_authenticator(server):
    who = member(server)
    me = account(server, session=who.session)
    secret = me.create_mfa_authenticator(TOTP).secret
    created = me.create_mfa_challenge(AuthenticationFactor.TOTP)
    with sdk_error(401, "user_invalid_token"):
        me.update_mfa_challenge(created.id, pyotp.TOTP(secret).now())


# -- recovery codes ---------------------------------------------------------------------------------


def test_recovery_codes(server):
    who, secret = mfa_member(server)
    me = account(server, session=who.session)
    with with_session(server, who.session) as http:
        response = http.post("/account/mfa/recovery-codes")
    assert response.status_code == 201
    codes = response.json()["recoveryCodes"]
    assert len(codes) == 6 and all(CODE.match(code) for code in codes)
    with sdk_error(409, "user_recovery_codes_already_exists"):
        me.create_mfa_recovery_codes()
    # Reading or replacing them needs a challenge completed in the last 30 minutes.
    with sdk_error(401, "user_challenge_required"):
        me.get_mfa_recovery_codes()
    with sdk_error(401, "user_challenge_required"):
        me.update_mfa_recovery_codes()
    pass_totp_challenge(server, who.session, secret)
    assert me.get_mfa_recovery_codes().recoverycodes == codes
    renewed = me.update_mfa_recovery_codes().recoverycodes
    assert len(renewed) == 6 and set(renewed).isdisjoint(codes)
    assert me.get_mfa_recovery_codes().recoverycodes == renewed
    assert me.list_mfa_factors().recoverycode is True


def test_recent_challenge_lasts_30_minutes(server, db):
    who, secret = mfa_member(server)
    me = account(server, session=who.session)
    pass_totp_challenge(server, who.session, secret)
    with sdk_error(404, "user_recovery_codes_not_found"):
        me.get_mfa_recovery_codes()
    with sdk_error(404, "user_recovery_codes_not_found"):
        me.update_mfa_recovery_codes()
    session_id = me.get_session("current").id
    with db.write() as conn:
        conn.execute(
            sessions.update()
            .where(sessions.c.project_id == server.project, sessions.c.id == session_id)
            .values(mfa_updated_at=datetime.now(timezone.utc) - timedelta(minutes=31))
        )
    with sdk_error(401, "user_challenge_required"):
        me.get_mfa_recovery_codes()


def test_recovery_code_challenge_is_single_use(server, db):
    who, _ = mfa_member(server)
    codes = account(server, session=who.session).create_mfa_recovery_codes().recoverycodes
    # The SDKs send "recoverycode", Appwrite's own tests "recoveryCode": the same factor.
    me = account(server, session=new_session(server, who))
    created = me.create_mfa_challenge(AuthenticationFactor.RECOVERYCODE)
    completed = me.update_mfa_challenge(created.id, codes[0])
    assert completed.factors == ["password", "recoveryCode"]
    assert me.get().id == who.user["$id"]
    with with_session(server, new_session(server, who)) as http:
        used = challenge(http, "recoveryCode", "/account/mfa/challenge")
        assert_error(answer(http, used, codes[0], "/account/mfa/challenge"), 401, "user_invalid_token")
        assert answer(http, used, codes[1], "/account/mfa/challenge").json()["factors"] == ["password", "recoveryCode"]
    assert user_row(db, server.project, who.user["$id"])["mfa_recovery_codes"] == codes[2:]


def test_one_recovery_code_wins_one_concurrent_race(server):
    who, _ = mfa_member(server)
    code = account(server, session=who.session).create_mfa_recovery_codes().recoverycodes[0]
    racers = 4
    session = new_session(server, who)
    with with_session(server, session) as http:
        ids = [challenge(http, "recoverycode") for _ in range(racers)]
    start = threading.Barrier(racers)

    def use(challenge_id: str) -> int:
        with with_session(server, session) as own:
            start.wait()
            return answer(own, challenge_id, code).status_code

    with ThreadPoolExecutor(racers) as pool:
        statuses = sorted(pool.map(use, ids))
    assert statuses == [200] + [401] * (racers - 1)


# -- audit ------------------------------------------------------------------------------------------


def test_audit_events(server):
    who, secret = mfa_member(server)
    session = new_session(server, who)
    pass_totp_challenge(server, session, secret)
    with with_session(server, session) as http:
        events = [entry["event"] for entry in http.get("/account/logs").json()["logs"]]
    assert events[:7] == [
        "challenges.update",
        "challenge.create",
        "session.create",
        "user.update",  # PATCH /account/mfa
        "user.update",  # PUT …/authenticators/totp
        "user.update",  # POST …/authenticators/totp
        "session.create",
    ]
