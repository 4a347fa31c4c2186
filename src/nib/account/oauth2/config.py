"""Each project's OAuth2 providers: app ID, secret and whether sign-in with it is enabled.

Managed from the command line (``nib providers``); the secret is sealed with the server secret
(tools/sealing.py) and never shown again. The sign-in flow reads a provider's settings through a
per-process cache kept for ``auth.principals.CACHE_SECONDS``, like platforms: a change made by
the command line takes effect within that time in every process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ...auth.principals import CACHE_SECONDS
from ...auth.tables import projects
from ...data.db import Database
from ...data.instance import server_secret
from ...tools import dates
from ...tools.config import Settings
from ...tools.errors import AppwriteError, invalid_argument
from ...tools.ids import unique_id
from ...tools.sealing import SealError, seal, unseal
from ...tools.ttlcache import TTLCache
from ...tools.validators import url_host
from ..tables import oauth2_providers
from .providers import PROVIDER_KEYS

SEAL_PURPOSE = "oauth2 provider secret"
MAX_APP_ID = 256
MAX_SECRET = 8192  # an Apple key in its JSON, with room to spare

# Providers whose secret is a JSON object: the fields it must have (strings). oidc also needs its
# endpoints: the discovery document's URL, or the authorization, token and userinfo endpoints.
JSON_SECRETS: dict[str, tuple[str, ...]] = {
    "oidc": ("clientSecret",),
    "microsoft": ("clientSecret",),
    "apple": ("keyID", "teamID", "p8"),
    "gitlab": ("clientSecret",),
}
# The client IDs of a project's native apps (Android/iOS client IDs, Apple bundle IDs), in a JSON
# secret: the audiences an ID token of native sign-in may name besides the app ID.
NATIVE_CLIENT_IDS = "nativeClientIds"
_OIDC_ENDPOINTS = ("authorizationEndpoint", "tokenEndpoint", "userinfoEndpoint")
_URL_FIELDS = ("wellKnownEndpoint", *_OIDC_ENDPOINTS, "endpoint")


@dataclass(frozen=True)
class ProviderSettings:
    """A provider as a project configured it (the secret opened)."""

    provider: str
    app_id: str
    secret: str
    enabled: bool


_cache: TTLCache[ProviderSettings | bool] = TTLCache(CACHE_SECONDS, 4096)


def id_token_audiences(found: ProviderSettings) -> list[str]:
    """The client IDs an ID token of native sign-in may be issued to: the app ID and the secret's
    ``nativeClientIds`` (when the secret is a JSON object)."""
    try:
        document = json.loads(found.secret)
    except ValueError:
        document = None
    natives = document.get(NATIVE_CLIENT_IDS, []) if isinstance(document, dict) else []
    return [audience for audience in (found.app_id, *natives) if isinstance(audience, str) and audience]


def check_provider(provider: str) -> str:
    if provider not in PROVIDER_KEYS:
        raise invalid_argument(f"Invalid `provider` param: Value must be one of ({', '.join(PROVIDER_KEYS)})")
    return provider


def check_secret(provider: str, secret: str) -> str:
    """The secret as stored: a non-empty string, for JSON providers an object with their fields."""
    if not secret or len(secret) > MAX_SECRET:
        raise invalid_argument(f"Invalid `secret` param: Value must be a valid string and 1 to {MAX_SECRET} chars")
    fields = JSON_SECRETS.get(provider)
    if fields is None:
        return secret
    try:
        document = json.loads(secret)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise invalid_argument(f"Invalid `secret` param: the {provider} secret must be a JSON object")
    missing = [name for name in fields if not isinstance(document.get(name), str) or not document[name]]
    if missing:
        raise invalid_argument(f"Invalid `secret` param: the {provider} secret needs {', '.join(missing)}")
    for name in _URL_FIELDS:
        if name in document and (not isinstance(document[name], str) or url_host(document[name]) is None):
            raise invalid_argument(f"Invalid `secret` param: {name} must be an absolute URL")
    natives = document.get(NATIVE_CLIENT_IDS, [])
    if not isinstance(natives, list) or not all(isinstance(one, str) and one for one in natives):
        raise invalid_argument(f"Invalid `secret` param: {NATIVE_CLIENT_IDS} must be a list of client IDs")
    if provider == "oidc" and "wellKnownEndpoint" not in document:
        absent = [name for name in _OIDC_ENDPOINTS if name not in document]
        if absent:
            raise invalid_argument(
                "Invalid `secret` param: the oidc secret needs wellKnownEndpoint, or " + ", ".join(_OIDC_ENDPOINTS)
            )
    return secret


def set_provider(
    db: Database,
    settings: Settings,
    *,
    project_id: str,
    provider: str,
    app_id: str,
    secret: str | None,
    enabled: bool,
) -> dict[str, Any]:
    """Create or replace the project's settings of ``provider``; ``secret`` None keeps the stored
    one (a write-only field left empty). 400 for bad input (or no secret, stored or given), 404
    for an unknown project. Returns the listed form (no secret)."""
    check_provider(provider)
    if not app_id or len(app_id) > MAX_APP_ID:
        raise invalid_argument(f"Invalid `appId` param: Value must be a valid string and 1 to {MAX_APP_ID} chars")
    sealed = None if secret is None else seal(server_secret(db, settings), SEAL_PURPOSE, check_secret(provider, secret))
    now = dates.now()
    with db.write() as conn:
        if not conn.execute(sa.select(projects.c.seq).where(projects.c.id == project_id)).first():
            raise AppwriteError("project_not_found")
        mine = sa.and_(oauth2_providers.c.project_id == project_id, oauth2_providers.c.provider == provider)
        if sealed is None:
            sealed = conn.execute(sa.select(oauth2_providers.c.secret).where(mine)).scalar()
            if not sealed:
                check_secret(provider, "")  # nothing stored to keep: the secret's own 400
        changes = {"app_id": app_id, "secret": sealed, "enabled": enabled, "updated_at": now}
        if conn.execute(oauth2_providers.update().where(mine).values(changes)).rowcount == 0:
            conn.execute(
                oauth2_providers.insert().values(
                    project_id=project_id, id=unique_id(), created_at=now, provider=provider, **changes
                )
            )
        row = conn.execute(sa.select(oauth2_providers).where(mine)).mappings().one()
    return _listed(row)


def list_providers(db: Database, *, project_id: str) -> list[dict[str, Any]]:
    """The project's configured providers in the order they were first set (no secrets)."""
    with db.read() as conn:
        rows = conn.execute(
            sa.select(oauth2_providers)
            .where(oauth2_providers.c.project_id == project_id)
            .order_by(oauth2_providers.c.seq)
        ).mappings()
        return [_listed(row) for row in rows]


