"""The account domain's tables: pending MFA challenges, OAuth2 provider settings."""

from __future__ import annotations

import sqlalchemy as sa

from ..data.db.schema import resource_table
from ..data.db.types import UTCDateTime

# Pending MFA challenges (Appwrite's `challenges` collection); single use, expire after 1 h.
challenges = resource_table(
    "challenges",
    sa.Column("user_id", sa.String(36), nullable=False, index=True),
    # totp | email | phone | recoveryCode
    sa.Column("type", sa.String(16), nullable=False),
    # SHA-256 of the code sent by e-mail/SMS; empty for totp and recovery codes.
    sa.Column("code_hash", sa.String(64), nullable=False, server_default=""),
    sa.Column("expire", UTCDateTime, nullable=False),
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
