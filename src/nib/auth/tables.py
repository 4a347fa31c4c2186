"""The identity and access tables: projects and their keys and platforms, users and what
authenticates them (sessions, tokens, targets, identities, authenticators, passkeys) and team
memberships.

They live here, below the domains, because credentials and roles read them to authenticate a
request before any domain runs; users, teams and account build on them. Declared on the shared
``metadata`` with the conventions described in data/db/schema.py.
"""

from __future__ import annotations

import sqlalchemy as sa

from ..data.db.schema import metadata, resource_table
from ..data.db.types import JSONValue, RawJSON, UTCDateTime

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # The MFA-factors policy of the ``custom`` factor (``nib projects mfa-factors``); off by default.
    sa.Column("mfa_custom", sa.Boolean, nullable=False, server_default=sa.false()),
    # Auth policies and methods changed from Appwrite's defaults (auth/projects.py: AuthPolicies).
    sa.Column("auths", JSONValue, nullable=False, server_default=sa.text("'{}'")),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

api_keys = resource_table(
    "api_keys",
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", JSONValue, nullable=False),
    sa.Column("expire", UTCDateTime, nullable=True),
)

users = resource_table(
    "users",
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("email", sa.String(320), nullable=True),
    sa.Column("phone", sa.String(16), nullable=True),
    sa.Column("password", sa.Text, nullable=True),
    sa.Column("hash", sa.String(16), nullable=False, server_default="argon2"),
    sa.Column("hash_options", JSONValue, nullable=False),
    sa.Column("registration", UTCDateTime, nullable=False),
    sa.Column("status", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("labels", JSONValue, nullable=False),
    sa.Column("password_update", UTCDateTime, nullable=True),
    sa.Column("email_verification", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("phone_verification", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("mfa", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("mfa_recovery_codes", JSONValue, nullable=True),
    sa.Column("prefs", JSONValue, nullable=False),
    sa.Column("accessed_at", UTCDateTime, nullable=True),
    # The user's targets as the JSON array of Target models, kept by triggers on `targets`
    # (users/rendered.py): a page of users reads it instead of its users' targets.
    sa.Column("targets_json", RawJSON, nullable=False, server_default="[]"),
    # May act as another user of the project (X-Appwrite-Impersonate-User-*; auth/impersonation.py).
    sa.Column("impersonator", sa.Boolean, nullable=False, server_default=sa.false()),
    # Hashes of the latest passwords, newest first (the project's password-history policy).
    sa.Column("password_history", JSONValue, nullable=False, server_default=sa.text("'[]'")),
    sa.UniqueConstraint("project_id", "email"),
    sa.Index("ix_users_project_id_impersonator", "project_id", "impersonator"),
    # Pages of a project's users in list order, also filtered by status (migration 0012).
    sa.Index("ix_users_project_id_seq", "project_id", "seq"),
    sa.Index("ix_users_project_id_status", "project_id", "status", "seq"),
    # Sign-ups per day (the console's overview) over an index range.
    sa.Index("ix_users_project_id_registration", "project_id", "registration"),
    sa.UniqueConstraint("project_id", "phone"),
    searchable=True,
)

sessions = resource_table(
    "sessions",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("expire", UTCDateTime, nullable=False),
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("provider_uid", sa.String(320), nullable=False, server_default=""),
    sa.Column("provider_access_token", sa.Text, nullable=False, server_default=""),
    sa.Column("provider_access_token_expiry", UTCDateTime, nullable=True),
    sa.Column("provider_refresh_token", sa.Text, nullable=False, server_default=""),
    sa.Column("ip", sa.String(45), nullable=False, server_default=""),
    # The 12 device fields parsed from the User-Agent plus countryCode (tools/useragent.py).
    sa.Column("client", JSONValue, nullable=False),
    sa.Column("factors", JSONValue, nullable=False),
    sa.Column("mfa_updated_at", UTCDateTime, nullable=True),
)

tokens = resource_table(
    "tokens",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    # generic (server-created), magic-url, email, recovery, verification, …
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, index=True),
    sa.Column("expire", UTCDateTime, nullable=False),
    sa.Column("phrase", sa.String(64), nullable=False, server_default=""),
    sa.Column("ip", sa.String(45), nullable=False, server_default=""),
    sa.Column("user_agent", sa.Text, nullable=False, server_default=""),
    # The OAuth2 provider an `oauth2` token was made by (its session names it); "" for the others.
    sa.Column("provider", sa.String(32), nullable=False, server_default=""),
)

targets = resource_table(
    "targets",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("provider_id", sa.String(36), nullable=True),
    sa.Column("provider_type", sa.String(8), nullable=False),
    sa.Column("identifier", sa.String(320), nullable=False),
    sa.Column("expired", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("project_id", "identifier"),
)

identities = resource_table(
    "identities",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("provider_uid", sa.String(320), nullable=False),
    sa.Column("provider_email", sa.String(320), nullable=False, server_default=""),
    sa.Column("provider_access_token", sa.Text, nullable=False, server_default=""),
    sa.Column("provider_access_token_expiry", UTCDateTime, nullable=True),
    sa.Column("provider_refresh_token", sa.Text, nullable=False, server_default=""),
    # One identity per provider account in a project (Appwrite's unique provider + providerUid).
    sa.Index("ux_identities_provider_uid", "project_id", "provider", "provider_uid", unique=True),
)

authenticators = resource_table(
    "authenticators",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("secret", sa.Text, nullable=False),
    sa.UniqueConstraint("project_id", "user_id", "type"),
)

# WebAuthn credentials of users (passkeys), several per user. A row is pending (``verified``
# false, ``challenge_id`` naming its registration challenge) until the browser's attestation is
# verified; then it carries the credential and can sign in.
passkeys = resource_table(
    "passkeys",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("verified", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("challenge_id", sa.String(36), nullable=True),
    # The WebAuthn user handle (base64url of 32 random bytes): one per user, on all its passkeys.
    sa.Column("user_handle", sa.String(64), nullable=False),
    # SHA-256 hex of the raw credential ID (lookup at sign-in); NULL while pending.
    sa.Column("identifier", sa.String(64), nullable=True),
    # The raw credential ID and COSE public key, base64url; the authenticator's transports.
    sa.Column("credential_id", sa.Text, nullable=False, server_default=""),
    sa.Column("public_key", sa.Text, nullable=False, server_default=""),
    sa.Column("transports", JSONValue, nullable=False),
    sa.Column("sign_count", sa.BigInteger, nullable=False, server_default="0"),
    # Backup eligible (synced passkey): its counter is not checked, and the flag may not change.
    sa.Column("backup_eligible", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("accessed_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("project_id", "identifier"),
)

memberships = resource_table(
    "memberships",
    sa.Column("team_id", sa.String(36), nullable=False, index=True),
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    sa.Column("roles", JSONValue, nullable=False),
    sa.Column("invited", UTCDateTime, nullable=True),
    sa.Column("joined", UTCDateTime, nullable=True),
    sa.Column("confirm", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("secret_hash", sa.String(64), nullable=True),
    sa.UniqueConstraint("project_id", "team_id", "user_id"),
    searchable=True,
)

# Web platforms of a project: the hostnames browsers may call from (CORS, origin check) and
# that redirect URLs in e-mails (verification, recovery, magic URL, invitations) may point to.
platforms = resource_table(
    "platforms",
    sa.Column("type", sa.String(16), nullable=False, server_default="web"),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("hostname", sa.String(256), nullable=False),
    sa.UniqueConstraint("project_id", "hostname"),
)

# The web console's administrators (``nib admins``, the first-start set-up link): they sign in
# to /console and belong to no project.
console_admins = sa.Table(
    "console_admins",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(36), nullable=False, unique=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.String(128), nullable=False, server_default=""),
    sa.Column("password", sa.Text, nullable=False),  # argon2id
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("admin_id", sa.String(36), nullable=False, index=True),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    # The session's CSRF token, as a digest: every state change must carry the token itself.
    sa.Column("csrf_hash", sa.String(64), nullable=False),
    sa.Column("expire", UTCDateTime, nullable=False),
    sa.Column("ip", sa.String(45), nullable=False, server_default=""),
    sa.Column("created_at", UTCDateTime, nullable=False),
)
