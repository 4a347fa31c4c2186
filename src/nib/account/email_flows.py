"""The Account service's e-mail flows: verification, password recovery, magic URL and e-mail
OTP tokens (Appwrite 1.5: POST/PUT /account/verification, POST/PUT /account/recovery,
POST /account/tokens/magic-url, POST /account/tokens/email), and verification and recovery by a
6-digit code instead of a link (newer: POST/PUT /account/verifications/email/otp and
/account/recovery/otp; tokens of their own types, so a code never completes a link flow).

Each ``create_*`` checks that SMTP is configured first (as Appwrite), sends the e-mail and only
then stores the token, so a failed send leaves no token behind and is reported to the caller
(tools/mail.py). It returns the token row and the raw secret; the route decides who sees the
secret (Appwrite: API-key callers only). Secrets are stored as SHA-256 digests; the ``confirm_*``
functions consume the token in the same transaction as the change it authorises, so a token
works once. Nothing here knows about HTTP: the route passes the client's IP and User-Agent.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..auth.projects import auth_policies, project_name
from ..auth.tables import identities, tokens, users
from ..data.db import Database
from ..data.rows import Row
from ..tools import dates, mail, mail_templates
from ..tools.config import Settings
from ..tools.errors import AppwriteError
from ..tools.ids import new_secret, secret_hash
from ..tools.useragent import parse_user_agent
from ..users.service import create_user, password_columns, refuse_beyond_limit, update_columns, user_row
from ..users.sessions import insert_token

# Token types (the `tokens.type` column) and Appwrite's lifetimes and secret lengths
# (src/Appwrite/Auth/Auth.php: TOKEN_EXPIRATION_*, TOKEN_LENGTH_*).
VERIFICATION, RECOVERY, MAGIC_URL, EMAIL = "verification", "recovery", "magic-url", "email"
VERIFICATION_CODE, RECOVERY_CODE = "verification-otp", "recovery-otp"
CONFIRM_SECONDS = 3600  # verification and magic URL
RECOVERY_SECONDS = 3600
OTP_SECONDS = 900
LONG_SECRET_LENGTH = 256  # verification and recovery
MAGIC_URL_SECRET_LENGTH = 64
OTP_DIGITS = 6

# Security phrases ("Brave Otter") shown in the e-mail and returned to the requesting app.
_ADJECTIVES = (
    "Able Bold Brave Bright Calm Clever Cosmic Crisp Daring Eager Fancy Fierce Gentle Glad Golden Grand "
    "Happy Honest Jolly Keen Kind Lively Lucky Merry Mighty Noble Polite Proud Quick Quiet Rapid Royal "
    "Shiny Silent Smart Snowy Sunny Swift Tidy Vivid Warm Wise Witty Young Zesty"
).split()
_NOUNS = (
    "Badger Beaver Bison Camel Cheetah Cobra Condor Crane Dolphin Eagle Falcon Ferret Gecko Heron Ibis "
    "Jaguar Koala Lemur Lion Lynx Marten Moose Narwhal Newt Ocelot Orca Otter Owl Panda Parrot Puffin "
    "Quail Raven Robin Salmon Seal Sparrow Swan Tiger Toucan Turtle Walrus Whale Wolf Yak Zebra"
).split()


def security_phrase() -> str:
    """A random two-word phrase the user compares between the app and the e-mail."""
    return f"{secrets.choice(_ADJECTIVES)} {secrets.choice(_NOUNS)}"


# ---------------------------------------------------------------------------------------------
# Verification


def create_verification(
    db: Database,
    settings: Settings,
    *,
    project_id: str,
    user_id: str,
    ip: str,
    user_agent: str,
    url: str = "",
    phrase: bool = False,
) -> tuple[Row, str]:
    """POST /account/verification: e-mail the current user a link to ``url`` with userId, secret
    and expire; without ``url`` (POST /account/verifications/email/otp) a 6-digit code valid for
    15 minutes, with a security phrase when ``phrase``. 409 ``user_email_already_verified`` if
    verified, 400 ``user_email_not_found`` for a user without an e-mail address (e.g. anonymous)."""
    mail.require_smtp(settings)
    with db.read() as conn:
        user = user_row(conn, project_id, user_id)
        project = project_name(conn, project_id)
    if user["email_verification"]:
        raise AppwriteError("user_email_already_verified")
    if not user["email"]:
        raise AppwriteError("user_email_not_found")
    return _mail_token(
        db,
        settings,
        mail_templates.verification,
        project_id,
        project,
        user,
        url,
        phrase,
        ip,
        user_agent,
        seconds=CONFIRM_SECONDS,
        kinds=(VERIFICATION, VERIFICATION_CODE),
    )


def confirm_verification(db: Database, *, project_id: str, user_id: str, secret: str, code: bool = False) -> Row:
    """PUT /account/verification (``code``: PUT /account/verifications/email/otp): mark the
    e-mail verified; returns the consumed token. 404 ``user_not_found``; unknown, expired or used
    secret -> 401 ``user_invalid_token``."""
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        token = _consume(conn, project_id, user_id, VERIFICATION_CODE if code else VERIFICATION, secret)
        update_columns(conn, project_id, user_id, {"email_verification": True})
    return token


# ---------------------------------------------------------------------------------------------
# Password recovery


def create_recovery(
    db: Database,
    settings: Settings,
    *,
    project_id: str,
    email: str,
    ip: str,
    user_agent: str,
    url: str = "",
    phrase: bool = False,
) -> tuple[Row, str]:
    """POST /account/recovery: e-mail the user with ``email`` a link to ``url`` with userId,
    secret and expire; without ``url`` (POST /account/recovery/otp) a 6-digit code valid for 15
    minutes, with a security phrase when ``phrase``. 404 ``user_not_found``; blocked user -> 401
    ``user_blocked``."""
    mail.require_smtp(settings)
    email = email.lower()
    with db.read() as conn:
        user = _user_by_email(conn, project_id, email)
        project = project_name(conn, project_id)
    if user is None:
        raise AppwriteError("user_not_found")
    if not user["status"]:
        raise AppwriteError("user_blocked")
    return _mail_token(
        db,
        settings,
        mail_templates.recovery,
        project_id,
        project,
        user,
        url,
        phrase,
        ip,
        user_agent,
        seconds=RECOVERY_SECONDS,
        kinds=(RECOVERY, RECOVERY_CODE),
    )


def confirm_recovery(
    db: Database, *, project_id: str, user_id: str, secret: str, password: str, code: bool = False
) -> Row:
    """PUT /account/recovery (``code``: PUT /account/recovery/otp): set the new password
    (argon2id); the e-mail counts as verified, since the user read the mail. Returns the consumed
    token; errors as confirm_verification. The password's length and dictionary rules are the
    route's parameter validation, which runs first: a refused password leaves the token usable."""
    kind = RECOVERY_CODE if code else RECOVERY
    with db.read() as conn:
        user = user_row(conn, project_id, user_id)
        _valid_token(conn, project_id, user_id, kind, secret)  # no hash is spent on a bad secret
    # Hashed before the write; the project's password history applies (400 password_recently_used).
    policies = auth_policies(db, project_id)
    values = {**password_columns(password, user=user, policies=policies), "email_verification": True}
    with db.write() as conn:
        user_row(conn, project_id, user_id)
        token = _consume(conn, project_id, user_id, kind, secret)
        update_columns(conn, project_id, user_id, values)
    return token


