"""``oidc``: any OpenID Connect provider (Keycloak, Authentik, Auth0, a company's own server…).

The secret is JSON: ``clientSecret`` and either ``wellKnownEndpoint`` (the discovery document)
or the ``authorizationEndpoint``, ``tokenEndpoint`` and ``userinfoEndpoint`` (explicit endpoints
win over discovered ones, as in Appwrite). The authorization-code flow carries the sign-in's
nonce. When the token answer has an ID token and the provider published its keys (discovery's
``jwks_uri``), the ID token is checked with joserfc (Authlib's JOSE library): signature, issuer,
audience (the app ID), nonce and expiry; one that fails refuses the sign-in. The user is read
from the userinfo endpoint (``sub``, ``email``, ``email_verified``, ``name``), which must name the
ID token's subject; without a userinfo endpoint, from the ID token itself.

Discovery documents and key sets are cached per process for an hour (a key set is fetched again
at once when a token names a key it lacks).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, cast

from nib.account.oauth2.providers import Provider, ProviderError, ProviderUser, Tokens
from nib.account.oauth2.providers._http import UNUSABLE, authorize_url, fetch_tokens, get_json
from nib.tools.ttlcache import TTLCache

_CACHE_SECONDS = 3600
_documents: TTLCache[dict[str, Any]] = TTLCache(_CACHE_SECONDS, 256)
# Signatures nib accepts on ID tokens: public-key ones (the keys come from the provider's JWKS).
ACCEPT_JSON = {"Accept": "application/json"}
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


@dataclass
class Oidc(Provider):
    key = "oidc"
    name = "OpenID Connect"
    default_scopes = ("openid", "profile", "email")
    # The claims of the ID token checked by ``exchange`` (empty when none came or none could be checked).
    id_claims: dict[str, Any] = field(default_factory=dict)

    # -- configuration ------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        found = json.loads(self.config.secret)
        return found if isinstance(found, dict) else {}

    def _fetch(self, url: str, *, fresh: bool = False) -> dict[str, Any]:
        cached = None if fresh else _documents.get(url)
        if cached is None:
            cached = get_json(self, url)
            _documents.put(url, cached)
        return cached

    def _discovered(self) -> dict[str, Any]:
        well_known = self._settings().get("wellKnownEndpoint")
        return self._fetch(well_known) if well_known else {}

    def _endpoint(self, name: str, discovered_name: str) -> str:
        return str(self._settings().get(name) or self._discovered().get(discovered_name) or "")

    # -- the flow -----------------------------------------------------------------------------

    def login_url(self, state: str, scopes: list[str]) -> str:
        authorize = self._endpoint("authorizationEndpoint", "authorization_endpoint")
        if not authorize:
            raise ProviderError(UNUSABLE, "No authorization endpoint configured or discovered")
        query = {
            "client_id": self.config.app_id,
            "redirect_uri": self.config.callback_url,
            "state": state,
            "scope": " ".join(scopes),
            "response_type": "code",
            "nonce": self.nonce,
        }
        return authorize_url(self, authorize, query)

    def _tokens(self, form: dict[str, str], refreshing: str = "") -> Tokens:
        form = {"client_id": self.config.app_id, "client_secret": str(self._settings().get("clientSecret", "")), **form}
        endpoint = self._endpoint("tokenEndpoint", "token_endpoint")
        return fetch_tokens(self, "POST", endpoint, refreshing=refreshing, form=form, headers=ACCEPT_JSON)

    def exchange(self, code: str) -> Tokens:
        tokens = self._tokens(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.config.callback_url}
        )
        if tokens.id_token:
            self.id_claims = self._checked_id_token(tokens.id_token)
        return tokens

    def refresh(self, refresh_token: str) -> Tokens:
        return self._tokens({"grant_type": "refresh_token", "refresh_token": refresh_token}, refresh_token)

    def user(self, tokens: Tokens) -> ProviderUser:
        userinfo = self._endpoint("userinfoEndpoint", "userinfo_endpoint")
        found = get_json(self, userinfo, bearer=tokens.access_token) if userinfo else self.id_claims
        if self.id_claims and found.get("sub") != self.id_claims.get("sub"):
            raise ProviderError(UNUSABLE, "The userinfo subject is not the ID token's")
        return ProviderUser(
            id=str(found.get("sub") or ""),
            email=str(found.get("email") or ""),
            name=str(found.get("name") or ""),
            verified=found.get("email_verified") in (True, "true"),
        )

    # -- the ID token ---------------------------------------------------------------------------

    def _checked_id_token(self, id_token: str) -> dict[str, Any]:
        """The claims of a valid ID token; ``ProviderError`` for one that is not. Without a
        published key set (explicit endpoints only) there is nothing to check it against: it is
        not used then, and the user comes from the userinfo endpoint alone."""
        from joserfc import jwt
        from joserfc.errors import InvalidKeyIdError, JoseError
        from joserfc.jwk import KeySet

        discovered = self._discovered()
        jwks_uri = discovered.get("jwks_uri")
        if not jwks_uri:
            return {}
        try:
            try:
                token = jwt.decode(
                    id_token, KeySet.import_key_set(cast(Any, self._fetch(jwks_uri))), algorithms=ALGORITHMS
                )
            except InvalidKeyIdError:
                # A key the cached set lacks (the provider rotated its keys): fetch the set again.
                token = jwt.decode(
                    id_token, KeySet.import_key_set(cast(Any, self._fetch(jwks_uri, fresh=True))), algorithms=ALGORITHMS
                )
            jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": str(discovered.get("issuer") or "")},
                aud={"essential": True, "value": self.config.app_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": self.nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as error:
            raise ProviderError(
                UNUSABLE,
                f"Failed to obtain access token. The {self.name} OAuth2 provider returned an error: invalid ID token ({error})",
            ) from None
        return dict(token.claims)
