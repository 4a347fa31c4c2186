"""A real OpenID Connect provider on loopback for the OAuth2 tests: discovery, JWKS, an
auto-approving authorize endpoint, a token endpoint (authorization code and refresh grants)
issuing RS256-signed ID tokens, and a Bearer userinfo endpoint. Switches a test flips before a
sign-in:

* ``user``: who consents (``sub``, ``email``, ``email_verified``, ``name``);
* ``deny``: the authorize endpoint answers ``error=access_denied``;
* ``id_token``: ``"valid"``, ``"wrong-nonce"`` or ``"wrong-key"`` (signed with a key not in the JWKS);
* ``delay``: seconds the token endpoint waits before answering (a slow provider).
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

CLIENT_ID = "nib-test-client"
CLIENT_SECRET = "s3cret-for-the-test-client"
ACCESS_LIFETIME = 3600


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str
    user: dict[str, Any]


@dataclass
class OidcProvider:
    """The provider's state; ``issuer`` is its base URL (``http://127.0.0.1:<port>``)."""

    issuer: str = ""
    user: dict[str, Any] = field(default_factory=dict)
    deny: bool = False
    id_token: str = "valid"
    delay: float = 0.0
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}))
    stranger: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}))
    codes: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, dict[str, Any]] = field(default_factory=dict)  # access token -> user
    refresh: dict[str, dict[str, Any]] = field(default_factory=dict)  # refresh token -> user
    server: ThreadingHTTPServer | None = None

    @property
    def well_known(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def secret_json(self, **extra: str) -> str:
        """The ``oidc`` secret nib is configured with (discovery by default)."""
        return orjson.dumps({"clientSecret": CLIENT_SECRET, "wellKnownEndpoint": self.well_known, **extra}).decode()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        }

    def issue(self, client_id: str, user: dict[str, Any], nonce: str) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access[access], self.refresh[refresh] = user, user
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": client_id,
            "sub": user["sub"],
            "iat": now,
            "exp": now + 300,
            "nonce": "not-" + nonce if self.id_token == "wrong-nonce" else nonce,
            "email": user.get("email", ""),
            "email_verified": user.get("email_verified", False),
        }
        signer = self.stranger if self.id_token == "wrong-key" else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, signer)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_LIFETIME,
            "refresh_token": refresh,
            "id_token": id_token,
        }


def _handler(provider: OidcProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _json(self, body: Any, status: int = 200) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = dict(parse_qsl(parts.query))
            if parts.path == "/.well-known/openid-configuration":
                self._json(provider.discovery())
            elif parts.path == "/jwks":
                self._json(KeySet([provider.key]).as_dict(private=False))
            elif parts.path == "/authorize":
                self._authorize(query)
            elif parts.path == "/userinfo":
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                user = provider.access.get(token)
                if user is None:
                    self._json({"error": "invalid_token", "error_description": "unknown access token"}, 401)
                else:
                    self._json(user)
            else:
                self._json({"error": "not_found"}, 404)

        def _authorize(self, query: dict[str, str]) -> None:
            redirect_uri, state = query.get("redirect_uri", ""), query.get("state", "")
            if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
                self._json({"error": "invalid_request"}, 400)
                return
            if provider.deny:
                answer = {"error": "access_denied", "error_description": "The user said no", "state": state}
            else:
                code = secrets.token_urlsafe(16)
                provider.codes[code] = Grant(CLIENT_ID, redirect_uri, query.get("nonce", ""), dict(provider.user))
                answer = {"code": code, "state": state}
            self._redirect(redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(answer))

        def do_POST(self) -> None:
            if urlsplit(self.path).path != "/token":
                self._json({"error": "not_found"}, 404)
                return
            time.sleep(provider.delay)
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode()))
            client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
            basic = self.headers.get("Authorization", "")
            if basic.startswith("Basic "):
                client_id, _, client_secret = base64.b64decode(basic[6:]).decode().partition(":")
            if (client_id, client_secret) != (CLIENT_ID, CLIENT_SECRET):
                self._json({"error": "invalid_client", "error_description": "bad client credentials"}, 401)
                return
            if form.get("grant_type") == "authorization_code":
                grant = provider.codes.pop(form.get("code", ""), None)
                if grant is None or grant.redirect_uri != form.get("redirect_uri"):
                    self._json({"error": "invalid_grant", "error_description": "unknown code"}, 400)
                    return
                self._json(provider.issue(client_id, grant.user, grant.nonce))
            elif form.get("grant_type") == "refresh_token":
                user = provider.refresh.pop(form.get("refresh_token", ""), None)
                if user is None:
                    self._json({"error": "invalid_grant", "error_description": "unknown refresh token"}, 400)
                    return
                answer = provider.issue(client_id, user, "")
                del answer["id_token"]
                self._json(answer)
            else:
                self._json({"error": "unsupported_grant_type"}, 400)

    return Handler


def start_provider() -> OidcProvider:
    """The provider, serving on a free loopback port in a thread."""
    provider = OidcProvider()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(provider))
    provider.server = server
    provider.issuer = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="oidc-provider", daemon=True).start()
    return provider


def stop_provider(provider: OidcProvider) -> None:
    assert provider.server is not None
    provider.server.shutdown()
    provider.server.server_close()