# ---------------------------------------------------------------------------------------------
# Sign-in tokens (exchanged for a session by POST /account/sessions/token or PUT …/magic-url)


def create_sign_in_token(
    db: Database,
    settings: Settings,
    *,
    kind: str,
    project_id: str,
    user_id: str,
    email: str,
    phrase: bool,
    ip: str,
    user_agent: str,
    url: str = "",
) -> tuple[Row, str]:
    """POST /account/tokens/magic-url (``kind`` MAGIC_URL: e-mail a sign-in link to ``url`` with
    userId, secret, expire and project) or /account/tokens/email (EMAIL: a 6-digit code valid for
    15 minutes), creating the user (id ``user_id``, may be ``unique()``) if no user has that
    e-mail."""
    mail.require_smtp(settings)
    email = email.lower()
    user = _find_or_create_user(db, project_id, user_id, email)
    with db.read() as conn:
        project = project_name(conn, project_id)
    words = security_phrase() if phrase else ""
    client = parse_user_agent(user_agent)
    if kind == MAGIC_URL:
        secret = new_secret(MAGIC_URL_SECRET_LENGTH)
        expire = dates.later(CONFIRM_SECONDS)
        params = {"userId": user["id"], "secret": secret, "expire": dates.fmt(expire), "project": project_id}
        href = mail_templates.link(url, params)
        message = mail_templates.magic_url(to=email, project=project, url=href, client=client, phrase=words)
    else:
        secret, expire = _code(), dates.later(OTP_SECONDS)
        message = mail_templates.email_otp(to=email, project=project, code=secret, client=client, phrase=words)
    mail.send(settings, message)
    row = insert_token(db, project_id, user["id"], kind, secret, expire, ip=ip, user_agent=user_agent, phrase=words)
    return row, secret