def disable_provider(db: Database, *, project_id: str, provider: str) -> None:
    """Turn sign-in with ``provider`` off (its app ID and secret are kept); 400 when the project
    has not configured it."""
    check_provider(provider)
    with db.write() as conn:
        changed = conn.execute(
            oauth2_providers.update()
            .where(oauth2_providers.c.project_id == project_id, oauth2_providers.c.provider == provider)
            .values(enabled=False, updated_at=dates.now())
        )
    if changed.rowcount == 0:
        raise invalid_argument(f"Provider '{provider}' is not configured in project '{project_id}'.")


def provider_settings(db: Database, settings: Settings, project_id: str, provider: str) -> ProviderSettings | None:
    """The project's settings of ``provider`` (cached), None when it has none."""
    key = (project_id, provider)
    found = _cache.get(key)
    if found is None:
        with db.read() as conn:
            row = (
                conn.execute(
                    sa.select(oauth2_providers).where(
                        oauth2_providers.c.project_id == project_id, oauth2_providers.c.provider == provider
                    )
                )
                .mappings()
                .first()
            )
        found = False
        if row is not None:
            try:
                secret = unseal(server_secret(db, settings), SEAL_PURPOSE, row["secret"])
            except SealError:
                secret = ""  # sealed under another server secret: as good as not configured
            found = ProviderSettings(provider, row["app_id"], secret, bool(row["enabled"]))
        _cache.put(key, found)
    return found if isinstance(found, ProviderSettings) else None


def _listed(row: Any) -> dict[str, Any]:
    return {
        "$id": row["id"],
        "$createdAt": dates.fmt(row["created_at"]),
        "$updatedAt": dates.fmt(row["updated_at"]),
        "provider": row["provider"],
        "appId": row["app_id"],
        "enabled": bool(row["enabled"]),
    }
