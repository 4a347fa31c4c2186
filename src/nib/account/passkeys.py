"""Passkey ceremonies of the Account API: registering a passkey for the signed-in user and
signing in with one (account/webauthn.py checks the browser's answers).

Registration: ``start_registration`` stores a pending passkey and a challenge bound to it and to
the session; ``finish_registration`` consumes that challenge and, once the attestation checks
out, makes the passkey a verified credential. Sign-in: ``start_sign_in`` issues a challenge owned
by nobody; ``finish_sign_in`` consumes it, finds the passkey by its credential, checks the
assertion and returns a one-minute ``passkey`` token that ``POST /account/sessions/token``
exchanges for a session.

Challenges are single use: each is deleted when an attempt names it, before the answer is
checked, so a failed attempt uses it up too (replay -> 401 ``user_invalid_token``). A user has at
most ``PASSKEY_LIMIT`` passkeys, counting registrations started in the last five minutes.
Starting a registration, finishing it and deleting a passkey need a session that signed in or
completed an MFA challenge in the last ten minutes (401 ``user_reauthentication_required``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..auth import platforms
from ..auth.projects import project_name
from ..auth.tables import passkeys, sessions
from ..data.batches import delete_batch
from ..data.db import Database
from ..data.rows import Row
from ..tools import dates
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from ..tools.ids import new_secret, unique_id
from ..users.mfa import lock_user
from ..users.service import user_row
from ..users.sessions import insert_token
from . import webauthn
from .tables import passkey_challenges

PASSKEY_LIMIT = 10
CHALLENGE_SECONDS = 300
TOKEN_TYPE = "passkey"
TOKEN_SECONDS = 60
TOKEN_SECRET_CHARS = 64
RECENT_SESSION = timedelta(minutes=10)
REGISTRATION, AUTHENTICATION = "registration", "authentication"
NOT_CONFIGURED = (
    "Passkeys are not configured for this project. Set a relying party ID and origins in the passkey policy."
)


def relying_party(db: Database, settings: Settings, project_id: str) -> webauthn.RelyingParty | None:
    with db.read() as conn:
        name = project_name(conn, project_id)
    return webauthn.relying_party(settings.hostname, name, platforms.allowed_hosts(db, project_id))


def _configured(db: Database, settings: Settings, project_id: str) -> webauthn.RelyingParty:
    """The relying party a new ceremony needs: 501 ``user_auth_method_unsupported`` without one."""
    rp = relying_party(db, settings, project_id)
    if rp is None:
        raise AppwriteError("user_auth_method_unsupported", NOT_CONFIGURED)
    return rp


def _still_configured(db: Database, settings: Settings, project_id: str) -> webauthn.RelyingParty:
    """The relying party a ceremony in progress completes with: gone -> 401 ``user_invalid_token``."""
    rp = relying_party(db, settings, project_id)
    if rp is None:
        raise AppwriteError("user_invalid_token")
    return rp


def require_recent_session(db: Database, *, project_id: str, session_id: str) -> None:
    """401 ``user_reauthentication_required`` unless the session was created, or completed an MFA
    challenge, in the last ten minutes (a passkey sign-in counts as both)."""
    with db.read() as conn:
        found = conn.execute(
            sa.select(sessions.c.created_at, sessions.c.mfa_updated_at).where(
                sessions.c.project_id == project_id, sessions.c.id == session_id
            )
        ).first()
    if found is None:
        raise AppwriteError("user_reauthentication_required")
    latest = max(found.created_at, found.mfa_updated_at or found.created_at)
    if latest + RECENT_SESSION < dates.now():
        raise AppwriteError("user_reauthentication_required")


def _new_challenge(conn: Connection, project_id: str, kind: str, rp: webauthn.RelyingParty, **binding: str) -> Row:
    """Store a challenge (expired ones of the project go first); the row, its random bytes base64url."""
    now = dates.now()
    conn.execute(
        passkey_challenges.delete().where(
            passkey_challenges.c.project_id == project_id, passkey_challenges.c.expire < now
        )
    )
    row = {
        "project_id": project_id,
        "id": unique_id(),
        "created_at": now,
        "updated_at": now,
        "type": kind,
        "user_id": "",
        "passkey_id": "",
        "session_id": "",
        **binding,
        "relying_party": rp.fingerprint,
        "challenge": webauthn.b64url(webauthn.random_bytes()),
        "expire": now + timedelta(seconds=CHALLENGE_SECONDS),
    }
    conn.execute(passkey_challenges.insert().values(row))
    return row


def _consume(
    db: Database, project_id: str, challenge_id: str | None, kind: str, rp: webauthn.RelyingParty, **binding: str
) -> bytes:
    """Delete the challenge (committed whatever follows), then check it was live, of this kind,
    bound to ``binding`` and issued for this relying party: its bytes, else 401
    ``user_invalid_token``. Of concurrent attempts only the one whose delete removed it goes on."""
    with db.write() as conn:
        found = (
            conn.execute(
                sa.select(passkey_challenges).where(
                    passkey_challenges.c.project_id == project_id, passkey_challenges.c.id == challenge_id
                )
            )
            .mappings()
            .first()
        )
        if found is not None:
            deleted = conn.execute(passkey_challenges.delete().where(passkey_challenges.c.seq == found["seq"]))
            found = found if deleted.rowcount == 1 else None
    expected = {"user_id": "", "passkey_id": "", "session_id": "", **binding}
    if (
        found is None
        or found["type"] != kind
        or any(found[name] != value for name, value in expected.items())
        or found["relying_party"] != rp.fingerprint
        or found["expire"] < dates.now()
    ):
        raise AppwriteError("user_invalid_token")
    return webauthn.from_b64url(found["challenge"])


# -- registration ----------------------------------------------------------------------------------


def start_registration(
    db: Database, settings: Settings, *, project_id: str, user_id: str, session_id: str, passkey_id: str, name: str
) -> tuple[Row, dict]:
    """A pending passkey and its registration challenge: (challenge row, creation options).

    A pending passkey of the user with this ID is replaced (its challenge no longer completes);
    a verified one, or another user's, -> 409 ``user_passkey_already_exists``; the eleventh ->
    400 ``user_passkey_limit_exceeded``.
    """
    rp = _configured(db, settings, project_id)
    require_recent_session(db, project_id=project_id, session_id=session_id)
    passkey_id = unique_id() if passkey_id == "unique()" else passkey_id
    now = dates.now()
    mine = (passkeys.c.project_id == project_id, passkeys.c.user_id == user_id)
    with db.write() as conn:
        user = lock_user(conn, project_id, user_id)  # one registration of a user at a time: the limit holds
        existing = conn.execute(
            sa.select(passkeys.c.seq, passkeys.c.user_id, passkeys.c.verified).where(
                passkeys.c.project_id == project_id, passkeys.c.id == passkey_id
            )
        ).first()
        if existing is not None and (existing.verified or existing.user_id != user_id):
            raise AppwriteError("user_passkey_already_exists")
        stale = passkeys.c.created_at < now - timedelta(seconds=CHALLENGE_SECONDS)
        restarted = passkeys.c.id == passkey_id
        conn.execute(passkeys.delete().where(*mine, passkeys.c.verified.is_(False), sa.or_(stale, restarted)))
        owned = conn.execute(
            sa.select(passkeys.c.user_handle, passkeys.c.verified, passkeys.c.credential_id, passkeys.c.transports)
            .where(*mine)
            .order_by(passkeys.c.seq)
        ).all()
        if len(owned) >= PASSKEY_LIMIT:
            raise AppwriteError("user_passkey_limit_exceeded")
        handle = owned[0].user_handle if owned else webauthn.b64url(webauthn.random_bytes())
        challenge = _new_challenge(
            conn, project_id, REGISTRATION, rp, user_id=user_id, passkey_id=passkey_id, session_id=session_id
        )
        try:
            conn.execute(
                passkeys.insert().values(
                    project_id=project_id,
                    id=passkey_id,
                    created_at=now,
                    updated_at=now,
                    user_id=user_id,
                    name=name,
                    verified=False,
                    challenge_id=challenge["id"],
                    user_handle=handle,
                    transports=[],
                )
            )
        except IntegrityError:  # the same ID taken by another user meanwhile
            raise AppwriteError("user_passkey_already_exists") from None
    label = user["email"] or user["phone"] or user["name"] or user_id
    options = webauthn.registration_options(
        rp,
        challenge=webauthn.from_b64url(challenge["challenge"]),
        user_handle=webauthn.from_b64url(handle),
        user_name=label,
        display_name=user["name"] or label,
        exclude=[(row.credential_id, row.transports) for row in owned if row.verified],
    )
    return challenge, options


def finish_registration(
    db: Database,
    settings: Settings,
    *,
    project_id: str,
    user_id: str,
    session_id: str,
    passkey_id: str,
    credential: dict,
) -> Row:
    """Verify the attestation for the user's pending passkey and make it a verified credential.

    No such pending passkey -> 404 ``user_passkey_not_found``; its challenge used, expired, of
    another session or relying party -> 401 ``user_invalid_token``; a credential that fails
    verification -> 401 ``user_passkey_invalid``; one already registered -> 409.
    """
    rp = _still_configured(db, settings, project_id)
    require_recent_session(db, project_id=project_id, session_id=session_id)
    mine = (passkeys.c.project_id == project_id, passkeys.c.user_id == user_id, passkeys.c.id == passkey_id)
    pending = (*mine, passkeys.c.verified.is_(False))
    with db.read() as conn:
        challenge_id = conn.execute(sa.select(passkeys.c.challenge_id).where(*pending)).first()
    if challenge_id is None:
        raise AppwriteError("user_passkey_not_found")
    binding = {"user_id": user_id, "passkey_id": passkey_id, "session_id": session_id}
    challenge = _consume(db, project_id, challenge_id[0], REGISTRATION, rp, **binding)
    new = webauthn.verify_registration(rp, credential, challenge)
    now = dates.now()
    with db.write() as conn:
        taken = sa.select(passkeys.c.seq).where(
            passkeys.c.project_id == project_id, passkeys.c.identifier == new.identifier
        )
        if conn.execute(taken).first() is not None:
            raise AppwriteError("user_passkey_already_exists")
        try:
            # Still pending with the same challenge: a restart meanwhile replaced it (404).
            updated = conn.execute(
                passkeys.update()
                .where(*pending, passkeys.c.challenge_id == challenge_id[0])
                .values(
                    verified=True,
                    challenge_id=None,
                    identifier=new.identifier,
                    credential_id=new.credential_id,
                    public_key=new.public_key,
                    transports=new.transports,
                    sign_count=new.sign_count,
                    backup_eligible=new.backup_eligible,
                    updated_at=now,
                )
            )
        except IntegrityError:  # the same credential registered concurrently
            raise AppwriteError("user_passkey_already_exists") from None
        if updated.rowcount == 0:
            raise AppwriteError("user_passkey_not_found")
        row = conn.execute(sa.select(passkeys).where(*mine)).mappings().one()
    return dict(row)


# -- sign-in ---------------------------------------------------------------------------------------


def start_sign_in(db: Database, settings: Settings, *, project_id: str) -> tuple[Row, dict]:
    """A sign-in challenge owned by nobody: (challenge row, request options)."""
    rp = _configured(db, settings, project_id)
    with db.write() as conn:
        challenge = _new_challenge(conn, project_id, AUTHENTICATION, rp)
    return challenge, webauthn.authentication_options(rp, challenge=webauthn.from_b64url(challenge["challenge"]))


def finish_sign_in(
    db: Database,
    settings: Settings,
    *,
    project_id: str,
    challenge_id: str,
    credential: dict,
    ip: str,
    user_agent: str,
) -> tuple[Row, str, Row]:
    """Check the assertion and issue a ``passkey`` token: (token row, secret, user).

    The challenge must be a live sign-in challenge (401 ``user_invalid_token``); the credential
    a verified passkey whose assertion checks out (401 ``user_passkey_invalid``). Only then is a
    blocked owner told so (403 ``user_blocked``), so an unproven credential reveals nobody.
    """
    rp = _still_configured(db, settings, project_id)
    challenge = _consume(db, project_id, challenge_id, AUTHENTICATION, rp)
    identifier = webauthn.credential_identifier(credential)
    with db.read() as conn:
        found = (
            conn.execute(
                sa.select(passkeys).where(
                    passkeys.c.project_id == project_id,
                    passkeys.c.identifier == identifier,
                    passkeys.c.verified.is_(True),
                )
            )
            .mappings()
            .first()
        )
        if found is None:
            raise AppwriteError("user_passkey_invalid")
        user = user_row(conn, project_id, found["user_id"])
    sign_count = webauthn.verify_assertion(
        rp,
        credential,
        challenge,
        public_key=found["public_key"],
        sign_count=found["sign_count"],
        backup_eligible=found["backup_eligible"],
        user_handle=found["user_handle"],
    )
    if not user["status"]:
        raise AppwriteError("user_blocked", "The current user has been blocked.", status=403)
    now = dates.now()
    same = [passkeys.c.seq == found["seq"]]
    if not found["backup_eligible"]:
        same.append(passkeys.c.sign_count == found["sign_count"])  # a concurrent sign-in counted first
    with db.write() as conn:
        updated = conn.execute(passkeys.update().where(*same).values(sign_count=sign_count, accessed_at=now))
    if updated.rowcount == 0:
        raise AppwriteError("user_passkey_invalid")  # deleted, or its counter moved, meanwhile
    secret = new_secret(TOKEN_SECRET_CHARS)
    token = insert_token(
        db,
        project_id,
        user["id"],
        TOKEN_TYPE,
        secret,
        now + timedelta(seconds=TOKEN_SECONDS),
        ip=ip,
        user_agent=user_agent,
        now=now,
    )
    return token, secret, user


def sweep_expired(db: Database, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` passkey challenges that expired before ``now`` (a new challenge
    drops only its own project's); how many went."""
    return len(delete_batch(db, passkey_challenges, passkey_challenges.c.expire < now, limit))


def sweep_stale_registrations(db: Database, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` pending passkeys whose registration challenge has expired by
    ``now`` (the user's next registration would drop them); how many went. They are never
    listed and can no longer be completed."""
    stale = sa.and_(passkeys.c.verified.is_(False), passkeys.c.created_at < now - timedelta(seconds=CHALLENGE_SECONDS))
    return len(delete_batch(db, passkeys, stale, limit))