# ---------------------------------------------------------------------------------------------
# Helpers


def _code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(OTP_DIGITS))


def _link_or_code(url: str, user_id: str, seconds: int) -> tuple[str, datetime, str]:
    """(secret, expire, link) of a verification or recovery e-mail: a long secret valid for
    ``seconds`` in a link to ``url`` with userId, secret and expire; without ``url`` a 6-digit
    code valid for 15 minutes and no link."""
    if not url:
        return _code(), dates.later(OTP_SECONDS), ""
    secret = new_secret(LONG_SECRET_LENGTH)
    expire = dates.later(seconds)
    return secret, expire, mail_templates.link(url, {"userId": user_id, "secret": secret, "expire": _plain(expire)})


def _find_or_create_user(db: Database, project_id: str, user_id: str, email: str) -> Row:
    """The user with ``email``, or a new one without password (as Appwrite's token sign-up)."""
    with db.read() as conn:
        user = _user_by_email(conn, project_id, email)
        if user is not None:
            return user
        refuse_beyond_limit(conn, project_id)  # before the identity check, as Appwrite
        claimed = conn.execute(
            sa.select(identities.c.seq).where(
                identities.c.project_id == project_id, identities.c.provider_email == email
            )
        ).first()
    if claimed:
        # Appwrite answers a generic 400 so the request cannot probe for OAuth accounts.
        raise AppwriteError("general_bad_request")
    row, _targets = create_user(db, project_id=project_id, user_id=user_id, email=email, limited=True)
    return row


def _user_by_email(conn: Connection, project_id: str, email: str) -> Row | None:
    row = (
        conn.execute(sa.select(users).where(users.c.project_id == project_id, users.c.email == email))
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def _greeting_name(user: Row) -> str:
    """Appwrite greets by name; a user without one is greeted by address instead of "Hey "."""
    return user["name"] or user["email"] or ""


def _plain(moment: datetime) -> str:
    """Appwrite's ``DateTime::addSeconds`` format, used for ``expire`` in verification and
    recovery links (magic URLs carry the ISO form)."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _token_match(project_id: str, user_id: str, kind: str, secret: str) -> sa.ColumnElement[bool]:
    return sa.and_(
        tokens.c.project_id == project_id,
        tokens.c.user_id == user_id,
        tokens.c.type == kind,
        tokens.c.secret_hash == secret_hash(secret),
        tokens.c.expire >= dates.now(),
    )


def _valid_token(conn: Connection, project_id: str, user_id: str, kind: str, secret: str) -> Row:
    token = (
        conn.execute(sa.select(tokens).where(_token_match(project_id, user_id, kind, secret)).limit(1))
        .mappings()
        .first()
    )
    if token is None:
        raise AppwriteError("user_invalid_token")
    return dict(token)


def _consume(conn: Connection, project_id: str, user_id: str, kind: str, secret: str) -> Row:
    """Delete the matching unexpired token and return it; a concurrent confirm loses the race."""
    token = _valid_token(conn, project_id, user_id, kind, secret)
    if conn.execute(tokens.delete().where(tokens.c.seq == token["seq"])).rowcount != 1:
        raise AppwriteError("user_invalid_token")
    return token


def _mail_token(
    db: Database,
    settings: Settings,
    template: Callable[..., Any],
    project_id: str,
    project: str,
    user: Row,
    url: str,
    phrase: bool,
    ip: str,
    user_agent: str,
    *,
    seconds: int,
    kinds: tuple[str, str],
) -> tuple[Row, str]:
    """E-mail ``user`` a link to ``url`` (without one, a 6-digit code) with ``template`` and keep
    its token, of the first of ``kinds`` for a link and the second for a code."""
    secret, expire, href = _link_or_code(url, user["id"], seconds)
    words = security_phrase() if phrase else ""
    code = "" if url else secret
    message = template(
        to=user["email"], user_name=_greeting_name(user), project=project, url=href, code=code, phrase=words
    )
    mail.send(settings, message)
    kind = kinds[0] if url else kinds[1]
    row = insert_token(db, project_id, user["id"], kind, secret, expire, ip=ip, user_agent=user_agent, phrase=words)
    return row, secret
