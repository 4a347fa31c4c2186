"""POST /users and the hash-import routes, through the official SDK and raw HTTP, on both
backends."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from appwrite.enums.password_hash import PasswordHash
from appwrite.exception import AppwriteException
from appwrite.id import ID

from nib.auth.passwords import verify_password
from nib.auth.tables import users as users_table

# --- Appwrite's own test vectors (tests/unit/test_passwords.py); all hash "appwrite" ----------

PASSWORD = "appwrite"
WRONG = "appwritf"
MD5 = "144fa7eaa4904e8ee120651997f70dcc"
BCRYPT = "$2a$15$xX/myGbFU.ZSKHSi6EHdBOySTdYm8QxBLXmOPHrYMwV0mHRBBSBOq"
ARGON2 = "$argon2i$v=19$m=20,t=3,p=2$YXBwd3JpdGU$A/54i238ed09ZR4NwlACU5XnkjNBZU9QeOEuhjLiexI"
SHA512 = (
    "4243da0a694e8a2f727c8060fe0507c8fa01ca68146c76d2c190805b638c20c6"
    "bf6ba04e21f11ae138785d0bff63c416e6f87badbffad37f6dee50094cc38c70"
)
SCRYPT = (
    "3fdef49701bc4cfaacd551fe017283513284b4731e6945c263246ef948d3cf63"
    "b5d269c31fd697246085111a428245e24a4ddc6b64c687bc60a8910dbafc1d5b"
)
PHPASS = "$P$Br387rwferoKN7uwHZqNMu98q3U8RO."
SCRYPT_MOD = "UlM7JiXRcQhzAGlaonpSqNSLIz475WMddOgLjej5De9vxTy48K6WtqlEzrRFeK4t0COfMhWCb8wuMHgxOFCHFQ=="
SCRYPT_MOD_SALT = "UxLMreBr6tYyjQ=="
SCRYPT_MOD_SEPARATOR = "Bw=="
SCRYPT_MOD_SIGNER_KEY = "XyEKE9RcTDeLEsL/RjwPDBv/RqDl8fb3gpYEOQaPihbxf1ZAtSOHCjuAAa7Q3oHpCYhXSN9tizHgVOwn6krflQ=="
SHA_HASHLIB = {
    "sha1": "sha1",
    "sha224": "sha224",
    "sha256": "sha256",
    "sha384": "sha384",
    "sha512/224": "sha512_224",
    "sha512/256": "sha512_256",
    "sha512": "sha512",
    "sha3-224": "sha3_224",
    "sha3-256": "sha3_256",
    "sha3-384": "sha3_384",
    "sha3-512": "sha3_512",
}

ARGON2_OPTIONS = {"type": "argon2", "memoryCost": 2048, "timeCost": 4, "threads": 3}
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00$")
SERVER_ID = re.compile(r"^[0-9a-f]{20}$")
USER_FIELDS = (
    "$id $createdAt $updatedAt name registration status labels passwordUpdate email phone "
    "emailVerification phoneVerification mfa prefs targets accessedAt"
).split()
USER_OPTIONAL_FIELDS = ["password", "hash", "hashOptions"]  # emitted, possibly as null
TARGET_FIELDS = "$id $createdAt $updatedAt name userId providerType identifier expired".split()
ALREADY_EXISTS = "A user with the same id, email, or phone already exists in this project."
EMAIL_INVALID = "Invalid `email` param: Value must be a valid email address"
PHONE_INVALID = "Invalid `phone` param: Phone number must start with a '+' can have a maximum of fifteen digits."
NEW_PASSWORD_INVALID = (
    "Invalid `password` param: Password must be between 8 and 265 characters long, "
    "and should not be one of the commonly used password."
)
HASH_INVALID = "Invalid `password` param: Password must be between 8 and 256 characters long."
NAME_INVALID = "Invalid `name` param: Value must be a valid string and at least 1 chars and no longer than 128 chars"
CUSTOM_ID_INVALID = (
    "Invalid `userId` param: Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, "
    "period, hyphen, and underscore. Can't start with a special char"
)


def unique_email(prefix: str = "create") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:12]}@example.com"


def unique_phone() -> str:
    return "+1" + f"{uuid.uuid4().int % 10**12:012d}"


def parse_dt(value: str) -> datetime:
    assert DATETIME.match(value), value
    return datetime.fromisoformat(value)


def assert_recent(value: str) -> None:
    moment = parse_dt(value)
    assert abs(datetime.now(timezone.utc) - moment) < timedelta(minutes=2), value


def assert_user_shape(body: dict) -> None:
    """Every key newer SDKs require is present with the right JSON type."""
    for key in USER_FIELDS + USER_OPTIONAL_FIELDS:
        assert key in body, f"missing {key}: {body}"
    for key in (
        "$id",
        "$createdAt",
        "$updatedAt",
        "name",
        "registration",
        "passwordUpdate",
        "email",
        "phone",
        "accessedAt",
    ):
        assert isinstance(body[key], str), key
    for key in ("status", "emailVerification", "phoneVerification", "mfa"):
        assert isinstance(body[key], bool), key
    assert isinstance(body["labels"], list)
    assert isinstance(body["prefs"], dict)
    assert isinstance(body["targets"], list)
    for key in ("$createdAt", "$updatedAt", "registration"):
        parse_dt(body[key])
    for target in body["targets"]:
        for key in TARGET_FIELDS:
            assert key in target, f"target misses {key}: {target}"
        assert "providerId" in target
        assert target["expired"] is False


def assert_error(response, status: int, type_: str, message: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert body["type"] == type_
    if message is not None:
        assert body["message"] == message
    return body


def assert_sdk_error(excinfo, status: int, type_: str, message: str | None = None) -> None:
    error = excinfo.value
    assert error.code == status, error.message
    assert error.type == type_, error.message
    if message is not None:
        assert error.message == message


def stored_row(db, user_id: str) -> dict:
    with db.read() as conn:
        rows = conn.execute(sa.select(users_table).where(users_table.c.id == user_id)).mappings().all()
    assert len(rows) == 1
    return dict(rows[0])


# --- POST /users: every combination ---------------------------------------------------------


COMBINATIONS = {
    "none": {},
    "email": {"email": True},
    "phone": {"phone": True},
    "password": {"password": True},
    "name": {"name": True},
    "email+password": {"email": True, "password": True},
    "phone+name": {"phone": True, "name": True},
    "all": {"email": True, "phone": True, "password": True, "name": True},
}


@pytest.mark.parametrize("combo", list(COMBINATIONS), ids=list(COMBINATIONS))
def test_create_user_combinations(server, http, users, db, combo: str) -> None:
    wanted = COMBINATIONS[combo]
    user_id = ID.unique()
    email = unique_email("Mixed.Case") if wanted.get("email") else None
    phone = unique_phone() if wanted.get("phone") else None
    password = "correct-horse-battery" if wanted.get("password") else None
    name = "Created Person" if wanted.get("name") else None

    created = users.create(user_id, email=email, phone=phone, password=password, name=name)
    assert created.id == user_id

    # The same user read back as raw JSON: exact field values and the literal `"prefs":{}`.
    response = http.get(f"/users/{user_id}")
    assert response.status_code == 200
    assert '"prefs":{}' in response.text.replace(" ", "")
    body = response.json()
    assert_user_shape(body)
    assert body["$id"] == user_id
    assert body["name"] == (name or "")
    assert body["email"] == (email.lower() if email else "")
    assert body["phone"] == (phone or "")
    assert body["status"] is True
    assert body["labels"] == []
    assert body["prefs"] == {}
    assert body["emailVerification"] is False
    assert body["phoneVerification"] is False
    assert body["mfa"] is False
    assert body["accessedAt"] == ""
    assert body["hash"] == "argon2"
    assert body["hashOptions"] == ARGON2_OPTIONS
    assert_recent(body["registration"])
    assert_recent(body["$createdAt"])
    assert_recent(body["$updatedAt"])
    if password:
        assert body["password"].startswith("$argon2id$"), body["password"]
        assert_recent(body["passwordUpdate"])
        assert verify_password(password, body["password"], body["hash"], body["hashOptions"]) is True
        assert verify_password(password + "x", body["password"], body["hash"], body["hashOptions"]) is False
    else:
        assert body["password"] is None
        assert body["passwordUpdate"] == ""

    # Auto-created targets.
    expected_targets = []
    if email:
        expected_targets.append(("email", email.lower()))
    if phone:
        expected_targets.append(("sms", phone))
    got = sorted((t["providerType"], t["identifier"]) for t in body["targets"])
    assert got == sorted(expected_targets)
    for target in body["targets"]:
        assert target["userId"] == user_id
        assert target["name"] == ""
        assert target["providerId"] is None
        assert target["expired"] is False
        parse_dt(target["$createdAt"])

    # The SDK's parsed model agrees with the raw JSON.
    assert created.email == body["email"]
    assert created.phone == body["phone"]
    assert created.name == body["name"]
    assert created.status is True
    assert created.labels == []
    assert created.password == body["password"]
    assert created.passwordupdate == body["passwordUpdate"]
    assert created.hashoptions.type == ARGON2_OPTIONS["type"]  # the SDK coerces the union; raw JSON is checked below
    assert [(t.providertype, t.identifier) for t in created.targets] == [
        (t["providerType"], t["identifier"]) for t in body["targets"]
    ]
    assert all(t.expired is False for t in created.targets)

    # What is stored.
    row = stored_row(db, user_id)
    assert row["hash"] == "argon2"
    if password:
        assert row["password"].startswith("$argon2id$v=19$")
        assert verify_password(password, row["password"], row["hash"], row["hash_options"]) is True
    else:
        assert row["password"] is None


def test_create_response_raw_json(server, http) -> None:
    """The 201 body itself (not just GET) has every field and the literal `"prefs":{}`."""
    email = unique_email()
    response = http.post("/users", json={"userId": ID.unique(), "email": email, "password": "password123"})
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert '"prefs":{}' in response.text.replace(" ", "")
    body = response.json()
    assert_user_shape(body)
    assert body["email"] == email
    assert body["targets"][0]["providerType"] == "email"
    assert body["targets"][0]["identifier"] == email


def test_create_with_literal_unique_id(http) -> None:
    response = http.post("/users", json={"userId": "unique()", "name": "Generated"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert SERVER_ID.match(body["$id"]), body["$id"]
    assert http.get(f"/users/{body['$id']}").json()["name"] == "Generated"


def test_create_with_sdk_unique_id(users) -> None:
    created = users.create(ID.unique())
    assert re.fullmatch(r"[0-9a-f]{20}", created.id), created.id
    assert created.email == "" and created.phone == "" and created.name == ""
    assert created.password is None
    assert created.passwordupdate == ""
    assert created.targets == []


def test_email_is_lower_cased(users) -> None:
    email = unique_email("UPPER").replace("example.com", "Example.COM")
    created = users.create(ID.unique(), email=email)
    assert created.email == email.lower()
    assert created.targets[0].identifier == email.lower()


def test_null_email_and_phone_are_not_provided(http) -> None:
    response = http.post("/users", json={"userId": ID.unique(), "email": None, "phone": None, "name": "Nulls"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["email"] == "" and body["phone"] == "" and body["targets"] == []


# --- POST /users: errors ---------------------------------------------------------------------


def test_duplicate_id(users) -> None:
    user_id = ID.unique()
    users.create(user_id)
    with pytest.raises(AppwriteException) as excinfo:
        users.create(user_id, email=unique_email())
    assert_sdk_error(excinfo, 409, "user_already_exists", ALREADY_EXISTS)


def test_duplicate_email_case_insensitive(users) -> None:
    email = unique_email()
    users.create(ID.unique(), email=email)
    with pytest.raises(AppwriteException) as excinfo:
        users.create(ID.unique(), email=email.upper())
    assert_sdk_error(excinfo, 409, "user_already_exists", ALREADY_EXISTS)


def test_duplicate_phone(users) -> None:
    phone = unique_phone()
    users.create(ID.unique(), phone=phone)
    with pytest.raises(AppwriteException) as excinfo:
        users.create(ID.unique(), phone=phone)
    assert_sdk_error(excinfo, 409, "user_already_exists", ALREADY_EXISTS)


def test_failed_create_leaves_nothing_behind(http) -> None:
    email, phone = unique_email(), unique_phone()
    assert http.post("/users", json={"userId": ID.unique(), "email": email}).status_code == 201
    blocked_id = ID.unique()
    response = http.post("/users", json={"userId": blocked_id, "email": email, "phone": phone})
    assert_error(response, 409, "user_already_exists", ALREADY_EXISTS)
    assert_error(http.get(f"/users/{blocked_id}"), 404, "user_not_found")
    # The phone was not consumed by the failed create.
    assert http.post("/users", json={"userId": ID.unique(), "phone": phone}).status_code == 201


@pytest.mark.parametrize(
    "body, message",
    [
        ({"email": "not-an-email"}, EMAIL_INVALID),
        ({"email": "a@b"}, EMAIL_INVALID),
        ({"email": ""}, EMAIL_INVALID),
        ({"phone": "12345678"}, PHONE_INVALID),
        ({"phone": "+0123456789"}, PHONE_INVALID),
        ({"phone": "+1234567890123456"}, PHONE_INVALID),
        ({"phone": ""}, PHONE_INVALID),
        ({"password": "short"}, NEW_PASSWORD_INVALID),
        ({"password": ""}, NEW_PASSWORD_INVALID),
        ({"password": "x" * 257}, NEW_PASSWORD_INVALID),
        ({"name": ""}, NAME_INVALID),
        ({"name": "n" * 129}, NAME_INVALID),
    ],
    ids=[
        "email-garbage", "email-no-dot", "email-empty", "phone-no-plus", "phone-leading-zero",
        "phone-too-long", "phone-empty", "password-short", "password-empty", "password-long",
        "name-empty", "name-long",
    ],
)  # fmt: skip
def test_invalid_params(http, body: dict, message: str) -> None:
    user_id = ID.unique()
    response = http.post("/users", json={"userId": user_id, **body})
    assert_error(response, 400, "general_argument_invalid", message)
    assert http.get(f"/users/{user_id}").status_code == 404


def test_invalid_params_through_sdk(users) -> None:
    with pytest.raises(AppwriteException) as excinfo:
        users.create(ID.unique(), email="nope")
    assert_sdk_error(excinfo, 400, "general_argument_invalid", EMAIL_INVALID)
    with pytest.raises(AppwriteException) as excinfo:
        users.create(ID.unique(), name="")
    assert_sdk_error(excinfo, 400, "general_argument_invalid", NAME_INVALID)


def test_boundary_lengths_accepted(users) -> None:
    created = users.create(ID.unique(), password="p" * 8, name="n" * 128)
    assert created.name == "n" * 128
    long_id = "a" + uuid.uuid4().hex + "bcd"  # 36 chars
    created = users.create(ID.custom(long_id), password="p" * 256)
    assert created.id == long_id


@pytest.mark.parametrize("user_id", ["-leading", "_leading", ".leading", "a" * 37, "bad$char", ""])
def test_invalid_user_id(http, user_id: str) -> None:
    response = http.post("/users", json={"userId": user_id})
    assert_error(response, 400, "general_argument_invalid", CUSTOM_ID_INVALID)


def test_missing_user_id(http) -> None:
    response = http.post("/users", json={"email": unique_email()})
    assert_error(response, 400, "general_argument_invalid", 'Param "userId" is not optional.')


# --- Hash imports ----------------------------------------------------------------------------


def _check_import(http, db, user_id: str, email: str, stored: str, hash_name: str, options: dict, name: str | None):
    """The import's raw JSON is exact, and what was stored verifies `appwrite` (and only it)."""
    response = http.get(f"/users/{user_id}")
    assert response.status_code == 200
    assert '"prefs":{}' in response.text.replace(" ", "")
    body = response.json()
    assert_user_shape(body)
    assert body["password"] == stored
    assert body["hash"] == hash_name
    assert body["hashOptions"] == options
    assert body["email"] == email.lower()
    assert body["name"] == (name or "")
    assert body["phone"] == ""
    assert body["status"] is True
    assert body["labels"] == []
    assert_recent(body["passwordUpdate"])
    assert [(t["providerType"], t["identifier"], t["expired"]) for t in body["targets"]] == [
        ("email", email.lower(), False)
    ]
    assert verify_password(PASSWORD, body["password"], body["hash"], body["hashOptions"]) is True
    assert verify_password(WRONG, body["password"], body["hash"], body["hashOptions"]) is False

    row = stored_row(db, user_id)
    assert row["password"] == stored
    assert row["hash"] == hash_name
    assert row["hash_options"] == options
    assert verify_password(PASSWORD, row["password"], row["hash"], row["hash_options"]) is True
    assert verify_password(WRONG, row["password"], row["hash"], row["hash_options"]) is False
    return body


