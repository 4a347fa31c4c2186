"""nib.account.email_flows on a real database (SQLite and PostgreSQL) and a real SMTP server:
each flow's e-mail is read from the server, its link or code followed, and the flow finished."""

from __future__ import annotations

import hashlib
import re
import socket
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from mail_support import first_link, link_params, one_time_code, part
from nib.account import email_flows
from nib.auth import passwords
from nib.auth.tables import identities, tokens, users
from nib.tools import dates
from nib.tools.config import Settings
from nib.tools.errors import AppwriteError
from nib.users.service import create_user, get_user, update_user

PROJECT = "default"
CLIENT = {"ip": "203.0.113.9", "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"}


@pytest.fixture
def settings(smtp) -> Settings:
    return Settings(smtp_host=smtp.host, smtp_port=smtp.port, smtp_timeout=5.0)


def new_address() -> str:
    return f"u{uuid.uuid4().hex[:12]}@example.com"


def new_user(db, *, password: str | None = None, name: str = "Jane") -> dict:
    row, _ = create_user(db, project_id=PROJECT, user_id="unique()", email=new_address(), password=password, name=name)
    return dict(row)


def stored_tokens(db, user_id: str) -> list[dict]:
    with db.read() as conn:
        statement = sa.select(tokens).where(tokens.c.project_id == PROJECT, tokens.c.user_id == user_id)
        return [dict(row) for row in conn.execute(statement).mappings()]


def assert_error(call, error_type: str, status: int) -> None:
    with pytest.raises(AppwriteError) as failure:
        call()
    assert (failure.value.type, failure.value.status) == (error_type, status)


def seconds_from_now(moment: datetime) -> float:
    return (moment - datetime.now(timezone.utc)).total_seconds()


# ---------------------------------------------------------------------------------------------
# Verification


