"""Appwrite's ``mock`` provider: nib's own test endpoints under ``/v1/mock/tests/general/oauth2``
(account/oauth2/mock_routes.py), reached at nib's public URL. Only when NIB_OAUTH2_MOCK=on."""

from __future__ import annotations

from nib.account.oauth2.providers import Provider, ProviderUser, Tokens
from nib.account.oauth2.providers._http import authorize_url, fetch_tokens, get_json

PATH = "/v1/mock/tests/general/oauth2"


class Mock(Provider):
    key = "mock"
    name = "Mock"
    default_scopes = ("email",)
    test_only = True

    def _endpoint(self, path: str = "") -> str:
        return self.config.public_url.rstrip("/") + PATH + path

    def login_url(self, state: str, scopes: list[str]) -> str:
        query = {
            "client_id": self.config.app_id,
            "redirect_uri": self.config.callback_url,
            "scope": " ".join(scopes),
            "state": state,
        }
        return authorize_url(self, self._endpoint(), query)

    def _client(self) -> dict[str, str]:
        return {"client_id": self.config.app_id, "client_secret": self.config.secret}

    def exchange(self, code: str) -> Tokens:
        params = {**self._client(), "redirect_uri": self.config.callback_url, "code": code}
        return fetch_tokens(self, "GET", self._endpoint("/token"), params=params)

    def refresh(self, refresh_token: str) -> Tokens:
        params = {**self._client(), "grant_type": "refresh_token", "refresh_token": refresh_token}
        return fetch_tokens(self, "GET", self._endpoint("/token"), refreshing=refresh_token, params=params)

    def user(self, tokens: Tokens) -> ProviderUser:
        found = get_json(self, self._endpoint("/user"), params={"token": tokens.access_token})
        return ProviderUser(
            id=str(found.get("id") or ""),
            email=str(found.get("email") or ""),
            name=str(found.get("name") or ""),
            verified=found.get("verified", True) is True,
        )
