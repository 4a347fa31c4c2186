"""Loopback servers that answer as OAuth2 providers do, at those providers' documented paths.

One server per provider: nib reaches it through an origin override (``NIB_OAUTH2_ORIGINS``
or ``ProviderConfig.origin``), which keeps every path and swaps the provider's hosts for the
fake's origin (GitLab's can also be its self-hosted ``endpoint``). Each fake:

* authorizes at once: its authorize page redirects to ``redirect_uri`` with ``code`` and
  ``state`` (Apple answers the auto-submitting form that POSTs them, as Apple does);
* checks at its token endpoint the client ID and secret, the code (single use, same
  redirect URI), the grant type, and that the parameters came the way that provider takes them
  (form body, or query string for Google and GitLab); answers tokens as that provider does;
* serves the user behind an access token at its user endpoints;
* records every request it received (``requests``, ``paths()``);
* can be told to fail (``fail(status, at="token"|"user"|"authorize")``), to vouch or not for
  the e-mail (``verified``) and who signs in next (``user``, ``sign_in_as(...)``).

Google and Apple also publish a JWKS and sign RS256 ID tokens (``id_token()``) with its keys.

    with GitHubFake() as github:
        config = ProviderConfig(github.client_id, github.secret, callback, origin=github.origin)
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa


@dataclass
class Request:
    """One request a fake received."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]  # the fields of a form-encoded body
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(value: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(value).encode(), {"Content-Type": "application/json"})


def redirect(url: str) -> Answer:
    return Answer(302, headers={"Location": url})


def with_query(url: str, params: dict[str, str]) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


def parse_form_post(page: str) -> tuple[str, dict[str, str]]:
    """The action and fields of the auto-submitting form a form_post provider answers."""
    action = html.unescape(re.search(r'<form[^>]*action="([^"]*)"', page).group(1))
    fields = dict(
        (html.unescape(name), html.unescape(value))
        for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', page)
    )
    return action, fields