def test_import_md5(http, users, db) -> None:
    user_id, email = ID.unique(), unique_email("md5")
    created = users.create_md5_user(user_id, email, MD5, name="MD5 User")
    assert created.password == MD5 and created.hash == "md5"
    assert created.hashoptions.type == "md5"
    _check_import(http, db, user_id, email, MD5, "md5", {"type": "md5"}, "MD5 User")


def test_import_bcrypt(http, users, db) -> None:
    user_id, email = ID.unique(), unique_email("bcrypt")
    created = users.create_bcrypt_user(user_id, email, BCRYPT)
    assert created.password == BCRYPT and created.hash == "bcrypt"
    _check_import(http, db, user_id, email, BCRYPT, "bcrypt", {"type": "bcrypt"}, None)


def test_import_argon2(http, users, db) -> None:
    user_id, email = ID.unique(), unique_email("argon2")
    created = users.create_argon2_user(user_id, email, ARGON2, name="Argon")
    assert created.password == ARGON2 and created.hash == "argon2"
    _check_import(http, db, user_id, email, ARGON2, "argon2", {"type": "argon2"}, "Argon")


def test_import_phpass(http, users, db) -> None:
    user_id, email = ID.unique(), unique_email("phpass")
    created = users.create_ph_pass_user(user_id, email, PHPASS)
    assert created.password == PHPASS and created.hash == "phpass"
    _check_import(http, db, user_id, email, PHPASS, "phpass", {"type": "phpass"}, None)


