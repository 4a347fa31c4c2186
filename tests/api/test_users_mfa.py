"""MFA of a user, server side: factors, recovery codes, authenticators."""

from __future__ import annotations

import re

import pytest
from appwrite.enums.authenticator_type import AuthenticatorType
from users_support import (
    MISSING_ID,
    assert_error,
    assert_invalid,
    assert_not_found,
    count_rows,
    create_user,
    parse_dt,
    sdk_error,
    seed_authenticator,
    user_row,
)

from nib.auth.tables import authenticators

CODE = re.compile(r"^[0-9a-f]{10}$")
NO_FACTORS = {"totp": False, "email": False, "phone": False, "recoveryCode": False}


def _factors(http, user_id: str) -> dict:
    response = http.get(f"/users/{user_id}/mfa/factors")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("GET", "mfa/factors"),
        ("GET", "mfa/recovery-codes"),
        ("PATCH", "mfa/recovery-codes"),
        ("PUT", "mfa/recovery-codes"),
        ("DELETE", "mfa/authenticators/totp"),
    ],
)
def test_unknown_user_is_404(http, method, suffix):
    assert_not_found(http.request(method, f"/users/{MISSING_ID}/{suffix}"))


# -- factors --------------------------------------------------------------------------------------


def test_factors_default(users, http):
    user = create_user(http)
    factors = _factors(http, user["$id"])
    assert {k: factors[k] for k in NO_FACTORS} == NO_FACTORS
    parsed = users.list_mfa_factors(user["$id"])
    assert (parsed.totp, parsed.email, parsed.phone, parsed.recoverycode) == (False, False, False, False)


def test_email_factor_needs_verified_email(http):
    user = create_user(http)
    http.patch(f"/users/{user['$id']}/verification", json={"emailVerification": True})
    assert _factors(http, user["$id"])["email"] is True
    assert _factors(http, user["$id"])["phone"] is False
    # without an email the flag alone is not a factor
    http.patch(f"/users/{user['$id']}/email", json={"email": ""})
    http.patch(f"/users/{user['$id']}/verification", json={"emailVerification": True})
    assert _factors(http, user["$id"])["email"] is False


def test_email_factor_lost_when_email_changes(http):
    user = create_user(http)
    http.patch(f"/users/{user['$id']}/verification", json={"emailVerification": True})
    assert _factors(http, user["$id"])["email"] is True
    http.patch(f"/users/{user['$id']}/email", json={"email": "changed." + user["email"]})
    assert _factors(http, user["$id"])["email"] is False


def test_phone_factor_needs_verified_phone(http):
    user = create_user(http)
    http.patch(f"/users/{user['$id']}/verification/phone", json={"phoneVerification": True})
    factors = _factors(http, user["$id"])
    assert factors["phone"] is True
    assert factors["email"] is False
    http.patch(f"/users/{user['$id']}/phone", json={"number": ""})
    assert _factors(http, user["$id"])["phone"] is False


def test_totp_factor_needs_verified_authenticator(users, http, db, server):
    pending = create_user(http)
    seed_authenticator(db, server.project, pending["$id"], verified=False)
    assert _factors(http, pending["$id"])["totp"] is False

    user = create_user(http)
    seed_authenticator(db, server.project, user["$id"], verified=True)
    assert _factors(http, user["$id"])["totp"] is True
    assert users.list_mfa_factors(user["$id"]).totp is True


def test_recovery_code_factor(http):
    user = create_user(http)
    http.patch(f"/users/{user['$id']}/mfa/recovery-codes")
    assert _factors(http, user["$id"])["recoveryCode"] is True


# -- recovery codes -------------------------------------------------------------------------------


