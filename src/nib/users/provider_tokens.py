"""The OAuth2 provider tokens of sessions and identities, sealed at rest.

``providerAccessToken`` and ``providerRefreshToken`` are stored sealed with the server secret
(tools/sealing.py) and opened only to render a session or identity: a copy of the database
holds no usable provider token.
"""

from __future__ import annotations

from ..data.db import Database
from ..data.instance import server_secret
from ..data.rows import Row
from ..tools.config import Settings
from ..tools.sealing import SealError, seal, unseal

PURPOSE = "oauth2 provider token"
_FIELDS = ("provider_access_token", "provider_refresh_token")


def sealed(key: str, token: str) -> str:
    """``token`` as stored (``key``: the server secret)."""
    return seal(key, PURPOSE, token)


def opened(db: Database, settings: Settings, row: Row) -> Row:
    """``row`` with its provider tokens readable (unchanged when it has none). A token sealed
    under another server secret reads as ``""``."""
    if not any(row.get(name) for name in _FIELDS):
        return row
    key = server_secret(db, settings)
    copy = dict(row)
    for name in _FIELDS:
        try:
            copy[name] = unseal(key, PURPOSE, row[name])
        except SealError:
            copy[name] = ""
    return copy
