"""WebAuthn for passkeys: a project's relying party, the ceremonies' options and the checks of the
browser's answers. py_webauthn does the protocol (options, attestation, signature, flags); it is
imported when a ceremony runs, so importing the app stays light.

The relying party (nib has no per-project passkey policy): its ID is the server's hostname
(``NIB_HOSTNAME``), its name the project's. The origins a ceremony may come from are
``https://<hostname>`` for each web platform of the project whose hostname is the RP ID or a
subdomain of it (a ``*.example.com`` platform allows every such subdomain) and, when the RP ID
is ``localhost``, ``http://localhost`` and ``https://localhost`` on any port (browsers put the
port in the origin, and local development uses ports). No RP ID a browser accepts (an IP
address, a malformed name) or no origin: passkeys are not configured for the project.

Both ceremonies require user verification and refuse cross-origin (iframe) ceremonies;
attestation is not asked for (``none``), so no statement is evaluated beyond the library's
format checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..tools.errors import AppwriteError
from ..tools.validators import hostname_allowed

CEREMONY_MILLISECONDS = 300_000
HANDLE_BYTES = CHALLENGE_BYTES = 32
_ES256, _RS256 = -7, -257
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"\A{_LABEL}(?:\.{_LABEL})*\Z")
_LOCAL_SCHEMES = ("http", "https")
LOCALHOST = "localhost"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def from_b64url(text: Any) -> bytes:
    """Base64url (padding optional) -> bytes; anything else is an invalid credential."""
    if not isinstance(text, str):
        raise AppwriteError("user_passkey_invalid")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise AppwriteError("user_passkey_invalid") from None


def random_bytes() -> bytes:
    return secrets.token_bytes(CHALLENGE_BYTES)


@dataclass(frozen=True)
class RelyingParty:
    id: str
    name: str
    # Platform hostnames the origins may have (exact or ``*.domain``); the RP ID localhost
    # allows localhost on any port besides.
    hosts: tuple[str, ...]

    @property
    def fingerprint(self) -> str:
        """What a challenge records of the relying party it was issued for: a change voids it."""
        return hashlib.sha256(orjson.dumps([self.id, sorted(self.hosts)])).hexdigest()

    def allows(self, origin: str) -> bool:
        """A browser's origin (as serialised in clientDataJSON) allowed for this relying party."""
        parts = urlsplit(origin)
        try:
            port = parts.port
        except ValueError:
            return False
        host = parts.hostname or ""
        if origin != f"{parts.scheme}://{host}" + (f":{port}" if port is not None else ""):
            return False  # not an origin in its serialised form (path, user, upper case…)
        if self.id == LOCALHOST and host == LOCALHOST:
            return parts.scheme in _LOCAL_SCHEMES
        return parts.scheme == "https" and port is None and hostname_allowed(host, self.hosts)


def relying_party(settings_hostname: str, project_name: str, platform_hosts: tuple[str, ...]) -> RelyingParty | None:
    """The project's relying party, or None when passkeys cannot work for it (module docstring)."""
    rp_id = settings_hostname.lower()
    if not _DOMAIN.match(rp_id) or rp_id.rsplit(".", 1)[-1].isdigit():
        return None
    hosts = tuple(h for h in platform_hosts if h == rp_id or h.endswith("." + rp_id))
    if not hosts and rp_id != LOCALHOST:
        return None
    return RelyingParty(rp_id, project_name, hosts)


# -- options -------------------------------------------------------------------------------------


def registration_options(
    rp: RelyingParty,
    *,
    challenge: bytes,
    user_handle: bytes,
    user_name: str,
    display_name: str,
    exclude: list[tuple[str, list[str]]],
) -> dict:
    """PublicKeyCredentialCreationOptions in JSON form (what parseCreationOptionsFromJSON takes):
    a discoverable credential with user verification; ``exclude`` = (credential ID, transports)
    of the user's passkeys."""
    import webauthn
    from webauthn.helpers import structs
    from webauthn.helpers.cose import COSEAlgorithmIdentifier

    options = webauthn.generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=user_handle,
        user_name=user_name,
        user_display_name=display_name,
        challenge=challenge,
        timeout=CEREMONY_MILLISECONDS,
        attestation=structs.AttestationConveyancePreference.NONE,
        authenticator_selection=structs.AuthenticatorSelectionCriteria(
            resident_key=structs.ResidentKeyRequirement.REQUIRED,
            user_verification=structs.UserVerificationRequirement.REQUIRED,
        ),
        exclude_credentials=[
            structs.PublicKeyCredentialDescriptor(
                id=from_b64url(credential_id), transports=[structs.AuthenticatorTransport(t) for t in transports]
            )
            for credential_id, transports in exclude
        ],
        supported_pub_key_algs=[COSEAlgorithmIdentifier(_ES256), COSEAlgorithmIdentifier(_RS256)],
    )
    return orjson.loads(webauthn.options_to_json(options))