def test_import_scrypt(http, users, db) -> None:
    user_id, email = ID.unique(), unique_email("scrypt")
    created = users.create_scrypt_user(
        user_id,
        email,
        SCRYPT,
        password_salt="appwrite",
        password_cpu=16384,
        password_memory=13,
        password_parallel=2,
        password_length=64,
        name="Scrypt",
    )
    options = {
        "salt": "appwrite",
        "costCpu": 16384,
        "costMemory": 13,
        "costParallel": 2,
        "length": 64,
        "type": "scrypt",
    }
    assert created.password == SCRYPT and created.hash == "scrypt"
    assert created.hashoptions.type == options["type"]  # the SDK coerces the union; raw JSON is checked below
    _check_import(http, db, user_id, email, SCRYPT, "scrypt", options, "Scrypt")


def test_import_scrypt_modified(http, users, db) -> None:
    user_id, email = ID.unique(), unique_email("scryptmod")
    created = users.create_scrypt_modified_user(
        user_id, email, SCRYPT_MOD, SCRYPT_MOD_SALT, SCRYPT_MOD_SEPARATOR, SCRYPT_MOD_SIGNER_KEY
    )
    options = {
        "signerKey": SCRYPT_MOD_SIGNER_KEY,
        "saltSeparator": SCRYPT_MOD_SEPARATOR,
        "salt": SCRYPT_MOD_SALT,
        "type": "scryptMod",
    }
    assert created.password == SCRYPT_MOD and created.hash == "scryptMod"
    assert created.hashoptions.type == options["type"]  # the SDK coerces the union; raw JSON is checked below
    _check_import(http, db, user_id, email, SCRYPT_MOD, "scryptMod", options, None)


