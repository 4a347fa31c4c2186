"""Tests for nib.auth.passwords.

Known-answer vectors come from Appwrite's own e2e suite
(tests/e2e/Services/Users/UsersBase.php); every one of them hashes ``appwrite``.
"""

from __future__ import annotations

import hashlib
import hmac

import bcrypt
import pytest

from nib.auth.passwords import ARGON2_DEFAULT_OPTIONS, SHA_VERSIONS, hash_password, verify_password

PASSWORD = "appwrite"
WRONG = "appwritf"

MD5 = "144fa7eaa4904e8ee120651997f70dcc"
BCRYPT_2A = "$2a$15$xX/myGbFU.ZSKHSi6EHdBOySTdYm8QxBLXmOPHrYMwV0mHRBBSBOq"
ARGON2I = "$argon2i$v=19$m=20,t=3,p=2$YXBwd3JpdGU$A/54i238ed09ZR4NwlACU5XnkjNBZU9QeOEuhjLiexI"
ARGON2ID = "$argon2id$v=19$m=65536,t=4,p=3$azFVSGhPaXVBYnZMblNRaw$Pzm3TowCIbab0S5GL2id3OhZMexfFvutVSDoZ8D/Z8o"
SHA512 = (
    "4243da0a694e8a2f727c8060fe0507c8fa01ca68146c76d2c190805b638c20c6"
    "bf6ba04e21f11ae138785d0bff63c416e6f87badbffad37f6dee50094cc38c70"
)
SCRYPT = (
    "3fdef49701bc4cfaacd551fe017283513284b4731e6945c263246ef948d3cf63"
    "b5d269c31fd697246085111a428245e24a4ddc6b64c687bc60a8910dbafc1d5b"
)
SCRYPT_OPTIONS = {
    "salt": "appwrite",
    "costCpu": 16384,
    "costMemory": 13,
    "costParallel": 2,
    "length": 64,
    "type": "scrypt",
}
PHPASS_P = "$P$Br387rwferoKN7uwHZqNMu98q3U8RO."
SCRYPT_MOD = "UlM7JiXRcQhzAGlaonpSqNSLIz475WMddOgLjej5De9vxTy48K6WtqlEzrRFeK4t0COfMhWCb8wuMHgxOFCHFQ=="
SCRYPT_MOD_OPTIONS = {
    "salt": "UxLMreBr6tYyjQ==",
    "saltSeparator": "Bw==",
    "signerKey": "XyEKE9RcTDeLEsL/RjwPDBv/RqDl8fb3gpYEOQaPihbxf1ZAtSOHCjuAAa7Q3oHpCYhXSN9tizHgVOwn6krflQ==",
    "type": "scryptMod",
}

# Firebase's published sample (github.com/firebase/scrypt README), password "user1password".
FIREBASE_HASH = "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
FIREBASE_OPTIONS = {
    "salt": "42xEC+ixf3L2lw==",
    "saltSeparator": "Bw==",
    "signerKey": "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==",
}