def authentication_options(rp: RelyingParty, *, challenge: bytes) -> dict:
    """PublicKeyCredentialRequestOptions in JSON form: no allowed credentials (the authenticator
    offers the user's discoverable passkeys), user verification required."""
    import webauthn
    from webauthn.helpers import structs

    options = webauthn.generate_authentication_options(
        rp_id=rp.id,
        challenge=challenge,
        timeout=CEREMONY_MILLISECONDS,
        allow_credentials=[],
        user_verification=structs.UserVerificationRequirement.REQUIRED,
    )
    return orjson.loads(webauthn.options_to_json(options))


# -- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewCredential:
    """A verified registration: what the passkey row keeps."""

    credential_id: str  # base64url of the raw ID
    identifier: str  # its SHA-256, hex
    public_key: str  # COSE key, base64url
    sign_count: int
    backup_eligible: bool
    transports: list[str]


def credential_identifier(credential: dict) -> str:
    """SHA-256 hex of the credential's raw ID: how a passkey is looked up."""
    return hashlib.sha256(from_b64url(credential.get("rawId"))).hexdigest()


def _client_origin(rp: RelyingParty, credential: dict) -> str:
    """The clientDataJSON's origin when the relying party allows it and the ceremony ran in a
    top-level page of that origin (no ``crossOrigin``, no ``topOrigin``)."""
    response = credential.get("response")
    raw = from_b64url(response.get("clientDataJSON") if isinstance(response, dict) else None)
    try:
        client_data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise AppwriteError("user_passkey_invalid") from None
    if not isinstance(client_data, dict) or client_data.get("crossOrigin") or "topOrigin" in client_data:
        raise AppwriteError("user_passkey_invalid")
    origin = client_data.get("origin")
    if not isinstance(origin, str) or not rp.allows(origin):
        raise AppwriteError("user_passkey_invalid")
    return origin


def verify_registration(rp: RelyingParty, credential: dict, challenge: bytes) -> NewCredential:
    """Check the browser's answer to ``navigator.credentials.create()``: 401
    ``user_passkey_invalid`` on any failure (origin, RP ID, challenge, user verification, format)."""
    import webauthn
    from webauthn.helpers.cose import COSEAlgorithmIdentifier
    from webauthn.helpers.structs import AuthenticatorTransport, CredentialDeviceType

    origin = _client_origin(rp, credential)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=origin,
            require_user_verification=True,
            supported_pub_key_algs=[COSEAlgorithmIdentifier(_ES256), COSEAlgorithmIdentifier(_RS256)],
        )
    except Exception:  # whatever a malformed or forged credential makes the library raise
        raise AppwriteError("user_passkey_invalid") from None
    transports = (credential.get("response") or {}).get("transports")
    return NewCredential(
        credential_id=b64url(verified.credential_id),
        identifier=hashlib.sha256(verified.credential_id).hexdigest(),
        public_key=b64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        backup_eligible=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        transports=[t.value for t in AuthenticatorTransport if isinstance(transports, list) and t.value in transports],
    )


def verify_assertion(
    rp: RelyingParty,
    credential: dict,
    challenge: bytes,
    *,
    public_key: str,
    sign_count: int,
    backup_eligible: bool,
    user_handle: str,
) -> int:
    """Check the browser's answer to ``navigator.credentials.get()`` against the stored passkey;
    the authenticator's new signature counter. 401 ``user_passkey_invalid`` on any failure.

    Counters: a device-bound credential's must grow (a clone shows up as a repeat); synced
    (backup-eligible) credentials share theirs across devices and are not checked, nor are
    authenticators that always report 0. The backup-eligible flag may never change.
    """
    import webauthn
    from webauthn.helpers.structs import CredentialDeviceType

    origin = _client_origin(rp, credential)
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    if handle is None or from_b64url(handle) != from_b64url(user_handle):
        raise AppwriteError("user_passkey_invalid")
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=origin,
            credential_public_key=from_b64url(public_key),
            credential_current_sign_count=0 if backup_eligible else sign_count,
            require_user_verification=True,
        )
    except Exception:  # whatever a malformed or forged credential makes the library raise
        raise AppwriteError("user_passkey_invalid") from None
    if (verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE) != backup_eligible:
        raise AppwriteError("user_passkey_invalid")
    return verified.new_sign_count
