"""Appwrite's ``mock`` provider: nib's own test endpoints under ``/v1/mock/tests/general/oauth2``
(account/oauth2/mock_routes.py), reached at nib's public URL. Only when NIB_OAUTH2_MOCK=on."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from . import Provider, ProviderUser, Tokens
from .calls import call, tokens_from


@dataclass
class Mock(Provider):
    key = "mock"
    name = "Mock"
    default_scopes = ("email",)
    test_only = True

    def _endpoint(self, path: str = "") -> str:
        return self.url(self.config.public_url.rstrip("/") + "/v1/mock/tests/general/oauth2" + path)

    def login_url(self, state: str, scopes: list[str]) -> str:
        query = {
            "client_id": self.config.app_id,
            "redirect_uri": self.config.callback_url,
            "scope": " ".join(scopes),
            "state": state,
        }
        return self._endpoint() + "?" + urlencode(query)

    def _tokens(self, params: dict[str, str], refresh_token: str = "") -> Tokens:
        query = {"client_id": self.config.app_id, "client_secret": self.config.secret, **params}
        return Tokens(**tokens_from(call(self.http, "GET", self._endpoint("/token"), params=query), refresh_token))

    def exchange(self, code: str) -> Tokens:
        return self._tokens({"redirect_uri": self.config.callback_url, "code": code})

    def refresh(self, refresh_token: str) -> Tokens:
        return self._tokens({"grant_type": "refresh_token", "refresh_token": refresh_token}, refresh_token)

    def user(self, tokens: Tokens) -> ProviderUser:
        found = call(self.http, "GET", self._endpoint("/user"), params={"token": tokens.access_token})
        return ProviderUser(
            id=str(found.get("id") or ""),
            email=str(found.get("email") or ""),
            name=str(found.get("name") or ""),
            verified=bool(found.get("verified", True)),
        )
