"""MFA of the signed-in user: the TOTP authenticator, challenges, and the factors a session has
proven.

A session starts with the factor it was created with (``password``, ``email``, …); completing a
challenge or verifying an authenticator adds one, and the pipeline's MFA gate
(auth.credentials.requires_more_factors) opens once a session of an MFA user has two. Every
change runs in one write transaction with the user row locked (users.mfa.lock_user), so a
challenge or recovery code can be used once only, even by concurrent requests.

TOTP is RFC 6238 as Appwrite configures it (SHA-1, 6 digits, 30 s). Appwrite 1.5 accepts only the
current 30-second code; nib also accepts the previous and the next one (RFC 6238 §5.2: one step
of delay or clock drift), so a code typed at the end of its window still works. Every code
Appwrite accepts, nib accepts.
"""

from __future__ import annotations

import base64
import hmac
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from ..auth.projects import mfa_custom_enabled, project_name
from ..auth.tables import authenticators, sessions
from ..data.batches import delete_batch
from ..data.db import Database
from ..data.instance import server_secret
from ..data.rows import Row
from ..tools import dates, mail, mail_templates, sealing
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from ..tools.ids import secret_hash, unique_id
from ..tools.useragent import parse_user_agent
from ..users.mfa import consume_recovery_code, factors, lock_user
from ..users.service import update_columns, user_row
from .tables import challenges

TOTP = "totp"
RECOVERY_CODE = "recoveryCode"  # as recorded in session.factors (Appwrite HEAD's spelling)
# A code the app's own backend reads (GET /users/{userId}/mfa/challenges/{id}) and delivers.
CUSTOM = "custom"
# The challenge factors clients send (the SDKs' enum: lower-case ``recoverycode``) -> stored name.
CHALLENGE_FACTORS = {"email": "email", "phone": "phone", "totp": TOTP, "recoverycode": RECOVERY_CODE, CUSTOM: CUSTOM}
# The purpose a custom challenge's code is sealed for (tools/sealing.py).
_CUSTOM_CODE = "mfa-custom-code"
_CUSTOM_DISABLED = "The requested factor is disabled by the MFA factors policy"
CHALLENGE_SECONDS = 3600
# A challenge completed this recently lets the session read or replace recovery codes.
RECENT_CHALLENGE = timedelta(seconds=1800)
TOTP_SECRET_BYTES = 64
CODE_DIGITS = 6
_TOTP_DRIFT_STEPS = 1


# -- TOTP -----------------------------------------------------------------------------------------


def new_totp_secret() -> str:
    """Upper-case base32 of 64 random bytes without padding (103 chars), as otphp makes it."""
    return base64.b32encode(secrets.token_bytes(TOTP_SECRET_BYTES)).decode().rstrip("=")


def provisioning_uri(secret: str, *, issuer: str, label: str) -> str:
    """otphp's ``getProvisioningUri``: ``otpauth://totp/<issuer>%3A<label>?issuer=…&secret=…``
    (parameters sorted, the default algorithm, digits and period left out)."""
    return f"otpauth://totp/{quote(f'{issuer}:{label}', safe='')}?issuer={quote(issuer, safe='')}&secret={secret}"


def totp_matches(secret: str, otp: str) -> bool:
    """The current code, or the one just before or after it (module docstring)."""
    import pyotp  # only processes that check a TOTP code load it

    return pyotp.TOTP(secret).verify(otp, valid_window=_TOTP_DRIFT_STEPS)


def _authenticator(conn: Connection, project_id: str, user_id: str) -> RowMapping | None:
    statement = sa.select(authenticators).where(
        authenticators.c.project_id == project_id,
        authenticators.c.user_id == user_id,
        authenticators.c.type == TOTP,
    )
    return conn.execute(statement).mappings().first()


def create_authenticator(db: Database, *, project_id: str, user_id: str) -> tuple[str, str]:
    """A new unverified TOTP authenticator: (secret, otpauth URI). An unverified one is replaced;
    a verified one -> 409 ``user_authenticator_already_verified``."""
    secret = new_totp_secret()
    now = dates.now()
    with db.write() as conn:
        user = lock_user(conn, project_id, user_id)
        existing = _authenticator(conn, project_id, user_id)
        if existing is not None:
            if existing["verified"]:
                raise AppwriteError("user_authenticator_already_verified")
            conn.execute(authenticators.delete().where(authenticators.c.seq == existing["seq"]))
        conn.execute(
            authenticators.insert().values(
                project_id=project_id,
                id=unique_id(),
                created_at=now,
                updated_at=now,
                user_id=user_id,
                type=TOTP,
                verified=False,
                secret=secret,
            )
        )
        issuer = project_name(conn, project_id)
    # Appwrite labels the entry with the e-mail; users without one get their phone or ID.
    label = user["email"] or user["phone"] or user_id
    return secret, provisioning_uri(secret, issuer=issuer, label=label)