# Appwrite version name -> hashlib name, written out independently of the module.
SHA_TABLE = {
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


def _cheap_bcrypt(prefix: str) -> str:
    stored = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    return prefix + stored[4:]


_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _reference_phpass(plain: str, setting: str) -> str:
    """Portable phpass (md5 of salt + password, re-hashed 2**log2 times), written independently of
    nib and without passlib."""
    count = 1 << _ITOA64.index(setting[3])
    salt = setting[4:12].encode()
    digest = hashlib.md5(salt + plain.encode()).digest()
    for _ in range(count):
        digest = hashlib.md5(digest + plain.encode()).digest()
    out, i = [], 0
    while i < 16:
        value = digest[i]
        i += 1
        out.append(_ITOA64[value & 0x3F])
        if i < 16:
            value |= digest[i] << 8
        out.append(_ITOA64[(value >> 6) & 0x3F])
        if i >= 16:
            break
        i += 1
        if i < 16:
            value |= digest[i] << 16
        out.append(_ITOA64[(value >> 12) & 0x3F])
        if i >= 16:
            break
        i += 1
        out.append(_ITOA64[(value >> 18) & 0x3F])
    return setting[:12] + "".join(out)


# --- constants -----------------------------------------------------------------


def test_argon2_default_options_match_appwrite() -> None:
    assert ARGON2_DEFAULT_OPTIONS == {
        "type": "argon2",
        "memoryCost": 2048,
        "timeCost": 4,
        "threads": 3,
    }


def test_sha_versions_listed_in_appwrite_order() -> None:
    assert SHA_VERSIONS == tuple(SHA_TABLE)


# --- argon2 --------------------------------------------------------------------


@pytest.mark.parametrize("stored", [ARGON2I, ARGON2ID], ids=["argon2i", "argon2id"])
def test_argon2_appwrite_vectors(stored: str) -> None:
    assert verify_password(PASSWORD, stored, "argon2", {"type": "argon2"}) is True
    assert verify_password(WRONG, stored, "argon2", {"type": "argon2"}) is False


def test_hash_password_is_argon2id_and_round_trips() -> None:
    stored = hash_password("s3cret password")
    assert stored.startswith("$argon2id$v=19$m=65536,t=4,p=3$")
    assert verify_password("s3cret password", stored, "argon2", ARGON2_DEFAULT_OPTIONS) is True
    assert verify_password("s3cret passwor", stored, "argon2", ARGON2_DEFAULT_OPTIONS) is False


def test_hash_password_salts_each_hash() -> None:
    assert hash_password(PASSWORD) != hash_password(PASSWORD)


def test_plaintext_is_an_alias_of_argon2() -> None:
    assert verify_password(PASSWORD, ARGON2ID, "plaintext", None) is True
    assert verify_password(WRONG, ARGON2ID, "plaintext", None) is False


def test_hash_password_handles_unicode() -> None:
    stored = hash_password("pässwörd ✓")
    assert verify_password("pässwörd ✓", stored, "argon2", None) is True
    assert verify_password("passwörd ✓", stored, "argon2", None) is False


# --- bcrypt --------------------------------------------------------------------


def test_bcrypt_appwrite_vector_2a() -> None:
    assert verify_password(PASSWORD, BCRYPT_2A, "bcrypt", {"type": "bcrypt"}) is True
    assert verify_password(WRONG, BCRYPT_2A, "bcrypt", {"type": "bcrypt"}) is False


@pytest.mark.parametrize("prefix", ["$2b$", "$2y$"])
def test_bcrypt_appwrite_vector_with_other_prefixes(prefix: str) -> None:
    # For ASCII passwords the $2a$/$2b$/$2y$ variants produce identical digests.
    assert verify_password(PASSWORD, prefix + BCRYPT_2A[4:], "bcrypt", None) is True


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_bcrypt_prefixes(prefix: str) -> None:
    stored = _cheap_bcrypt(prefix)
    assert stored.startswith(prefix)
    assert verify_password(PASSWORD, stored, "bcrypt", None) is True
    assert verify_password(WRONG, stored, "bcrypt", None) is False


def test_bcrypt_truncates_long_passwords_like_php() -> None:
    long_password = "x" * 72 + "tail that bcrypt never sees"
    stored = bcrypt.hashpw(b"x" * 72, bcrypt.gensalt(rounds=4)).decode()
    assert verify_password(long_password, stored, "bcrypt", None) is True
    assert verify_password("x" * 71, stored, "bcrypt", None) is False


# --- md5 -----------------------------------------------------------------------


def test_md5_appwrite_vector() -> None:
    assert verify_password(PASSWORD, MD5, "md5", {"type": "md5"}) is True
    assert verify_password(WRONG, MD5, "md5", {"type": "md5"}) is False


def test_md5_is_case_sensitive_like_appwrite() -> None:
    assert verify_password(PASSWORD, MD5.upper(), "md5", None) is False


# --- sha -----------------------------------------------------------------------


def test_sha512_appwrite_vector() -> None:
    options = {"version": "sha512", "type": "sha"}
    assert verify_password(PASSWORD, SHA512, "sha", options) is True
    assert verify_password(WRONG, SHA512, "sha", options) is False


@pytest.mark.parametrize("version", list(SHA_TABLE))
def test_sha_every_version(version: str) -> None:
    stored = hashlib.new(SHA_TABLE[version], PASSWORD.encode()).hexdigest()
    options = {"version": version, "type": "sha"}
    assert verify_password(PASSWORD, stored, "sha", options) is True
    assert verify_password(WRONG, stored, "sha", options) is False
    # The digest must be bound to its version, not accepted under another.
    other = "sha3-512" if version != "sha3-512" else "sha512"
    assert verify_password(PASSWORD, stored, "sha", {"version": other}) is False


def test_sha_512_truncated_versions_differ_from_plain_truncation() -> None:
    # sha512/224 uses its own IVs, so it is not sha512 cut short.
    stored = hashlib.new("sha512_224", PASSWORD.encode()).hexdigest()
    assert stored != hashlib.sha512(PASSWORD.encode()).hexdigest()[:56]
    assert verify_password(PASSWORD, stored, "sha", {"version": "sha512/224"}) is True


@pytest.mark.parametrize("options", [None, {}, {"type": "sha"}, {"version": None}])
def test_sha_defaults_to_sha3_512(options: dict | None) -> None:
    stored = hashlib.sha3_512(PASSWORD.encode()).hexdigest()
    assert verify_password(PASSWORD, stored, "sha", options) is True
    assert verify_password(WRONG, stored, "sha", options) is False
    assert verify_password(PASSWORD, SHA512, "sha", options) is False


@pytest.mark.parametrize("version", ["sha512_224", "md5", "SHA512", 512, ["sha512"]])
def test_sha_unknown_version_is_false(version: object) -> None:
    assert verify_password(PASSWORD, SHA512, "sha", {"version": version}) is False


# --- phpass --------------------------------------------------------------------


def test_phpass_appwrite_vector_p() -> None:
    assert verify_password(PASSWORD, PHPASS_P, "phpass", {"type": "phpass"}) is True
    assert verify_password(WRONG, PHPASS_P, "phpass", {"type": "phpass"}) is False


def test_phpass_appwrite_vector_h() -> None:
    # The identifier is not hashed, so $H$ (phpBB) with the same body is the same hash.
    stored = "$H$" + PHPASS_P[3:]
    assert verify_password(PASSWORD, stored, "phpass", None) is True
    assert verify_password(WRONG, stored, "phpass", None) is False


def test_reference_phpass_reproduces_appwrite_vector() -> None:
    assert _reference_phpass(PASSWORD, PHPASS_P) == PHPASS_P


@pytest.mark.parametrize("setting", ["$P$7abcdefgh", "$H$9saltsalt", "$P$Cz./z./z."])
def test_phpass_independently_computed(setting: str) -> None:
    stored = _reference_phpass("another password", setting)
    assert verify_password("another password", stored, "phpass", None) is True
    assert verify_password("another passwore", stored, "phpass", None) is False


def test_phpass_rejects_out_of_range_rounds() -> None:
    # itoa64 index 6 ('4') is below phpass's minimum of 7.
    stored = _reference_phpass(PASSWORD, "$P$4abcdefgh")
    assert verify_password(PASSWORD, stored, "phpass", None) is False


def test_phpass_falls_back_to_bcrypt() -> None:
    stored = _cheap_bcrypt("$2y$")
    assert verify_password(PASSWORD, stored, "phpass", None) is True
    assert verify_password(WRONG, stored, "phpass", None) is False


# --- scrypt --------------------------------------------------------------------


def test_scrypt_appwrite_vector() -> None:
    assert verify_password(PASSWORD, SCRYPT, "scrypt", SCRYPT_OPTIONS) is True
    assert verify_password(WRONG, SCRYPT, "scrypt", SCRYPT_OPTIONS) is False


def test_scrypt_vector_matches_parameter_mapping() -> None:
    # N = costCpu, r = costMemory, p = costParallel, salt used as raw UTF-8.
    digest = hashlib.scrypt(PASSWORD.encode(), salt=b"appwrite", n=16384, r=13, p=2, dklen=64, maxmem=2**30)
    assert digest.hex() == SCRYPT


def test_scrypt_wrong_salt_is_false() -> None:
    options = {**SCRYPT_OPTIONS, "salt": "appwritf"}
    assert verify_password(PASSWORD, SCRYPT, "scrypt", options) is False


def test_scrypt_defaults_when_costs_absent() -> None:
    stored = hashlib.scrypt(PASSWORD.encode(), salt=b"pepper", n=8, r=14, p=1, dklen=64).hex()
    assert verify_password(PASSWORD, stored, "scrypt", {"salt": "pepper"}) is True
    assert verify_password(WRONG, stored, "scrypt", {"salt": "pepper"}) is False


def test_scrypt_custom_length() -> None:
    stored = hashlib.scrypt(PASSWORD.encode(), salt=b"s", n=16, r=2, p=3, dklen=20).hex()
    options = {"salt": "s", "costCpu": 16, "costMemory": 2, "costParallel": 3, "length": 20}
    assert len(stored) == 40
    assert verify_password(PASSWORD, stored, "scrypt", options) is True
    assert verify_password(PASSWORD, stored, "scrypt", {**options, "length": 21}) is False


@pytest.mark.parametrize(
    "override",
    [
        {"costCpu": "abc"},
        {"costCpu": "16384"},
        {"costMemory": 13.5},
        {"costParallel": True},
        {"length": [64]},
        {"costCpu": 1000},  # not a power of two
        {"costCpu": 0},
        {"length": -1},
        {"salt": 12345},
        {"salt": None, "costCpu": 2**40},
    ],
)
def test_scrypt_garbage_options_are_false(override: dict) -> None:
    assert verify_password(PASSWORD, SCRYPT, "scrypt", {**SCRYPT_OPTIONS, **override}) is False


# --- scryptMod (Firebase) ------------------------------------------------------


def test_scrypt_modified_appwrite_vector() -> None:
    assert verify_password(PASSWORD, SCRYPT_MOD, "scryptMod", SCRYPT_MOD_OPTIONS) is True
    assert verify_password(WRONG, SCRYPT_MOD, "scryptMod", SCRYPT_MOD_OPTIONS) is False


def test_scrypt_modified_firebase_published_vector() -> None:
    assert verify_password("user1password", FIREBASE_HASH, "scryptMod", FIREBASE_OPTIONS) is True
    assert verify_password("user2password", FIREBASE_HASH, "scryptMod", FIREBASE_OPTIONS) is False


@pytest.mark.parametrize(
    "override",
    [
        {"salt": "not base64!!!"},
        {"saltSeparator": "B"},
        {"signerKey": None},
        {"signerKey": 42},
        {"salt": "VxLMreBr6tYyjQ=="},  # valid base64, different salt
    ],
)
def test_scrypt_modified_bad_options_are_false(override: dict) -> None:
    options = {**SCRYPT_MOD_OPTIONS, **override}
    assert verify_password(PASSWORD, SCRYPT_MOD, "scryptMod", options) is False


def test_scrypt_modified_missing_options_is_false() -> None:
    assert verify_password(PASSWORD, SCRYPT_MOD, "scryptMod", None) is False


# --- garbage -------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["argon2", "plaintext", "bcrypt", "md5", "sha", "phpass", "scrypt", "scryptMod"])
@pytest.mark.parametrize("stored", [None, "", "garbage", "$argon2id$", "$2a$15$short", "$P$B", "€€€"])
def test_malformed_stored_hash_is_false(algorithm: str, stored: str | None) -> None:
    assert verify_password(PASSWORD, stored, algorithm, None) is False


@pytest.mark.parametrize("algorithm", [None, "", "unknown", "ARGON2", "sha512", "scrypt-modified", 7])
def test_unknown_algorithm_is_false(algorithm: object) -> None:
    assert verify_password(PASSWORD, ARGON2ID, algorithm, None) is False  # type: ignore[arg-type]
    assert verify_password(PASSWORD, MD5, algorithm, None) is False  # type: ignore[arg-type]


def test_hash_under_the_wrong_algorithm_is_false() -> None:
    assert verify_password(PASSWORD, MD5, "sha", {"version": "sha512"}) is False
    assert verify_password(PASSWORD, SHA512, "md5", None) is False
    assert verify_password(PASSWORD, ARGON2I, "bcrypt", None) is False
    assert verify_password(PASSWORD, BCRYPT_2A, "argon2", None) is False


@pytest.mark.parametrize("options", ["sha512", ["version", "sha512"], 42])
def test_non_dict_options_never_raise(options: object) -> None:
    assert verify_password(PASSWORD, MD5, "md5", options) is True  # type: ignore[arg-type]
    assert verify_password(PASSWORD, SCRYPT, "scrypt", options) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("plain", [None, b"appwrite", 12345])
def test_non_string_password_is_false(plain: object) -> None:
    assert verify_password(plain, MD5, "md5", None) is False  # type: ignore[arg-type]


def test_compare_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr("nib.auth.passwords.hmac.compare_digest", spy)
    assert verify_password(PASSWORD, MD5, "md5", None) is True
    assert calls == [(MD5.encode(), MD5.encode())]
