"""A software WebAuthn authenticator and browser, for the passkey API tests.

It answers the options nib sends as a browser plus a platform authenticator would: a new EC P-256
key per credential, ``none`` attestation (CBOR), authenticator data with its flags and signature
counter, clientDataJSON with type, challenge and origin, and the ``PublicKeyCredential.toJSON()``
form the SDKs send. Every knob a test needs to make a bad answer is a keyword argument.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
ORIGIN = "http://localhost:5173"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def from_b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Credential:
    id: bytes
    key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    counter: int = 0

    @property
    def json_id(self) -> str:
        return b64url(self.id)


class Authenticator:
    """One device: ``synced`` credentials are backup eligible (and backed up); ``counter_step`` is
    how much the signature counter grows per use (0: an authenticator that always reports 0)."""

    def __init__(self, *, synced: bool = False, counter_step: int = 1, origin: str = ORIGIN) -> None:
        self.synced = synced
        self.counter_step = counter_step
        self.origin = origin
        self.credentials: list[Credential] = []

    def _flags(self, *, verified: bool, attested: bool = False, synced: bool | None = None) -> int:
        synced = self.synced if synced is None else synced
        return UP | (UV if verified else 0) | ((BE | BS) if synced else 0) | (AT if attested else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None, extra: dict) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False, **extra}
        return json.dumps(data, separators=(",", ":")).encode()

    def create(
        self,
        options: dict,
        *,
        origin: str | None = None,
        verified: bool = True,
        rp_id: str | None = None,
        client_data: dict | None = None,
        reuse: Credential | None = None,
    ) -> dict:
        """``navigator.credentials.create()``: a new credential for ``options`` (the ``publicKey``
        nib returned), as ``credential.toJSON()``. ``reuse`` answers with an existing credential."""
        rp_id = rp_id or options["rp"]["id"]
        credential = reuse or Credential(
            id=secrets.token_bytes(32),
            key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=from_b64url(options["user"]["id"]),
        )
        if reuse is None:
            self.credentials.append(credential)
        numbers = credential.key.public_key().public_numbers()
        cose_key = cbor2.dumps(
            {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
        )
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([self._flags(verified=verified, attested=True)])
            + struct.pack(">I", credential.counter)
            + bytes(16)  # AAGUID
            + struct.pack(">H", len(credential.id))
            + credential.id
            + cose_key
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client = self._client_data("webauthn.create", options["challenge"], origin, client_data or {})
        return _public_key_credential(
            credential,
            {"clientDataJSON": b64url(client), "attestationObject": b64url(attestation), "transports": ["internal"]},
        )

    def get(
        self,
        options: dict,
        *,
        credential: Credential | None = None,
        origin: str | None = None,
        verified: bool = True,
        counter: int | None = None,
        synced: bool | None = None,
        client_data: dict | None = None,
        user_handle: bytes | None = None,
    ) -> dict:
        """``navigator.credentials.get()``: an assertion by ``credential`` (default: the newest),
        as ``credential.toJSON()``. ``counter`` forces the signature counter reported."""
        credential = credential or self.credentials[-1]
        if counter is None:
            credential.counter += self.counter_step
            counter = credential.counter
        auth_data = (
            hashlib.sha256(credential.rp_id.encode()).digest()
            + bytes([self._flags(verified=verified, synced=synced)])
            + struct.pack(">I", counter)
        )
        client = self._client_data("webauthn.get", options["challenge"], origin, client_data or {})
        signature = credential.key.sign(auth_data + hashlib.sha256(client).digest(), ec.ECDSA(hashes.SHA256()))
        return _public_key_credential(
            credential,
            {
                "clientDataJSON": b64url(client),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(credential.user_handle if user_handle is None else user_handle),
            },
        )


def _public_key_credential(credential: Credential, response: dict) -> dict:
    """What ``PublicKeyCredential.toJSON()`` gives for ``credential`` and its ``response``."""
    return {
        "id": credential.json_id,
        "rawId": credential.json_id,
        "type": "public-key",
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
        "response": response,
    }
