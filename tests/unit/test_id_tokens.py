"""Native sign-in ID tokens (Google, Apple): every check of the verifier against tokens signed by
loopback providers that publish their keys as Google and Apple do, and the key-set cache seen
from the provider's side."""

from __future__ import annotations

import base64
import json
import time

import httpx
import jwt
import pytest

from nib.account.oauth2.id_tokens import IdTokenClaims, SigningKeys, verify
from nib.tools.errors import AppwriteError
from oauth_fakes import AppleFake, GoogleFake, apple_nonce

GOOGLE_CERTS = "/oauth2/v3/certs"


class Clock:
    """The cache's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def http():
    with httpx.Client(timeout=5) as client:
        yield client


@pytest.fixture
def google():
    with GoogleFake() as fake:
        yield fake


@pytest.fixture
def apple():
    with AppleFake() as fake:
        yield fake


def check(fake, token: str, http, *, nonce: str = "", keys: SigningKeys | None = None):
    return verify(
        fake.name,
        token,
        audiences=[fake.client_id, "ios.bundle.id", ""],  # an unset client ID accepts nothing
        nonce=nonce,
        http=http,
        origin=fake.origin,
        keys=keys or SigningKeys(),
    )


def refused(fake, token: str, http, **kwargs) -> str:
    with pytest.raises(AppwriteError) as error:
        check(fake, token, http, **kwargs)
    assert (error.value.type, error.value.code) == ("user_oauth2_token_invalid", 401)
    return error.value.message


def b64(value: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_valid_google_token_is_accepted(google, http):
    claims = check(google, google.id_token(), http)
    assert claims == IdTokenClaims(
        sub="108000000000000000001",
        email="ada@example.com",
        verified=True,
        name="Ada Lovelace",
        picture="https://lh3.example.com/ada.png",
    )
    unverified = check(google, google.id_token({"email_verified": False, "aud": ["other", "ios.bundle.id"]}), http)
    assert unverified.verified is False  # and a list audience naming an accepted client ID passes
    assert check(google, google.id_token({"iss": "accounts.google.com", "nonce": "n-1"}), http, nonce="n-1").sub


def test_a_valid_apple_token_is_accepted_with_its_hashed_nonce(apple, http):
    token = apple.id_token({"nonce": apple_nonce("raw-nonce")})
    claims = check(apple, token, http, nonce="raw-nonce")
    assert claims == IdTokenClaims(
        sub="001234.abcdef0123456789.1234", email="ada@privaterelay.appleid.com", verified=True
    )
    assert (
        check(apple, apple.id_token({"nonce": apple_nonce("n"), "email_verified": "false"}), http, nonce="n").verified
        is False
    )


def test_leeway_of_a_minute_on_the_validity_window(google, http):
    now = int(time.time())
    assert check(google, google.id_token({"exp": now - 30, "iat": now + 30, "nbf": now + 30}), http).sub


def test_a_token_is_checked_against_the_providers_keys_not_its_own_header(google, http):
    kid = google.published[0]
    claims = jwt.decode(google.id_token(), options={"verify_signature": False})
    none_alg = f"{b64({'alg': 'none', 'kid': kid})}.{b64(claims)}."
    assert refused(google, none_alg, http) == "Unsupported algorithm"
    hs256 = jwt.encode(claims, "a-shared-secret-of-32-bytes-at-least", algorithm="HS256", headers={"kid": kid})
    assert refused(google, hs256, http) == "Unsupported algorithm"
    no_kid = jwt.encode(claims, google.keys[kid], algorithm="RS256")
    assert refused(google, no_kid, http) == "Missing key ID"
    stranger = google.new_key()  # never published
    assert refused(google, google.id_token(kid=stranger), http) == "Unknown signing key"
    header, payload, signature = google.id_token().split(".")
    forged = b64({**claims, "email": "admin@example.com"})
    assert refused(google, f"{header}.{forged}.{signature}", http) == "Invalid signature"
    other_key = jwt.encode(claims, google.keys[stranger], algorithm="RS256", headers={"kid": kid})
    assert refused(google, other_key, http) == "Invalid signature"
    for malformed in ("", "abc", "a.b", "a.b.c.d", f"{b64({'alg': 'RS256'})[:-2]}!!.x.y", f"{b64([1])}.x.y"):
        assert refused(google, malformed, http) == "Malformed token"
    # Signed with the right key, but its payload is no JSON object.
    signed = jwt.api_jws.encode(b"[1, 2]", google.keys[kid], algorithm="RS256", headers={"kid": kid})
    assert refused(google, signed, http) == "Malformed token"


@pytest.mark.parametrize(
    "claims, message",
    [
        ({"iss": "https://evil.example"}, "Invalid issuer"),
        ({"iss": "https://appleid.apple.com"}, "Invalid issuer"),
        ({"iss": None}, "Invalid issuer"),
        ({"aud": "someone-else"}, "Audience mismatch. Add the token's client ID to the provider configuration."),
        ({"aud": ["a", "b"]}, "Audience mismatch. Add the token's client ID to the provider configuration."),
        ({"aud": None}, "Audience mismatch. Add the token's client ID to the provider configuration."),
        ({"aud": ""}, "Audience mismatch. Add the token's client ID to the provider configuration."),
        ({"exp": lambda: int(time.time()) - 61}, "Token expired"),
        ({"exp": None}, "Token expired"),
        ({"iat": lambda: int(time.time()) + 120}, "Token not yet valid"),
        ({"nbf": lambda: int(time.time()) + 120}, "Token not yet valid"),
        ({"sub": None}, "Missing subject"),
        ({"sub": ""}, "Missing subject"),
    ],
)
def test_google_claims_are_checked(google, http, claims, message):
    # Times are computed when the test runs, not when it is collected (a long run may lie between).
    claims = {name: value() if callable(value) else value for name, value in claims.items()}
    assert refused(google, google.id_token(claims), http) == message


def test_google_nonce_rules(google, http):
    assert refused(google, google.id_token({"nonce": "expected"}), http, nonce="other") == "Nonce mismatch"
    assert refused(google, google.id_token({"nonce": apple_nonce("raw")}), http, nonce="raw") == "Nonce mismatch"
    assert refused(google, google.id_token({"nonce": "expected"}), http) == "Nonce required"
    assert refused(google, google.id_token(), http, nonce="sent") == "Token carries no nonce"
    assert check(google, google.id_token(), http).sub  # no nonce either side


def test_apple_nonce_rules(apple, http):
    assert refused(apple, apple.id_token(), http) == "Nonce required"
    assert refused(apple, apple.id_token({"nonce": apple_nonce("raw")}), http) == "Nonce required"
    assert refused(apple, apple.id_token(), http, nonce="raw") == "Token carries no nonce"
    assert refused(apple, apple.id_token({"nonce": apple_nonce("other")}), http, nonce="raw") == "Nonce mismatch"
    assert refused(apple, apple.id_token({"nonce": "raw"}), http, nonce="raw") == "Nonce mismatch"  # not hashed
    assert refused(apple, apple.id_token({"iss": "https://accounts.google.com"}), http, nonce="x") == "Invalid issuer"


def test_a_provider_without_id_tokens_is_unsupported(google, http):
    with pytest.raises(AppwriteError) as error:
        verify("github", google.id_token(), audiences=["x"], http=http, origin=google.origin)
    assert (error.value.type, error.value.message) == (
        "project_provider_unsupported",
        "This provider does not support ID token sign-in.",
    )


def test_key_set_fetch_failures(google, http):
    google.fail(503, at="keys")
    with pytest.raises(AppwriteError) as error:
        check(google, google.id_token(), http)
    assert (error.value.type, error.value.code, error.value.message) == (
        "user_oauth2_provider_error",
        424,
        "Failed to fetch the provider signing keys. Please try again.",
    )
    with GoogleFake() as gone:
        origin = gone.origin
    with pytest.raises(AppwriteError) as unreachable:
        verify("google", google.id_token(), audiences=[google.client_id], http=http, origin=origin, keys=SigningKeys())
    assert unreachable.value.type == "user_oauth2_provider_error"


def test_the_key_set_is_fetched_once_and_kept_six_hours(google, http):
    clock = Clock()
    keys = SigningKeys(clock=clock)
    for _ in range(5):
        check(google, google.id_token(), http, keys=keys)
    assert google.paths().count(f"GET {GOOGLE_CERTS}") == 1
    assert google.last(GOOGLE_CERTS).headers["user-agent"] == "Appwrite OAuth2"
    clock.now += 6 * 3600 - 1
    check(google, google.id_token(), http, keys=keys)
    assert google.paths().count(f"GET {GOOGLE_CERTS}") == 1
    clock.now += 1
    check(google, google.id_token(), http, keys=keys)
    assert google.paths().count(f"GET {GOOGLE_CERTS}") == 2


def test_an_unknown_key_id_refetches_at_most_once_a_minute(google, http):
    clock = Clock()
    keys = SigningKeys(clock=clock)
    fetches = lambda: google.paths().count(f"GET {GOOGLE_CERTS}")  # noqa: E731
    check(google, google.id_token(), http, keys=keys)
    assert fetches() == 1

    # The provider rotates: a token signed with the new key is accepted after one refetch...
    rotated = google.new_key()
    google.publish(rotated)
    clock.now += 61
    assert check(google, google.id_token(kid=rotated), http, keys=keys).sub
    assert fetches() == 2
    # ...and the old key still works from the same fetch.
    check(google, google.id_token(), http, keys=keys)
    assert fetches() == 2

    # Made-up key IDs do not make nib fetch again within the minute.
    stranger = google.new_key()
    for _ in range(3):
        assert refused(google, google.id_token(kid=stranger), http, keys=keys) == "Unknown signing key"
    assert fetches() == 2
    clock.now += 60
    assert refused(google, google.id_token(kid=stranger), http, keys=keys) == "Unknown signing key"
    assert refused(google, google.id_token(kid=stranger), http, keys=keys) == "Unknown signing key"
    assert fetches() == 3


def test_apple_keys_come_from_apples_key_set(apple, http):
    keys = SigningKeys()
    check(apple, apple.id_token({"nonce": apple_nonce("n")}), http, nonce="n", keys=keys)
    assert apple.paths() == ["GET /auth/keys"]
