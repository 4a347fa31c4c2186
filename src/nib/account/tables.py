"""The account domain's tables: pending MFA and passkey challenges, OAuth2 provider settings."""

from __future__ import annotations

import sqlalchemy as sa

from ..data.db.schema import resource_table
from ..data.db.types import UTCDateTime

# Pending MFA challenges (Appwrite's `challenges` collection); single use, expire after 1 h.
challenges = resource_table(
    "challenges",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    # totp | email | phone | recoveryCode | custom
    sa.Column("type", sa.String(16), nullable=False),
    # SHA-256 of the code sent by e-mail/SMS; empty for totp and recovery codes.
    sa.Column("code_hash", sa.String(64), nullable=False, server_default=""),
    # The code of a ``custom`` challenge, sealed with the server secret (tools/sealing.py): the
    # developer's backend reads it back to deliver it itself.
    sa.Column("code_sealed", sa.Text, nullable=False, server_default=""),
    sa.Column("expire", UTCDateTime, nullable=False),
)

# WebAuthn challenges (passkey registration and sign-in); single use, expire after 300 s.
passkey_challenges = resource_table(
    "passkey_challenges",
    # registration | authentication
    sa.Column("type", sa.String(16), nullable=False),
    # Registration: the user, the pending passkey and the session it was started from; "" for sign-in.
    sa.Column("user_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("passkey_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("session_id", sa.String(36), nullable=False, server_default=""),
    # SHA-256 of the relying party (ID and origins) it was issued for: a change voids it.
    sa.Column("relying_party", sa.String(64), nullable=False),
    # The random challenge the authenticator signs, base64url.
    sa.Column("challenge", sa.String(64), nullable=False),
    sa.Column("expire", UTCDateTime, nullable=False, index=True),
)

# Each project's OAuth2 providers (`nib providers`): app ID, secret (sealed with the server
# secret: a plain string or the provider's JSON) and whether sign-in with it is enabled.
oauth2_providers = resource_table(
    "oauth2_providers",
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("app_id", sa.String(256), nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("project_id", "provider"),
)