@pytest.mark.parametrize("version", list(SHA_HASHLIB))
def test_import_sha_every_version(http, users, db, version: str) -> None:
    stored = SHA512 if version == "sha512" else hashlib.new(SHA_HASHLIB[version], PASSWORD.encode()).hexdigest()
    user_id, email = ID.unique(), unique_email("sha")
    created = users.create_sha_user(user_id, email, stored, password_version=PasswordHash(version))
    options = {"version": version, "type": "sha"}
    assert created.password == stored and created.hash == "sha"
    assert created.hashoptions.type == options["type"]  # the SDK coerces the union; raw JSON is checked below
    _check_import(http, db, user_id, email, stored, "sha", options, None)


def test_import_sha_without_version(http, users, db) -> None:
    """No `version` key at all; verification then defaults to sha3-512."""
    stored = hashlib.sha3_512(PASSWORD.encode()).hexdigest()
    user_id, email = ID.unique(), unique_email("shadefault")
    created = users.create_sha_user(user_id, email, stored)
    assert created.hashoptions.type == "sha"
    body = _check_import(http, db, user_id, email, stored, "sha", {"type": "sha"}, None)
    assert "version" not in body["hashOptions"]
    # The sha512 vector is not a sha3-512 digest: stored without a version it must not verify.
    other_id, other_email = ID.unique(), unique_email("shadefault")
    users.create_sha_user(other_id, other_email, SHA512)
    row = stored_row(db, other_id)
    assert verify_password(PASSWORD, row["password"], row["hash"], row["hash_options"]) is False


