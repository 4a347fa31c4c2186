"""OpenID Connect ID tokens that an app obtained natively (Google, Sign in with Apple), checked
before nib trusts who they name.

Nothing in the token chooses how it is checked: the algorithm is RS256 and nothing else, the key
comes from the provider's published key set (JWKS) by the token's key ID, and the signature is
verified before any claim is read. Then the issuer, the audience (one of the client IDs the
project accepts), the validity window (60 s leeway either way), the nonce and the subject. Every
refusal is ``user_oauth2_token_invalid`` (401) naming the failed check; a key set that cannot be
fetched is ``user_oauth2_provider_error``.

Key sets are cached per URL for 6 hours. A key ID not in the cached set (the provider rotated its
keys) fetches the set again, but not when it is less than a minute old: tokens with made-up key
IDs cannot make nib hammer the provider.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nib.account.oauth2.providers import USER_AGENT, at_origin
from nib.tools.errors import AppwriteError

if TYPE_CHECKING:
    import httpx

LEEWAY = 60  # seconds of clock difference tolerated on exp, iat and nbf
KEYS_TTL = 6 * 3600
REFETCH_INTERVAL = 60  # the youngest key set that an unknown key ID fetches again


@dataclass(frozen=True)
class Profile:
    """How one provider's ID tokens are checked."""

    jwks_url: str
    issuers: frozenset[str]
    nonce_required: bool  # the token must carry a nonce (and the request send it)
    nonce_hashed: bool  # the claim is the SHA-256 hex of the raw nonce the app sent


PROFILES = {
    "google": Profile(
        jwks_url="https://www.googleapis.com/oauth2/v3/certs",
        issuers=frozenset({"https://accounts.google.com", "accounts.google.com"}),
        nonce_required=False,
        nonce_hashed=False,
    ),
    "apple": Profile(
        jwks_url="https://appleid.apple.com/auth/keys",
        issuers=frozenset({"https://appleid.apple.com"}),
        nonce_required=True,
        nonce_hashed=True,
    ),
}


@dataclass(frozen=True)
class IdTokenClaims:
    """Who a verified token names."""

    sub: str
    email: str = ""
    verified: bool = False  # whether the provider vouches for the e-mail
    name: str = ""  # Google's `name`; Apple never puts the name in the token
    picture: str = ""


def invalid(message: str) -> AppwriteError:
    return AppwriteError("user_oauth2_token_invalid", message)


def fetch_failed() -> AppwriteError:
    return AppwriteError("user_oauth2_provider_error", "Failed to fetch the provider signing keys. Please try again.")


@dataclass
class _KeySet:
    fetched: float
    keys: dict[str, Any]  # key ID -> RSA public key


@dataclass
class SigningKeys:
    """The providers' key sets, cached per URL; one per process (``KEYS``)."""

    clock: Callable[[], float] = time.monotonic
    _sets: dict[str, _KeySet] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, http: httpx.Client, url: str, kid: str) -> Any:
        """The RSA public key ``kid`` of the key set at ``url``; None when the set has none."""
        with self._lock:
            now = self.clock()
            known = self._sets.get(url)
            if known is None or now - known.fetched >= KEYS_TTL:
                known = self._sets[url] = _KeySet(now, _fetch(http, url))
            if kid not in known.keys and now - known.fetched >= REFETCH_INTERVAL:
                known = self._sets[url] = _KeySet(now, _fetch(http, url))
            return known.keys.get(kid)


KEYS = SigningKeys()


def _fetch(http: httpx.Client, url: str) -> dict[str, Any]:
    """The RSA signing keys of a JWKS document, by key ID (other keys are left out)."""
    import httpx
    import jwt

    try:
        response = http.get(url, headers={"User-Agent": USER_AGENT})
        listed = response.json().get("keys") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        raise fetch_failed() from exc
    if not isinstance(listed, list):
        raise fetch_failed()
    keys: dict[str, Any] = {}
    for jwk in listed:
        if not isinstance(jwk, dict) or jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig":
            continue
        if not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
            continue
        try:
            keys[jwk["kid"]] = jwt.PyJWK(jwk, "RS256").key
        except jwt.PyJWTError:
            continue
    return keys


def verify(
    provider: str,
    token: str,
    *,
    audiences: Collection[str],
    nonce: str = "",
    http: httpx.Client,
    origin: str = "",
    keys: SigningKeys = KEYS,
) -> IdTokenClaims:
    """The claims of ``provider``'s ID token ``token`` once every check passed.

    ``audiences`` are the client IDs the project accepts, ``nonce`` the raw nonce the app sent
    (empty: none), ``origin`` the provider's origin override (test rigs)."""
    from jwt.algorithms import RSAAlgorithm

    profile = PROFILES.get(provider)
    if profile is None:
        raise AppwriteError("project_provider_unsupported", "This provider does not support ID token sign-in.")
    parts = token.split(".")
    header = _segment(parts[0]) if len(parts) == 3 else None
    if header is None:
        raise invalid("Malformed token")
    if header.get("alg") != "RS256":
        raise invalid("Unsupported algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise invalid("Missing key ID")
    key = keys.key(http, at_origin(profile.jwks_url, origin), kid)
    if key is None:
        raise invalid("Unknown signing key")
    try:
        signature = _b64decode(parts[2])
    except ValueError:
        raise invalid("Malformed token") from None
    if not RSAAlgorithm(RSAAlgorithm.SHA256).verify(f"{parts[0]}.{parts[1]}".encode(), key, signature):
        raise invalid("Invalid signature")
    claims = _segment(parts[1])
    if claims is None:
        raise invalid("Malformed token")
    _check_claims(profile, claims, audiences, nonce)
    return IdTokenClaims(
        sub=claims["sub"],
        email=str(claims.get("email") or ""),
        verified=claims.get("email_verified") in (True, "true"),  # Apple says "true"
        name=str(claims.get("name") or ""),
        picture=str(claims.get("picture") or ""),
    )


def _check_claims(profile: Profile, claims: dict[str, Any], audiences: Collection[str], nonce: str) -> None:
    if claims.get("iss") not in profile.issuers:
        raise invalid("Invalid issuer")
    aud = claims.get("aud")
    named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if not any(isinstance(a, str) and a and a in audiences for a in named):
        raise invalid("Audience mismatch. Add the token's client ID to the provider configuration.")
    now = time.time()
    if _number(claims.get("exp")) <= now - LEEWAY:  # no expiry is no validity
        raise invalid("Token expired")
    for name in ("iat", "nbf"):
        if name in claims and _number(claims[name]) >= now + LEEWAY:
            raise invalid("Token not yet valid")
    claimed = claims.get("nonce")
    if claimed is None:
        if nonce:
            raise invalid("Token carries no nonce")
        if profile.nonce_required:
            raise invalid("Nonce required")
    else:
        if not nonce:
            raise invalid("Nonce required")
        expected = hashlib.sha256(nonce.encode()).hexdigest() if profile.nonce_hashed else nonce
        if claimed != expected:
            raise invalid("Nonce mismatch")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise invalid("Missing subject")


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _segment(segment: str) -> dict[str, Any] | None:
    """A JSON object segment of a JWT; None when it is not one."""
    try:
        value = json.loads(_b64decode(segment))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