def test_recovery_codes_lifecycle(users, http):
    user = create_user(http)
    uid = user["$id"]
    assert_error(
        http.get(f"/users/{uid}/mfa/recovery-codes"),
        404,
        "user_recovery_codes_not_found",
        "Recovery codes could not be found on the current user.",
    )

    created = http.patch(f"/users/{uid}/mfa/recovery-codes")
    assert created.status_code in (200, 201)
    codes = created.json()["recoveryCodes"]
    assert len(codes) == 6
    assert all(CODE.match(code) for code in codes)
    assert len(set(codes)) == 6

    assert http.get(f"/users/{uid}/mfa/recovery-codes").json() == {"recoveryCodes": codes}
    assert users.get_mfa_recovery_codes(uid).recoverycodes == codes

    assert_error(
        http.patch(f"/users/{uid}/mfa/recovery-codes"),
        409,
        "user_recovery_codes_already_exists",
        "The current user already generated recovery codes and they can only be read once for security reasons.",
    )
    assert http.get(f"/users/{uid}/mfa/recovery-codes").json()["recoveryCodes"] == codes

    regenerated = http.put(f"/users/{uid}/mfa/recovery-codes")
    assert regenerated.status_code == 200
    fresh = regenerated.json()["recoveryCodes"]
    assert len(fresh) == 6 and all(CODE.match(code) for code in fresh)
    assert set(fresh).isdisjoint(codes)
    assert http.get(f"/users/{uid}/mfa/recovery-codes").json()["recoveryCodes"] == fresh

    again = users.update_mfa_recovery_codes(uid).recoverycodes
    assert again != fresh and len(again) == 6


def test_recovery_codes_through_sdk(users, http):
    user = create_user(http)
    with sdk_error(404, "user_recovery_codes_not_found"):
        users.get_mfa_recovery_codes(user["$id"])
    codes = users.create_mfa_recovery_codes(user["$id"]).recoverycodes
    assert len(codes) == 6
    with sdk_error(409, "user_recovery_codes_already_exists"):
        users.create_mfa_recovery_codes(user["$id"])


def test_regenerate_without_codes_is_404(users, http):
    user = create_user(http)
    assert_error(http.put(f"/users/{user['$id']}/mfa/recovery-codes"), 404, "user_recovery_codes_not_found")
    with sdk_error(404, "user_recovery_codes_not_found"):
        users.update_mfa_recovery_codes(user["$id"])


def test_recovery_codes_stored_on_user(http, db, server):
    user = create_user(http)
    codes = http.patch(f"/users/{user['$id']}/mfa/recovery-codes").json()["recoveryCodes"]
    assert user_row(db, server.project, user["$id"])["mfa_recovery_codes"] == codes
    # never exposed on the User model
    assert "mfaRecoveryCodes" not in http.get(f"/users/{user['$id']}").json()


# -- authenticators -------------------------------------------------------------------------------


def test_delete_authenticator_when_none(users, http):
    user = create_user(http)
    assert_error(
        http.delete(f"/users/{user['$id']}/mfa/authenticators/totp"),
        404,
        "user_authenticator_not_found",
        "Authenticator could not be found on the current user.",
    )
    with sdk_error(404, "user_authenticator_not_found"):
        users.delete_mfa_authenticator(user["$id"], AuthenticatorType.TOTP)


@pytest.mark.parametrize("verified", [True, False])
def test_delete_authenticator(http, db, server, verified):
    user = create_user(http)
    other = create_user(http)
    seed_authenticator(db, server.project, user["$id"], verified=verified)
    seed_authenticator(db, server.project, other["$id"], verified=True)
    response = http.delete(f"/users/{user['$id']}/mfa/authenticators/totp")
    assert response.status_code == 204
    assert response.content == b""
    assert count_rows(db, authenticators, server.project, user_id=user["$id"]) == 0
    assert count_rows(db, authenticators, server.project, user_id=other["$id"]) == 1
    assert _factors(http, user["$id"])["totp"] is False
    assert_error(http.delete(f"/users/{user['$id']}/mfa/authenticators/totp"), 404, "user_authenticator_not_found")


def test_delete_authenticator_through_sdk(users, http, db, server):
    user = create_user(http)
    seed_authenticator(db, server.project, user["$id"], verified=True)
    users.delete_mfa_authenticator(user["$id"], AuthenticatorType.TOTP)
    assert users.list_mfa_factors(user["$id"]).totp is False


@pytest.mark.parametrize("kind", ["email", "phone", "sms", "recoveryCode"])
def test_delete_authenticator_bad_type(http, kind):
    user = create_user(http)
    assert_invalid(
        http.delete(f"/users/{user['$id']}/mfa/authenticators/{kind}"),
        "Invalid `type` param: Value must be one of (totp)",
    )


# -- mfa flag -------------------------------------------------------------------------------------


def test_mfa_flag_and_factors_are_independent(http):
    user = create_user(http)
    body = http.patch(f"/users/{user['$id']}/mfa", json={"mfa": True}).json()
    assert body["mfa"] is True
    assert parse_dt(body["$updatedAt"]) >= parse_dt(user["$updatedAt"])
    factors = _factors(http, user["$id"])
    assert {k: factors[k] for k in NO_FACTORS} == NO_FACTORS