def test_import_raw_http_literal_unique(http, db) -> None:
    email = unique_email("rawmd5")
    response = http.post("/users/md5", json={"userId": "unique()", "email": email, "password": MD5})
    assert response.status_code == 201, response.text
    body = response.json()
    assert SERVER_ID.match(body["$id"])
    assert body["password"] == MD5 and body["hash"] == "md5" and body["hashOptions"] == {"type": "md5"}
    assert '"prefs":{}' in response.text.replace(" ", "")


def test_import_duplicate_email(http, users) -> None:
    email = unique_email("dupimport")
    users.create(ID.unique(), email=email)
    response = http.post("/users/bcrypt", json={"userId": ID.unique(), "email": email, "password": BCRYPT})
    assert_error(response, 409, "user_already_exists", ALREADY_EXISTS)


SCRYPT_BODY = {
    "password": SCRYPT,
    "passwordSalt": "appwrite",
    "passwordCpu": 16384,
    "passwordMemory": 13,
    "passwordParallel": 2,
    "passwordLength": 64,
}
SCRYPT_MOD_BODY = {
    "password": SCRYPT_MOD,
    "passwordSalt": SCRYPT_MOD_SALT,
    "passwordSaltSeparator": SCRYPT_MOD_SEPARATOR,
    "passwordSignerKey": SCRYPT_MOD_SIGNER_KEY,
}