class Refused(Exception):
    """Ends a request with the provider's error answer."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer


class FakeProvider:
    """The common part: server, request log, codes and tokens. Subclasses give the paths and
    the provider's answers."""

    name: ClassVar[str]
    authorize_path: str  # Microsoft's and GitLab's depend on the instance
    token_path: str
    token_method: ClassVar[str] = "POST"
    token_params_in: ClassVar[str] = "form"  # "form" (body) or "query"
    grant_type_required: ClassVar[bool] = True  # GitHub and Facebook do without
    default_user: ClassVar[dict[str, Any]] = {"id": "1001", "email": "ada@example.com", "name": "Ada Lovelace"}

    def __init__(
        self,
        *,
        user: dict[str, Any] | None = None,
        verified: bool = True,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
    ) -> None:
        self.user = {**self.default_user, **(user or {})}
        self.verified = verified
        self.client_id = client_id
        self.client_secret = client_secret
        self.issue_refresh_tokens = True
        self.rotate_refresh_tokens = True  # False: a refresh answers no new refresh token
        self.requests: list[Request] = []
        self.failure: tuple[str, int] | None = None
        self._codes: dict[str, dict[str, Any]] = {}
        self._access: dict[str, dict[str, Any]] = {}  # access token -> the grant's user and nonce
        self._refresh: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- running ---------------------------------------------------------------------------
    def __enter__(self) -> FakeProvider:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self)

            do_POST = do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name=f"fake-{self.name}", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def origin(self) -> str:
        assert self._server is not None, "start the fake first (with ...)"
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def secret(self) -> str:
        """The secret as a project configures it for this provider (Appwrite's format)."""
        return self.client_secret

    def sign_in_as(self, *, verified: bool | None = None, **fields: Any) -> None:
        """Who the next authorization is for: the default user with these fields changed."""
        self.user = {**self.default_user, **fields}
        if verified is not None:
            self.verified = verified

    def fail(self, status: int, at: str = "token") -> None:
        """Answer the provider's error with ``status`` at ``at``: "token", "user", "keys" (the
        JWKS), or "authorize" (an error redirect, whatever the status)."""
        self.failure = (at, status)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    def last(self, path: str) -> Request:
        return [r for r in self.requests if r.path == path][-1]

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        form_encoded = (handler.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded")
        request = Request(
            method=handler.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            form=dict(parse_qsl(body.decode(), keep_blank_values=True)) if form_encoded else {},
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.requests.append(request)
        try:
            answer = self._route(request)
        except Refused as refused:
            answer = refused.answer
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(answer.body)

    def _route(self, r: Request) -> Answer:
        if r.method == "GET" and r.path == self.authorize_path:
            return self._authorize(r)
        if r.path == self.token_path:
            if r.method != self.token_method:
                return self.error(405, "invalid_request", f"use {self.token_method}")
            if self.failure and self.failure[0] == "token":
                return self.error(self.failure[1], "invalid_grant", "The provider refused the grant")
            return self._token(r)
        answer = self.route(r)
        if answer is None:
            return self.error(404, "not_found", f"no {r.method} {r.path}")
        return answer

    # -- the protocol ----------------------------------------------------------------------
    def _authorize(self, r: Request) -> Answer:
        q = r.query
        if q.get("client_id") != self.client_id or not q.get("redirect_uri"):
            return self.error(400, "invalid_request", "unknown client_id or no redirect_uri")
        if self.failure and self.failure[0] == "authorize":
            params = {"error": "access_denied", "error_description": "The user denied the request"}
            return self.callback(q["redirect_uri"], {**params, "state": q.get("state", "")})
        code = secrets.token_urlsafe(12)
        with self._lock:
            self._codes[code] = {
                "redirect_uri": q["redirect_uri"],
                "scope": q.get("scope", ""),
                "nonce": q.get("nonce"),
                "user": dict(self.user),
                "verified": self.verified,
            }
        return self.callback(q["redirect_uri"], {"code": code, "state": q.get("state", "")})

    def callback(self, redirect_uri: str, params: dict[str, str]) -> Answer:
        """How the browser is sent back (a redirect; Apple overrides)."""
        return redirect(with_query(redirect_uri, params))

    def _token(self, r: Request) -> Answer:
        params = r.form if self.token_params_in == "form" else r.query
        if "client_id" not in params:
            return self.error(400, "invalid_request", f"parameters belong in the {self.token_params_in}")
        self.check_client(params)
        if self.grant_type_required and "grant_type" not in params:
            return self.error(400, "invalid_request", "Missing grant_type")
        grant = params.get("grant_type", "authorization_code")
        with self._lock:
            if grant == "authorization_code":
                issued = self._codes.pop(params.get("code", ""), None)
                if issued is None or params.get("redirect_uri") != issued["redirect_uri"]:
                    return self.error(400, "invalid_grant", "The code is incorrect or expired")
            elif grant == "refresh_token":
                issued = self._refresh.get(params.get("refresh_token", ""))
                if issued is None:
                    return self.error(400, "invalid_grant", "The refresh token is invalid")
            else:
                return self.error(400, "unsupported_grant_type", grant)
            access = f"at-{secrets.token_urlsafe(12)}"
            self._access[access] = issued
            answer: dict[str, Any] = {"access_token": access, "token_type": "bearer", "expires_in": 3600}
            if self.issue_refresh_tokens and (grant == "authorization_code" or self.rotate_refresh_tokens):
                answer["refresh_token"] = f"rt-{secrets.token_urlsafe(12)}"
                self._refresh[answer["refresh_token"]] = issued
        return self.tokens(r, answer, issued)

    def tokens(self, r: Request, answer: dict[str, Any], grant: dict[str, Any]) -> Answer:
        """The token answer (JSON; GitHub and Apple override)."""
        return json_answer(answer)

    def check_client(self, params: dict[str, str]) -> None:
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            raise Refused(self.error(401, "invalid_client", "Client authentication failed"))

    def grant_of(self, token: str) -> dict[str, Any]:
        """The grant behind an access token; the provider's 401 when there is none, or when
        the fake was told to fail at its user endpoint."""
        if self.failure and self.failure[0] == "user":
            raise Refused(self.error(self.failure[1], "server_error", "The user endpoint failed"))
        grant = self._access.get(token)
        if grant is None:
            raise Refused(self.error(401, "invalid_token", "Bad credentials"))
        return grant

    def bearer(self, r: Request) -> str:
        return r.headers.get("authorization", "").removeprefix("Bearer ")

    # -- per provider ----------------------------------------------------------------------
    def error(self, status: int, error: str, description: str) -> Answer:
        """The provider's error body (the OAuth2 standard shape unless overridden)."""
        return json_answer({"error": error, "error_description": description}, status)

    def route(self, r: Request) -> Answer | None:
        """The provider's other endpoints (user, keys)."""
        raise NotImplementedError


class GitHubFake(FakeProvider):
    name = "github"
    grant_type_required = False
    authorize_path = "/login/oauth/authorize"
    token_path = "/login/oauth/access_token"
    default_user = {"id": 583231, "login": "octocat", "email": "octocat@example.com", "name": "The Octocat"}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # /user/emails; None = the user's address, primary, verified as ``verified`` says.
        self.emails: list[dict[str, Any]] | None = None
        self.form_answers = False  # answer tokens form-encoded even when JSON is asked for

    def tokens(self, r: Request, answer: dict[str, Any], grant: dict[str, Any]) -> Answer:
        answer = {**answer, "scope": grant["scope"]}
        if "application/json" in r.headers.get("accept", "") and not self.form_answers:
            return json_answer(answer)
        body = urlencode(answer).encode()
        return Answer(200, body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})

    def _token(self, r: Request) -> Answer:
        # GitHub answers a bad code or bad client credentials with 200 and an error body.
        try:
            answer = super()._token(r)
        except Refused as refused:
            answer = refused.answer
        if answer.status >= 400 and not (self.failure and self.failure[0] == "token"):
            return Answer(200, answer.body, answer.headers)
        return answer

    def error(self, status: int, error: str, description: str) -> Answer:
        if status == 401 and error == "invalid_token":  # the API's shape
            return json_answer({"message": "Bad credentials", "documentation_url": "https://docs.github.com"}, 401)
        return super().error(status, error, description)

    def route(self, r: Request) -> Answer | None:
        if r.method != "GET" or r.path not in ("/user", "/user/emails"):
            return None
        auth = r.headers.get("authorization", "")
        grant = self.grant_of(auth.removeprefix("token ") if auth.startswith("token ") else "")
        user = grant["user"]
        if r.path == "/user":
            # `email` is the public profile address, which GitHub does not vouch for.
            return json_answer({"id": user["id"], "login": user["login"], "name": user["name"], "email": user["email"]})
        emails = self.emails
        if emails is None:
            emails = [{"email": user["email"], "primary": True, "verified": grant["verified"], "visibility": None}]
        return json_answer(emails)


class _Signer:
    """RS256 ID tokens and the JWKS that verifies them (Google, Apple)."""

    issuer: ClassVar[str]
    jwks_path: ClassVar[str]

    def _init_keys(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.published: list[str] = []  # the key IDs the JWKS lists
        self.publish(self.new_key())

    def new_key(self) -> str:
        """A new signing key's ID (not yet published)."""
        kid = secrets.token_hex(8)
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def publish(self, kid: str) -> None:
        self.published.append(kid)

    def jwks(self) -> dict[str, Any]:
        listed = []
        for kid in self.published:
            jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
            listed.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": listed}

    def jwks_answer(self) -> Answer:
        if self.failure and self.failure[0] == "keys":
            return Answer(self.failure[1], b"unavailable")
        return json_answer(self.jwks())

    def id_token(self, claims: dict[str, Any] | None = None, *, kid: str | None = None, **headers: Any) -> str:
        """An RS256 ID token for ``user`` (claims given as None are left out)."""
        now = int(time.time())
        merged = {**self.claims_of(self.user, self.verified), "aud": self.client_id, "iat": now, "exp": now + 3600}
        merged = {k: v for k, v in {**merged, **(claims or {})}.items() if v is not None}
        key = self.keys[kid or self.published[0]]
        return jwt.encode(merged, key, algorithm="RS256", headers={"kid": kid or self.published[0], **headers})

    def claims_of(self, user: dict[str, Any], verified: bool) -> dict[str, Any]:
        return {"iss": self.issuer, "sub": user["id"], "email": user["email"], "email_verified": verified}


class GoogleFake(_Signer, FakeProvider):
    name = "google"
    authorize_path = "/o/oauth2/v2/auth"
    token_path = "/token"
    token_params_in = "query"
    issuer = "https://accounts.google.com"
    jwks_path = "/oauth2/v3/certs"
    default_user = {
        "id": "108000000000000000001",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "picture": "https://lh3.example.com/ada.png",
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_keys()

    def claims_of(self, user: dict[str, Any], verified: bool) -> dict[str, Any]:
        return {**super().claims_of(user, verified), "name": user["name"], "picture": user["picture"]}

    def tokens(self, r: Request, answer: dict[str, Any], grant: dict[str, Any]) -> Answer:
        claims = {**self.claims_of(grant["user"], grant["verified"]), "nonce": grant.get("nonce")}
        return json_answer({**answer, "scope": grant["scope"], "id_token": self.id_token(claims)})

    def error(self, status: int, error: str, description: str) -> Answer:
        if status == 401 and error == "invalid_token":  # the userinfo endpoint's shape
            return json_answer({"error": "invalid_request", "error_description": "Invalid Credentials"}, 401)
        return super().error(status, error, description)

    def route(self, r: Request) -> Answer | None:
        if r.method == "GET" and r.path == self.jwks_path:
            return self.jwks_answer()
        if r.method == "GET" and r.path == "/oauth2/v3/userinfo":
            grant = self.grant_of(r.query.get("access_token") or self.bearer(r))
            user = grant["user"]
            return json_answer(
                {
                    "sub": user["id"],
                    "name": user["name"],
                    "picture": user["picture"],
                    "email": user["email"],
                    "email_verified": grant["verified"],
                }
            )
        return None


class MicrosoftFake(FakeProvider):
    name = "microsoft"
    authorize_path = "/{tenant}/oauth2/v2.0/authorize"
    token_path = "/{tenant}/oauth2/v2.0/token"
    default_user = {
        "id": "00000000-0000-0000-66f3-3332eca7ea81",
        "email": "ada@contoso.example",
        "name": "Ada Lovelace",
    }

    def __init__(self, *, tenant: str = "common", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tenant = tenant
        self.authorize_path = f"/{tenant}/oauth2/v2.0/authorize"
        self.token_path = f"/{tenant}/oauth2/v2.0/token"

    @property
    def secret(self) -> str:
        packed = {"clientSecret": self.client_secret}
        if self.tenant != "common":
            packed["tenantID"] = self.tenant
        return json.dumps(packed)

    def route(self, r: Request) -> Answer | None:
        if r.method == "GET" and r.path == "/v1.0/me":
            user = self.grant_of(self.bearer(r))["user"]
            return json_answer(
                {"id": user["id"], "displayName": user["name"], "userPrincipalName": user["email"], "mail": None}
            )
        return None

    def error(self, status: int, error: str, description: str) -> Answer:
        if status == 401 and error == "invalid_token":  # Microsoft Graph's shape
            return json_answer({"error": {"code": "InvalidAuthenticationToken", "message": description}}, 401)
        return super().error(status, error, description)


class AppleFake(_Signer, FakeProvider):
    """Apple: the client secret is an ES256 JWT signed with the developer's key (``secret`` is
    the {keyID, teamID, p8} a project configures); the callback is a form POST carrying, on the
    first consent only, the ``user`` JSON with the name."""

    name = "apple"
    authorize_path = "/auth/authorize"
    token_path = "/auth/token"
    issuer = "https://appleid.apple.com"
    jwks_path = "/auth/keys"
    default_user = {
        "id": "001234.abcdef0123456789.1234",
        "email": "ada@privaterelay.appleid.com",
        "name": "Ada Lovelace",
    }

    def __init__(self, *, team_id: str = "TEAM123456", key_id: str = "KEY1234567", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._init_keys()
        self.team_id = team_id
        self.key_id = key_id
        self.developer_key = ec.generate_private_key(ec.SECP256R1())
        self.consented: set[str] = set()  # users who saw the consent (the `user` field) already

    @property
    def secret(self) -> str:
        pem = self.developer_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return json.dumps({"keyID": self.key_id, "teamID": self.team_id, "p8": pem})

    def claims_of(self, user: dict[str, Any], verified: bool) -> dict[str, Any]:
        return {**super().claims_of(user, verified), "email_verified": "true" if verified else "false"}

    def callback(self, redirect_uri: str, params: dict[str, str]) -> Answer:
        user = self.user
        if "code" in params and user["id"] not in self.consented:
            self.consented.add(user["id"])
            first, _, last = user["name"].partition(" ")
            params = {
                **params,
                "user": json.dumps({"name": {"firstName": first, "lastName": last}, "email": user["email"]}),
            }
        inputs = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in params.items()
        )
        page = f'<html><body onload="document.forms[0].submit()"><form method="post" action="{html.escape(redirect_uri)}">{inputs}</form></body></html>'
        return Answer(200, page.encode(), {"Content-Type": "text/html; charset=utf-8"})

    def check_client(self, params: dict[str, str]) -> None:
        refused = Refused(self.error(400, "invalid_client", ""))
        if params.get("client_id") != self.client_id:
            raise refused
        try:
            secret = params.get("client_secret", "")
            if jwt.get_unverified_header(secret).get("kid") != self.key_id:
                raise refused
            claims = jwt.decode(
                secret,
                self.developer_key.public_key(),
                algorithms=["ES256"],
                audience="https://appleid.apple.com",
                issuer=self.team_id,
            )
        except jwt.PyJWTError:
            raise refused from None
        if claims.get("sub") != self.client_id:
            raise refused

    def tokens(self, r: Request, answer: dict[str, Any], grant: dict[str, Any]) -> Answer:
        claims = self.claims_of(grant["user"], grant["verified"])
        if grant.get("nonce"):
            claims["nonce"] = grant["nonce"]
        return json_answer({**answer, "id_token": self.id_token(claims)})

    def route(self, r: Request) -> Answer | None:
        if r.method == "GET" and r.path == self.jwks_path:
            return self.jwks_answer()
        return None

    def error(self, status: int, error: str, description: str) -> Answer:
        return json_answer({"error": error}, status)  # Apple sends the code alone


def apple_nonce(raw: str) -> str:
    """What an app puts in Apple's authorize request (and Apple in the token) for a raw nonce."""
    return hashlib.sha256(raw.encode()).hexdigest()


class GitLabFake(FakeProvider):
    """GitLab; ``secret`` names the fake as the self-hosted ``endpoint`` (``prefix``: a GitLab
    under a path, e.g. /gitlab), so no origin override is needed."""

    name = "gitlab"
    token_params_in = "query"
    default_user = {"id": 4242, "username": "ada", "email": "ada@example.com", "name": "Ada Lovelace"}

    def __init__(self, *, prefix: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prefix = prefix
        self.authorize_path = f"{prefix}/oauth/authorize"
        self.token_path = f"{prefix}/oauth/token"

    @property
    def secret(self) -> str:
        return json.dumps({"clientSecret": self.client_secret, "endpoint": self.origin + self.prefix})

    def route(self, r: Request) -> Answer | None:
        if r.method == "GET" and r.path == f"{self.prefix}/api/v4/user":
            grant = self.grant_of(r.query.get("access_token") or self.bearer(r))
            user = grant["user"]
            confirmed = "2024-01-02T03:04:05.000Z" if grant["verified"] else None
            return json_answer({**user, "state": "active", "confirmed_at": confirmed})
        return None

    def error(self, status: int, error: str, description: str) -> Answer:
        if status == 401 and error == "invalid_token":
            return json_answer({"message": "401 Unauthorized"}, 401)
        return super().error(status, error, description)


class DiscordFake(FakeProvider):
    name = "discord"
    authorize_path = "/api/oauth2/authorize"
    token_path = "/api/oauth2/token"
    default_user = {"id": "80351110224678912", "username": "ada", "email": "ada@example.com"}

    def route(self, r: Request) -> Answer | None:
        if r.method == "GET" and r.path == "/api/users/@me":
            grant = self.grant_of(self.bearer(r))
            return json_answer({**grant["user"], "verified": grant["verified"], "discriminator": "0"})
        return None

    def error(self, status: int, error: str, description: str) -> Answer:
        if status == 401 and error == "invalid_token":
            return json_answer({"message": "401: Unauthorized", "code": 0}, 401)
        return super().error(status, error, description)


class FacebookFake(FakeProvider):
    name = "facebook"
    authorize_path = "/v2.8/dialog/oauth"
    token_path = "/v2.8/oauth/access_token"
    token_method = "GET"
    token_params_in = "query"
    grant_type_required = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.issue_refresh_tokens = False

    def _token(self, r: Request) -> Answer:
        if r.query.get("grant_type") == "fb_exchange_token":  # a long-lived token for a valid one
            self.check_client(r.query)
            grant = self.grant_of(r.query.get("fb_exchange_token", ""))
            access = f"at-{secrets.token_urlsafe(12)}"
            self._access[access] = grant
            return json_answer({"access_token": access, "token_type": "bearer", "expires_in": 5183944})
        return super()._token(r)

    def route(self, r: Request) -> Answer | None:
        if r.method == "GET" and r.path == "/v2.8/me":
            user = self.grant_of(r.query.get("access_token", ""))["user"]
            return json_answer({k: user[k] for k in r.query.get("fields", "id").split(",") + ["id"] if k in user})
        return None

    def error(self, status: int, error: str, description: str) -> Answer:
        return json_answer({"error": {"message": description, "type": "OAuthException", "code": 100}}, status)


FAKES: dict[str, type[FakeProvider]] = {
    fake.name: fake
    for fake in (GitHubFake, GoogleFake, MicrosoftFake, AppleFake, GitLabFake, DiscordFake, FacebookFake)
}