def verify_authenticator(db: Database, *, project_id: str, user_id: str, session_id: str, otp: str) -> None:
    """Mark the authenticator verified with its current code; the session gains ``totp``.
    None -> 404 ``user_authenticator_not_found``; verified -> 409; wrong code -> 401
    ``user_invalid_token``."""
    with db.write() as conn:
        lock_user(conn, project_id, user_id)
        found = _authenticator(conn, project_id, user_id)
        if found is None:
            raise AppwriteError("user_authenticator_not_found")
        if found["verified"]:
            raise AppwriteError("user_authenticator_already_verified")
        if not totp_matches(found["secret"], otp):
            raise AppwriteError("user_invalid_token")
        conn.execute(
            authenticators.update()
            .where(authenticators.c.seq == found["seq"])
            .values(verified=True, updated_at=dates.now())
        )
        _add_factors(conn, project_id, session_id, [TOTP])


def delete_authenticator(
    db: Database, *, project_id: str, user_id: str, otp: str | None, challenged_at: datetime | None
) -> None:
    """Remove the TOTP authenticator (verified or not).

    Appwrite 1.5 asks for ``otp``: the current code or an unused recovery code (then used up);
    newer SDKs send none and newer servers want a recent challenge instead (401
    ``user_challenge_required``). No authenticator -> 404; a wrong ``otp`` -> 401
    ``user_invalid_token``.
    """
    if otp is None:
        require_recent_challenge(challenged_at)
    with db.write() as conn:
        user = lock_user(conn, project_id, user_id)
        found = _authenticator(conn, project_id, user_id)
        if found is None:
            raise AppwriteError("user_authenticator_not_found")
        if otp is not None and not (totp_matches(found["secret"], otp) or consume_recovery_code(conn, user, otp)):
            raise AppwriteError("user_invalid_token")
        conn.execute(authenticators.delete().where(authenticators.c.seq == found["seq"]))


# -- MFA switch and recent challenges ------------------------------------------------------------


def update_mfa(db: Database, *, project_id: str, user_id: str, session_id: str, enabled: bool) -> None:
    """Turn MFA on or off. Turning it on credits the current session with every factor the user
    has verified, so the caller is not locked out of the session it is using."""
    with db.write() as conn:
        user = lock_user(conn, project_id, user_id)
        update_columns(conn, project_id, user_id, {"mfa": enabled})
        if enabled:
            verified = factors(conn, user)
            _add_factors(conn, project_id, session_id, [name for name in (TOTP, "email", "phone") if verified[name]])


def require_recent_challenge(challenged_at: datetime | None) -> None:
    """401 ``user_challenge_required`` unless the session completed a challenge in the last
    30 minutes (Appwrite's ``mfaProtected`` routes)."""
    if challenged_at is None or challenged_at + RECENT_CHALLENGE < dates.now():
        raise AppwriteError("user_challenge_required")


# -- challenges ------------------------------------------------------------------------------------


def _new_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))


def _require_custom_allowed(conn: Connection, project_id: str) -> None:
    """501 ``user_auth_method_unsupported`` while the project's policy refuses ``custom``."""
    if not mfa_custom_enabled(conn, project_id):
        raise AppwriteError("user_auth_method_unsupported", _CUSTOM_DISABLED)


def create_challenge(
    db: Database, settings: Settings, *, project_id: str, user_id: str, factor: str, user_agent: str
) -> Row:
    """A challenge for ``factor`` (a key of CHALLENGE_FACTORS), valid for an hour.

    ``email``: SMTP must be configured (503 ``general_smtp_disabled``), the user must have an
    e-mail (400 ``user_email_not_found``) that is verified (400 ``user_email_not_verified``); the
    6-digit code is e-mailed and stored only as its digest. ``phone``: nib has no SMS provider
    (503 ``general_phone_disabled``). ``custom``: only where the project allows it (501, see
    ``_require_custom_allowed``); the 6-digit code is sent to nobody, it is stored as its digest
    and sealed with the server secret for the app's backend to read. Appwrite stores the
    challenge before these checks; nib stores it after them and after the e-mail went out, so a
    failure leaves nothing behind.
    """
    kind = CHALLENGE_FACTORS[factor]
    if kind == "phone":
        raise AppwriteError("general_phone_disabled")
    code_hash = code_sealed = ""
    if kind == CUSTOM:
        with db.read() as conn:
            _require_custom_allowed(conn, project_id)
        code = _new_code()
        code_hash, code_sealed = secret_hash(code), sealing.seal(server_secret(db, settings), _CUSTOM_CODE, code)
    if kind == "email":
        mail.require_smtp(settings)
        with db.read() as conn:
            user = user_row(conn, project_id, user_id)
            project = project_name(conn, project_id)
        if not user["email"]:
            raise AppwriteError("user_email_not_found")
        if not user["email_verification"]:
            raise AppwriteError("user_email_not_verified")
        code = _new_code()
        message = mail_templates.mfa_challenge(
            to=user["email"],
            user_name=user["name"] or user["email"],
            project=project,
            code=code,
            client=parse_user_agent(user_agent),
        )
        mail.send(settings, message)
        code_hash = secret_hash(code)
    now = dates.now()
    row = {
        "project_id": project_id,
        "id": unique_id(),
        "created_at": now,
        "updated_at": now,
        "user_id": user_id,
        "type": kind,
        "code_hash": code_hash,
        "code_sealed": code_sealed,
        "expire": now + timedelta(seconds=CHALLENGE_SECONDS),
    }
    with db.write() as conn:
        user_row(conn, project_id, user_id)  # still there after the e-mail was sent
        # Expired challenges of the user are dropped here rather than by a sweeper.
        conn.execute(
            challenges.delete().where(
                challenges.c.project_id == project_id, challenges.c.user_id == user_id, challenges.c.expire < now
            )
        )
        conn.execute(challenges.insert().values(row))
    return row


