"""Response models of the Users service: database rows -> Appwrite JSON.

Every field is always present; unset strings and datetimes are ``""`` (the SDKs' models require
them as strings, never null), and the fields newer SDKs require are included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ..tools.dates import fmt
from ..tools.useragent import DEVICE_FIELDS

COUNTRY_UNKNOWN = "--"
# The response format that added the impersonation fields to the User and Account models.
IMPERSONATION_FORMAT = (1, 9, 0)


def target(row: Mapping[str, Any]) -> dict:
    return {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "$updatedAt": fmt(row["updated_at"]),
        "name": row["name"],
        "userId": row["user_id"],
        "providerId": row["provider_id"],
        "providerType": row["provider_type"],
        "identifier": row["identifier"],
        "expired": row["expired"],
    }


def user(
    row: Mapping[str, Any],
    targets: Iterable[Mapping[str, Any]] | orjson.Fragment,
    *,
    impersonation: bool = True,
    impersonator_id: str | None = None,
) -> dict:
    """The User model; ``targets`` as rows, or already rendered (``users.targets_json``).

    ``impersonation``: with the fields of response format 1.9.0 and later, ``impersonator`` and
    ``impersonatorUserId`` (``impersonator_id``: the real caller, set only on the account an
    impersonator is acting as; null otherwise)."""
    model = {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "$updatedAt": fmt(row["updated_at"]),
        "name": row["name"],
        "password": row["password"],
        "hash": row["hash"],
        "hashOptions": row["hash_options"],
        "registration": fmt(row["registration"]),
        "status": row["status"],
        "labels": row["labels"],
        "passwordUpdate": fmt(row["password_update"]),
        "email": row["email"] or "",
        "phone": row["phone"] or "",
        "emailVerification": row["email_verification"],
        "phoneVerification": row["phone_verification"],
        "mfa": row["mfa"],
        "prefs": row["prefs"] or {},
        "targets": targets if isinstance(targets, orjson.Fragment) else [target(t) for t in targets],
        "accessedAt": fmt(row["accessed_at"]),
    }
    if impersonation:
        model["impersonator"] = row["impersonator"]
        model["impersonatorUserId"] = impersonator_id
    return model


def listed_user(row: Mapping[str, Any], *, impersonation: bool = True) -> dict | orjson.Fragment:
    """The User model of a ``service.list_users`` row: finished by SQLite (``user``), or built
    here from the columns and the rendered targets (PostgreSQL)."""
    if "user" in row:
        return row["user"]
    return user(row, row["targets_json"], impersonation=impersonation)


def _client_fields(client: Mapping[str, str]) -> dict:
    country = client.get("countryCode") or COUNTRY_UNKNOWN
    fields = {name: client.get(name, "") for name in DEVICE_FIELDS}
    fields["countryCode"] = country
    fields["countryName"] = "Unknown" if country == COUNTRY_UNKNOWN else country.upper()
    return fields


def session(row: Mapping[str, Any], *, secret: str = "", current: bool = False) -> dict:
    return {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "$updatedAt": fmt(row["updated_at"]),
        "userId": row["user_id"],
        "expire": fmt(row["expire"]),
        "provider": row["provider"],
        "providerUid": row["provider_uid"],
        "providerAccessToken": row["provider_access_token"],
        "providerAccessTokenExpiry": fmt(row["provider_access_token_expiry"]),
        "providerRefreshToken": row["provider_refresh_token"],
        "ip": row["ip"],
        **_client_fields(row["client"]),
        "current": current,
        "factors": row["factors"],
        "secret": secret,
        "mfaUpdatedAt": fmt(row["mfa_updated_at"]),
    }


def token(row: Mapping[str, Any], *, secret: str) -> dict:
    return {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "userId": row["user_id"],
        "secret": secret,
        "expire": fmt(row["expire"]),
        "phrase": row["phrase"],
    }


def identity(row: Mapping[str, Any]) -> dict:
    return {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "$updatedAt": fmt(row["updated_at"]),
        "userId": row["user_id"],
        "provider": row["provider"],
        "providerUid": row["provider_uid"],
        "providerEmail": row["provider_email"],
        "providerAccessToken": row["provider_access_token"],
        "providerAccessTokenExpiry": fmt(row["provider_access_token_expiry"]),
        "providerRefreshToken": row["provider_refresh_token"],
        "providerIdToken": "",
    }


def log(row: Mapping[str, Any]) -> dict:
    return {
        "event": row["event"],
        "userId": row["user_id"],
        "userEmail": row["user_email"],
        "userName": row["user_name"],
        "mode": row["mode"],
        "userType": row["user_type"],
        "ip": row["ip"],
        "time": fmt(row["time"]),
        **_client_fields(row["client"]),
    }


def mfa_factors(*, totp: bool, email: bool, phone: bool, recovery_code: bool, custom: bool = False) -> dict:
    return {"totp": totp, "phone": phone, "email": email, "recoveryCode": recovery_code, "custom": custom}


def passkey(row: Mapping[str, Any]) -> dict:
    """The Passkey model: never the credential itself."""
    return {
        "$id": row["id"],
        "$createdAt": fmt(row["created_at"]),
        "$updatedAt": fmt(row["updated_at"]),
        "name": row["name"],
        "accessedAt": fmt(row["accessed_at"]),
    }