def test_verification_round_trip(service_db, settings, smtp):
    user = new_user(service_db)
    row, secret = email_flows.create_verification(
        service_db,
        settings,
        project_id=PROJECT,
        user_id=user["id"],
        url="http://localhost:3000/verify?lang=en",
        **CLIENT,
    )
    message = smtp.mailbox.wait_for(user["email"])
    assert message["Subject"] == "Account Verification"
    assert part(message, "plain").startswith("Hey Jane\n\n")
    assert "Nib Test team" in part(message, "plain")
    href = first_link(message)
    assert href.startswith("http://localhost:3000/verify?lang=en&userId=")
    params = link_params(message)
    assert params["userId"] == user["id"] and params["secret"] == secret
    assert re.fullmatch(r"[0-9a-f]{256}", secret)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", params["expire"])
    assert params["expire"] == row["expire"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    [stored] = stored_tokens(service_db, user["id"])
    assert (stored["type"], stored["id"], stored["ip"]) == ("verification", row["id"], CLIENT["ip"])
    assert stored["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert 3590 < seconds_from_now(stored["expire"]) <= 3600

    confirmed = email_flows.confirm_verification(
        service_db, project_id=PROJECT, user_id=params["userId"], secret=params["secret"]
    )
    assert confirmed["id"] == row["id"]
    assert get_user(service_db, project_id=PROJECT, user_id=user["id"])[0]["email_verification"] is True
    assert stored_tokens(service_db, user["id"]) == []
    # Single use; and a verified address gets no second e-mail.
    assert_error(
        lambda: email_flows.confirm_verification(service_db, project_id=PROJECT, user_id=user["id"], secret=secret),
        "user_invalid_token",
        401,
    )
    assert_error(
        lambda: email_flows.create_verification(
            service_db, settings, project_id=PROJECT, user_id=user["id"], url="http://localhost", **CLIENT
        ),
        "user_email_already_verified",
        409,
    )
    assert smtp.mailbox.pending(user["email"]) == 0


def test_verification_refusals(service_db, settings):
    user = new_user(service_db)
    assert_error(
        lambda: email_flows.confirm_verification(service_db, project_id=PROJECT, user_id="nobody", secret="x"),
        "user_not_found",
        404,
    )
    assert_error(
        lambda: email_flows.confirm_verification(service_db, project_id=PROJECT, user_id=user["id"], secret="x" * 256),
        "user_invalid_token",
        401,
    )
    phoneless, _ = create_user(
        service_db, project_id=PROJECT, user_id="unique()", phone=f"+1555{uuid.uuid4().int % 10**7:07d}"
    )
    assert_error(
        lambda: email_flows.create_verification(
            service_db, settings, project_id=PROJECT, user_id=phoneless["id"], url="http://localhost", **CLIENT
        ),
        "user_email_not_found",
        400,
    )


def test_expired_token_is_refused(service_db, settings, smtp):
    user = new_user(service_db)
    row, secret = email_flows.create_verification(
        service_db, settings, project_id=PROJECT, user_id=user["id"], url="http://localhost", **CLIENT
    )
    smtp.mailbox.wait_for(user["email"])
    with service_db.write() as conn:
        conn.execute(tokens.update().where(tokens.c.id == row["id"]).values(expire=dates.now() - timedelta(seconds=1)))
    assert_error(
        lambda: email_flows.confirm_verification(service_db, project_id=PROJECT, user_id=user["id"], secret=secret),
        "user_invalid_token",
        401,
    )
    assert get_user(service_db, project_id=PROJECT, user_id=user["id"])[0]["email_verification"] is False


# ---------------------------------------------------------------------------------------------
# Password recovery


def test_recovery_round_trip(service_db, settings, smtp):
    user = new_user(service_db, password="old-password-1")
    row, secret = email_flows.create_recovery(
        service_db, settings, project_id=PROJECT, email=user["email"].upper(), url="https://localhost/reset", **CLIENT
    )
    message = smtp.mailbox.wait_for(user["email"])
    assert message["Subject"] == "Password Reset"
    assert message["To"] == f"Jane <{user['email']}>"
    assert "Follow this link to reset your Nib Test password." in part(message, "plain")
    params = link_params(message)
    assert (params["userId"], params["secret"]) == (user["id"], secret)
    assert stored_tokens(service_db, user["id"])[0]["type"] == "recovery"

    token = email_flows.confirm_recovery(
        service_db, project_id=PROJECT, user_id=params["userId"], secret=params["secret"], password="new-password-2"
    )
    assert token["id"] == row["id"]
    updated = get_user(service_db, project_id=PROJECT, user_id=user["id"])[0]
    assert passwords.verify_password("new-password-2", updated["password"], updated["hash"], updated["hash_options"])
    assert not passwords.verify_password(
        "old-password-1", updated["password"], updated["hash"], updated["hash_options"]
    )
    assert updated["hash"] == "argon2" and updated["email_verification"] is True
    assert updated["password_update"] > user["password_update"]
    assert_error(
        lambda: email_flows.confirm_recovery(
            service_db, project_id=PROJECT, user_id=user["id"], secret=secret, password="another-password"
        ),
        "user_invalid_token",
        401,
    )


def test_recovery_refusals(service_db, settings):
    assert_error(
        lambda: email_flows.create_recovery(
            service_db, settings, project_id=PROJECT, email=new_address(), url="http://localhost", **CLIENT
        ),
        "user_not_found",
        404,
    )
    blocked = new_user(service_db, password="password-123")
    update_user(service_db, project_id=PROJECT, user_id=blocked["id"], status=False)
    assert_error(
        lambda: email_flows.create_recovery(
            service_db, settings, project_id=PROJECT, email=blocked["email"], url="http://localhost", **CLIENT
        ),
        "user_blocked",
        401,
    )
    # A verification secret is no recovery secret.
    user = new_user(service_db, password="password-123")
    _, secret = email_flows.create_verification(
        service_db, settings, project_id=PROJECT, user_id=user["id"], url="http://localhost", **CLIENT
    )
    assert_error(
        lambda: email_flows.confirm_recovery(
            service_db, project_id=PROJECT, user_id=user["id"], secret=secret, password="new-password-2"
        ),
        "user_invalid_token",
        401,
    )


# ---------------------------------------------------------------------------------------------
# Magic URL and e-mail OTP tokens


def test_magic_url_signs_up_a_new_address(service_db, settings, smtp):
    email = new_address()
    wanted_id = f"magic{uuid.uuid4().hex[:10]}"
    row, secret = email_flows.create_sign_in_token(
        service_db,
        settings,
        kind=email_flows.MAGIC_URL,
        project_id=PROJECT,
        user_id=wanted_id,
        email=email.upper(),
        url="http://localhost:5173/auth#done",
        phrase=True,
        **CLIENT,
    )
    assert row["user_id"] == wanted_id and re.fullmatch(r"[0-9a-f]{64}", secret)
    created = get_user(service_db, project_id=PROJECT, user_id=wanted_id)[0]
    assert (created["email"], created["password"], created["email_verification"]) == (email, None, False)

    message = smtp.mailbox.wait_for(email)
    assert message["Subject"] == "Nib Test Login"
    text = part(message, "plain")
    assert "This sign in was requested using Firefox on UNKNOWN (GNU/Linux)." in text
    assert f"Security phrase for this email is {row['phrase']}." in text
    assert re.fullmatch(r"[A-Z][a-z]+ [A-Z][a-z]+", row["phrase"])
    assert first_link(message).endswith("#done")
    assert link_params(message) == {
        "userId": wanted_id,
        "secret": secret,
        "expire": dates.fmt(row["expire"]),
        "project": PROJECT,
    }
    [stored] = stored_tokens(service_db, wanted_id)
    assert (stored["type"], stored["phrase"]) == ("magic-url", row["phrase"])
    assert 3590 < seconds_from_now(stored["expire"]) <= 3600


def test_email_otp_for_an_existing_user(service_db, settings, smtp):
    user = new_user(service_db, password="password-123")
    row, code = email_flows.create_sign_in_token(
        service_db,
        settings,
        kind=email_flows.EMAIL,
        project_id=PROJECT,
        user_id="unique()",
        email=user["email"],
        phrase=False,
        **CLIENT,
    )
    assert row["user_id"] == user["id"] and row["phrase"] == ""
    assert re.fullmatch(r"\d{6}", code)
    message = smtp.mailbox.wait_for(user["email"])
    assert message["Subject"] == "OTP for Nib Test Login"
    assert one_time_code(message) == code
    assert "Security phrase" not in part(message, "plain")
    [stored] = stored_tokens(service_db, user["id"])
    assert stored["type"] == "email" and stored["secret_hash"] == hashlib.sha256(code.encode()).hexdigest()
    assert 890 < seconds_from_now(stored["expire"]) <= 900


def test_address_of_an_oauth_identity_is_refused(service_db, settings):
    owner = new_user(service_db)
    claimed = new_address()
    now = dates.now()
    with service_db.write() as conn:
        conn.execute(
            identities.insert().values(
                project_id=PROJECT,
                id=uuid.uuid4().hex[:20],
                created_at=now,
                updated_at=now,
                user_id=owner["id"],
                provider="github",
                provider_uid="42",
                provider_email=claimed,
            )
        )
    assert_error(
        lambda: email_flows.create_sign_in_token(
            service_db,
            settings,
            kind=email_flows.EMAIL,
            project_id=PROJECT,
            user_id="unique()",
            email=claimed,
            phrase=False,
            **CLIENT,
        ),
        "general_bad_request",
        400,
    )
    with service_db.read() as conn:
        assert conn.execute(sa.select(users.c.id).where(users.c.email == claimed)).first() is None


# ---------------------------------------------------------------------------------------------
# Without SMTP, or with SMTP down: an error and nothing stored


def test_without_smtp_every_flow_is_disabled_and_stores_nothing(service_db):
    no_smtp = Settings()
    user = new_user(service_db, password="password-123")
    email = new_address()
    calls = [
        lambda: email_flows.create_verification(
            service_db, no_smtp, project_id=PROJECT, user_id=user["id"], url="http://localhost", **CLIENT
        ),
        lambda: email_flows.create_recovery(
            service_db, no_smtp, project_id=PROJECT, email=user["email"], url="http://localhost", **CLIENT
        ),
        lambda: email_flows.create_sign_in_token(
            service_db,
            no_smtp,
            kind=email_flows.MAGIC_URL,
            project_id=PROJECT,
            user_id="unique()",
            email=email,
            url="http://localhost",
            phrase=False,
            **CLIENT,
        ),
        lambda: email_flows.create_sign_in_token(
            service_db,
            no_smtp,
            kind=email_flows.EMAIL,
            project_id=PROJECT,
            user_id="unique()",
            email=email,
            phrase=False,
            **CLIENT,
        ),
    ]
    for call in calls:
        assert_error(call, "general_smtp_disabled", 503)
    assert stored_tokens(service_db, user["id"]) == []
    with service_db.read() as conn:
        assert conn.execute(sa.select(users.c.id).where(users.c.email == email)).first() is None


def test_failed_send_is_reported_and_leaves_no_token(service_db):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        down = Settings(smtp_host="127.0.0.1", smtp_port=unused.getsockname()[1], smtp_timeout=2.0)
        user = new_user(service_db)
        assert_error(
            lambda: email_flows.create_verification(
                service_db, down, project_id=PROJECT, user_id=user["id"], url="http://localhost", **CLIENT
            ),
            "general_server_error",
            503,
        )
    assert stored_tokens(service_db, user["id"]) == []