def complete_challenge(
    db: Database, *, project_id: str, user_id: str, session_id: str, challenge_id: str, otp: str
) -> None:
    """Answer the user's unexpired challenge: totp = a code of the verified authenticator,
    email/phone/custom = the code sent or handed out, recoveryCode = an unused recovery code (used
    up). The challenge is deleted, the session gains the factor and ``mfaUpdatedAt = now``.
    Unknown, expired or another user's challenge, or a wrong ``otp`` -> 401 ``user_invalid_token``
    (a wrong answer leaves the challenge open for another try, as Appwrite); a custom challenge
    while the project refuses the factor -> 501, also one created before it was refused."""
    now = dates.now()
    with db.write() as conn:
        user = lock_user(conn, project_id, user_id)
        challenge = (
            conn.execute(
                sa.select(challenges).where(
                    challenges.c.project_id == project_id,
                    challenges.c.id == challenge_id,
                    challenges.c.user_id == user_id,
                    challenges.c.expire >= now,
                )
            )
            .mappings()
            .first()
        )
        if challenge is not None and challenge["type"] == CUSTOM:
            _require_custom_allowed(conn, project_id)
        if challenge is None or not _answered(conn, user, challenge, otp):
            raise AppwriteError("user_invalid_token")
        conn.execute(challenges.delete().where(challenges.c.seq == challenge["seq"]))
        _add_factors(conn, project_id, session_id, [challenge["type"]], proven_at=now)


def _answered(conn: Connection, user: Row, challenge: RowMapping, otp: str) -> bool:
    kind = challenge["type"]
    if kind == TOTP:
        # Only a verified authenticator proves anything (Appwrite 1.5 would take any).
        found = _authenticator(conn, user["project_id"], user["id"])
        return found is not None and found["verified"] and totp_matches(found["secret"], otp)
    if kind == RECOVERY_CODE:
        return consume_recovery_code(conn, user, otp)
    return bool(challenge["code_hash"]) and hmac.compare_digest(challenge["code_hash"], secret_hash(otp))


def custom_challenge(db: Database, settings: Settings, *, project_id: str, user_id: str, challenge_id: str) -> Row:
    """The user's unexpired ``custom`` challenge with its ``code`` (GET
    /users/{userId}/mfa/challenges/{challengeId}, for the app's backend to deliver). 404
    ``user_not_found``; a missing, expired, other user's or other factor's challenge (or a code
    that no longer opens, the server secret having changed) -> 401 ``user_invalid_token``."""
    with db.read() as conn:
        user_row(conn, project_id, user_id)
        found = (
            conn.execute(
                sa.select(challenges).where(
                    challenges.c.project_id == project_id,
                    challenges.c.id == challenge_id,
                    challenges.c.user_id == user_id,
                    challenges.c.type == CUSTOM,
                    challenges.c.expire >= dates.now(),
                )
            )
            .mappings()
            .first()
        )
    if found is None:
        raise AppwriteError("user_invalid_token")
    try:
        code = sealing.unseal(server_secret(db, settings), _CUSTOM_CODE, found["code_sealed"])
    except sealing.SealError:
        raise AppwriteError("user_invalid_token") from None
    return {**found, "code": code}


# -- session factors -------------------------------------------------------------------------------


def _add_factors(
    conn: Connection, project_id: str, session_id: str, added: Iterable[str], proven_at: datetime | None = None
) -> None:
    """Append factors the session lacks (order kept); ``proven_at`` sets ``mfaUpdatedAt``."""
    where = (sessions.c.project_id == project_id, sessions.c.id == session_id)
    current = conn.execute(sa.select(sessions.c.factors).where(*where).with_for_update()).scalar()
    if current is None:
        raise AppwriteError("user_session_not_found")  # signed out while this request ran
    values: dict = {"factors": list(dict.fromkeys([*current, *added])), "updated_at": dates.now()}
    if proven_at is not None:
        values["mfa_updated_at"] = proven_at
    conn.execute(sessions.update().where(*where).values(values))


def sweep_expired(db: Database, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` MFA challenges that expired before ``now`` (of users who never
    created another, which drops their own); how many went."""
    return len(delete_batch(db, challenges, challenges.c.expire < now, limit))