def _without(body: dict, key: str) -> dict:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(
    "path, body, message",
    [
        ("/users/scrypt", _without(SCRYPT_BODY, "passwordSalt"), 'Param "passwordSalt" is not optional.'),
        ("/users/scrypt", _without(SCRYPT_BODY, "passwordCpu"), 'Param "passwordCpu" is not optional.'),
        ("/users/scrypt", _without(SCRYPT_BODY, "passwordMemory"), 'Param "passwordMemory" is not optional.'),
        ("/users/scrypt", _without(SCRYPT_BODY, "passwordParallel"), 'Param "passwordParallel" is not optional.'),
        ("/users/scrypt", _without(SCRYPT_BODY, "passwordLength"), 'Param "passwordLength" is not optional.'),
        ("/users/scrypt", {**SCRYPT_BODY, "passwordCpu": "16384"}, "Invalid `passwordCpu` param: Value must be a valid integer"),
        ("/users/scrypt", {**SCRYPT_BODY, "passwordLength": 64.5}, "Invalid `passwordLength` param: Value must be a valid integer"),
        ("/users/scrypt", {**SCRYPT_BODY, "passwordSalt": ""}, "Invalid `passwordSalt` param: Value must be a valid string and at least 1 chars and no longer than 128 chars"),
        ("/users/scrypt", _without(SCRYPT_BODY, "password"), 'Param "password" is not optional.'),
        ("/users/scrypt-modified", _without(SCRYPT_MOD_BODY, "passwordSalt"), 'Param "passwordSalt" is not optional.'),
        ("/users/scrypt-modified", _without(SCRYPT_MOD_BODY, "passwordSaltSeparator"), 'Param "passwordSaltSeparator" is not optional.'),
        ("/users/scrypt-modified", _without(SCRYPT_MOD_BODY, "passwordSignerKey"), 'Param "passwordSignerKey" is not optional.'),
        ("/users/md5", {}, 'Param "password" is not optional.'),
        ("/users/bcrypt", {"password": "short"}, HASH_INVALID),
        ("/users/sha", {"password": SHA512, "passwordVersion": "sha999"}, None),
        ("/users/phpass", {"password": PHPASS, "name": ""}, NAME_INVALID),
    ],
)  # fmt: skip
def test_import_param_errors(http, path: str, body: dict, message: str | None) -> None:
    user_id = ID.unique()
    response = http.post(path, json={"userId": user_id, "email": unique_email("bad"), **body})
    error = assert_error(response, 400, "general_argument_invalid", message)
    if message is None:
        assert error["message"].startswith("Invalid `passwordVersion` param: Value must be one of (")
        assert "sha3-512" in error["message"]
    assert http.get(f"/users/{user_id}").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/users/argon2",
        "/users/bcrypt",
        "/users/md5",
        "/users/phpass",
        "/users/sha",
        "/users/scrypt",
        "/users/scrypt-modified",
    ],
)
def test_import_requires_email(http, path: str) -> None:
    response = http.post(path, json={"userId": ID.unique(), "password": "whatever-hash"})
    assert_error(response, 400, "general_argument_invalid", 'Param "email" is not optional.')
    response = http.post(path, json={"userId": ID.unique(), "email": "bad", "password": "whatever-hash"})
    assert_error(response, 400, "general_argument_invalid", EMAIL_INVALID)
