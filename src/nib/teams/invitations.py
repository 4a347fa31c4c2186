"""Invitations: an owner invites, the invitee accepts with the e-mailed secret.

An API key adds a user to a team at once (confirmed, ``total`` + 1). A team owner signed in as a
user *invites*: the membership waits unconfirmed and the invitee gets an e-mail with a link that
carries the membership's one-time secret (stored as a SHA-256 digest); ``accept`` with that
secret confirms it, marks the e-mail verified and signs the invitee in. Invitations expire after
``INVITATION_SECONDS`` (Appwrite's never do; see ARCHITECTURE.md).

Functions take keyword arguments and a ``Database`` and never see HTTP. ``roles`` is the caller's
role set, ``None`` for an API key (see service.py for locking and access rules).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..auth.projects import project_name
from ..auth.tables import identities, memberships, users
from ..data.batches import delete_batch
from ..data.db import Database
from ..data.rows import Row
from ..tools import dates, mail, mail_templates
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from ..tools.ids import new_secret, secret_hash, unique_id
from ..users.service import create_user, refuse_beyond_limit, update_columns, user_row
from ..users.sessions import insert_session, new_session
from .access import require, team_permissions
from .memberships import membership_row, with_people
from .service import change_total, lock_team, membership_values, team_row

INVITATION_SECONDS = 7 * 24 * 3600
REGISTRATION_RESTRICTED = "Project registration is restricted. Contact your administrator for more information."
SECRET_LENGTH = 256


def _user_by(conn: Connection, project_id: str, column: str, value: str) -> Row | None:
    row = (
        conn.execute(sa.select(users).where(users.c.project_id == project_id, users.c[column] == value))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def _find_invitee(
    conn: Connection, project_id: str, user_id: str | None, email: str | None, phone: str | None
) -> Row | None:
    """The invited user by userId, else e-mail, else phone (Appwrite's priority); ``None`` when
    an e-mail or phone names nobody yet. The other given contacts must match the user found (a
    new user whose phone is taken fails on creation: 409 ``user_already_exists``)."""
    if user_id:
        user = _user_by(conn, project_id, "id", user_id)
        if user is None:
            raise AppwriteError("user_not_found", "User with given userId doesn't exist.")
        if email and user["email"] != email:
            raise AppwriteError("user_already_exists", "Given userId and email doesn't match")
        if phone and user["phone"] != phone:
            raise AppwriteError("user_already_exists", "Given userId and phone doesn't match")
        return user
    if email:
        user = _user_by(conn, project_id, "email", email)
        if user is not None and phone and user["phone"] != phone:
            raise AppwriteError("user_already_exists", "Given email and phone doesn't match")
        return user
    assert phone, "callers name the invitee by a userId, an e-mail or a phone"
    return _user_by(conn, project_id, "phone", phone)


def _create_invitee(
    db: Database, project_id: str, email: str | None, phone: str | None, name: str, *, limited: bool
) -> Row:
    """A new user for an unknown e-mail/phone: no password yet (the invitee sets the first one
    without ``oldPassword``), unverified, named ``name`` or by the e-mail address. ``limited``
    (a user's invitation; an API key's is not): 400 ``user_count_exceeded`` at the project's user
    limit, as Appwrite words it for invitations."""
    with db.read() as conn:
        if limited:
            refuse_beyond_limit(conn, project_id, REGISTRATION_RESTRICTED)
        if (
            email
            and conn.execute(
                sa.select(identities.c.seq).where(
                    identities.c.project_id == project_id, identities.c.provider_email == email
                )
            ).first()
        ):
            raise AppwriteError("user_email_already_exists")
    try:
        user, _targets = create_user(db, project_id=project_id, user_id="unique()", email=email, phone=phone, name=name)
    except AppwriteError as error:
        if error.type != "user_already_exists":
            raise
        # A concurrent invitation created the same user first: invite that one.
        with db.read() as conn:
            found = _find_invitee(conn, project_id, None, email, phone)
        if found is None:
            raise
        return found
    return user


def invite(
    db: Database,
    settings: Settings,
    *,
    project_id: str,
    team_id: str,
    roles: list[str] | None,
    inviter: Row | None,
    member_roles: list[str],
    user_id: str | None,
    email: str | None,
    phone: str | None,
    name: str | None,
    url: str,
    by_email: bool = False,
) -> dict:
    """POST /teams/{teamId}/memberships. With an API key (``roles`` None) the user joins at once;
    an owner's invitation is stored unconfirmed and e-mailed with an accept link built on ``url``.
    ``by_email`` makes a caller without roles (the console's administrator) invite as an owner
    does: unconfirmed, e-mailed.

    Errors in Appwrite's order; unlike Appwrite, nothing is written before every check
    passed (a new invitee user is created only for an owner's or key's valid request), and an
    invitation whose e-mail cannot be sent is withdrawn (503).
    """
    client = roles is not None or by_email
    if client and not url:
        raise AppwriteError("general_argument_invalid", "URL is required")
    if not (user_id or email or phone):
        raise AppwriteError("general_argument_invalid", "At least one of userId, email, or phone is required")
    if client:
        mail.require_smtp(settings)
    with db.read() as conn:
        team = team_row(conn, project_id, team_id, roles)
        invitee = _find_invitee(conn, project_id, user_id, email, phone)
        require(roles, team_permissions(team_id), "update", "User is not allowed to send invitations for this team")
        if invitee is not None and _existing(conn, project_id, team_id, invitee["id"]):
            raise AppwriteError("team_invite_already_exists")
        name_of_project = project_name(conn, project_id)
    address = invitee["email"] if invitee is not None else email
    if client and not address:
        # Only a phone number to reach the invitee by, and no SMS provider.
        raise AppwriteError("general_phone_disabled", "Phone provider not configured")
    if invitee is None:
        invitee = _create_invitee(db, project_id, email, phone, name or email or "", limited=client)

    secret = new_secret(SECRET_LENGTH)
    values = membership_values(
        project_id=project_id,
        membership_id=unique_id(),
        team_id=team_id,
        user_id=invitee["id"],
        roles=member_roles,
        confirm=not client,
        secret_digest=secret_hash(secret),
    )
    try:
        with db.write() as conn:
            lock_team(conn, project_id, team_id, roles)
            conn.execute(memberships.insert().values(values))
            if not client:
                change_total(conn, project_id, team_id, +1)
    except IntegrityError:
        raise AppwriteError("team_invite_already_exists") from None  # a concurrent invitation won
    if client:
        assert address, "an invitation without an e-mail address was refused above"
        _send_invitation(
            db,
            settings,
            values,
            secret=secret,
            address=address,
            invitee_name=name or invitee["name"],
            team_name=team["name"],
            project_name=name_of_project,
            inviter=inviter,
            url=url,
        )
    return with_people(db, project_id, [values], mfa=False)[0]


def _existing(conn: Connection, project_id: str, team_id: str, user_id: str) -> bool:
    return (
        conn.execute(
            sa.select(memberships.c.seq).where(
                memberships.c.project_id == project_id,
                memberships.c.team_id == team_id,
                memberships.c.user_id == user_id,
            )
        ).first()
        is not None
    )


def _send_invitation(
    db: Database,
    settings: Settings,
    membership: Row,
    *,
    secret: str,
    address: str,
    invitee_name: str,
    team_name: str,
    project_name: str,
    inviter: Row | None,
    url: str,
) -> None:
    """The invitation e-mail; if it cannot be sent the invitation is deleted and the error raised."""
    link = mail_templates.link(
        url,
        {
            "membershipId": membership["id"],
            "userId": membership["user_id"],
            "secret": secret,
            "teamId": membership["team_id"],
            "teamName": team_name,
        },
    )
    owner = (inviter or {}).get("name") or (inviter or {}).get("email") or ""
    message = mail_templates.invitation(
        to=address, to_name=invitee_name, project=project_name, team=team_name, owner=owner, url=link
    )
    try:
        mail.send(settings, message)
    except AppwriteError:
        with db.write() as conn:
            conn.execute(
                memberships.delete().where(
                    memberships.c.project_id == membership["project_id"],
                    memberships.c.id == membership["id"],
                    memberships.c.confirm.is_(False),
                )
            )
        raise


def accept(
    db: Database,
    *,
    project_id: str,
    team_id: str,
    membership_id: str,
    user_id: str,
    secret: str,
    current_user: Row | None,
    roles: list[str] | None,
    session: Mapping[str, Any],
) -> tuple[dict, Row, str, Row]:
    """PATCH …/status: confirm the invitation with its secret; the invitee's e-mail becomes
    verified and a new ``email`` session is created for it, all in one transaction.

    ``roles`` are the caller's (a guest's too): a membership it may not read is missing.
    ``session`` holds ``new_session``'s duration, ip and client. Returns (membership, session
    row, session secret, invitee). Errors in Appwrite's order (membership, team, mismatch, secret,
    invitee, already confirmed); an expired invitation answers 401 ``team_invalid_secret`` like a
    wrong secret.
    """
    with db.write() as conn:
        membership_row(conn, project_id, membership_id, "membership_not_found", roles)
        lock_team(conn, project_id, team_id, None)  # acceptance needs no read access to the team
        membership = membership_row(conn, project_id, membership_id, "membership_not_found", roles, lock=True)
        if membership["team_id"] != team_id:
            raise AppwriteError("team_membership_mismatch")
        if not hmac.compare_digest(membership["secret_hash"] or "", secret_hash(secret)):
            raise AppwriteError("team_invalid_secret")
        current_email = (current_user or {}).get("email") or ""
        mismatch = f"Invite does not belong to current user ({current_email})"
        if user_id != membership["user_id"]:
            raise AppwriteError("team_invite_mismatch", mismatch)
        if current_user is not None and current_user["id"] != membership["user_id"]:
            raise AppwriteError("team_invite_mismatch", mismatch)
        if membership["confirm"]:
            raise AppwriteError("membership_already_confirmed")
        if membership["invited"] + timedelta(seconds=INVITATION_SECONDS) < dates.now():
            raise AppwriteError(
                "team_invalid_secret", "The team invitation has expired. Please request a new invitation and try again."
            )
        invitee = user_row(conn, project_id, user_id)
        now = dates.now()
        changes = {"confirm": True, "joined": now, "updated_at": now}
        conn.execute(memberships.update().where(memberships.c.seq == membership["seq"]).values(changes))
        update_columns(conn, project_id, user_id, {"email_verification": True})
        change_total(conn, project_id, team_id, +1)
        row, session_secret = new_session(
            project_id=project_id,
            user_id=user_id,
            provider="email",
            factors=["email"],
            provider_uid=invitee["email"] or "",
            **session,
        )
        insert_session(conn, row)
    confirmed = with_people(db, project_id, [{**membership, **changes}], mfa=False)[0]
    return confirmed, row, session_secret, invitee


def sweep_expired(db: Database, now: datetime, limit: int) -> int:
    """Delete up to ``limit`` invitations whose time to accept ended before ``now``; how many went.
    Such a membership can never be confirmed, and while it stays the same user cannot be invited
    to the team again (409): the clean-up job calls this batch after batch. Unconfirmed
    memberships never count in a team's ``total``, so no total changes."""
    ended = now - timedelta(seconds=INVITATION_SECONDS)
    expired = sa.and_(memberships.c.confirm.is_(False), memberships.c.invited < ended)
    return len(delete_batch(db, memberships, expired, limit))
