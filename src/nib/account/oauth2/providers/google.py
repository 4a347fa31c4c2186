"""Google: accounts.google.com sign-in, the OpenID userinfo v3 endpoint."""

from __future__ import annotations

from nib.account.oauth2.providers import Provider, ProviderUser, Tokens
from nib.account.oauth2.providers._http import authorize_url, fetch_tokens, get_json, secret_fields

TOKEN_URL = "https://oauth2.googleapis.com/token"


class Google(Provider):
    key = "google"
    name = "Google"
    default_scopes = (
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/userinfo.profile",
        "openid",
    )

    def login_url(self, state: str, scopes: list[str]) -> str:
        return authorize_url(
            self,
            "https://accounts.google.com/o/oauth2/v2/auth",
            {
                "client_id": self.config.app_id,
                "redirect_uri": self.config.callback_url,
                "scope": " ".join(scopes),
                "state": state,
                "response_type": "code",
                # Google hands out a refresh token only when asked for offline access, and again
                # on a later sign-in only with a fresh consent.
                "access_type": "offline",
                "prompt": secret_fields(self).get("prompt") or "consent",
            },
        )

    def exchange(self, code: str) -> Tokens:
        # Google takes the parameters in the query string as well as in a form body.
        params = {
            "code": code,
            "client_id": self.config.app_id,
            "client_secret": self._client_secret(),
            "redirect_uri": self.config.callback_url,
            "grant_type": "authorization_code",
        }
        return fetch_tokens(self, "POST", TOKEN_URL, params=params)

    def refresh(self, refresh_token: str) -> Tokens:
        params = {
            "client_id": self.config.app_id,
            "client_secret": self._client_secret(),
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        return fetch_tokens(self, "POST", TOKEN_URL, refreshing=refresh_token, params=params)

    def user(self, tokens: Tokens) -> ProviderUser:
        info = get_json(
            self, "https://www.googleapis.com/oauth2/v3/userinfo", params={"access_token": tokens.access_token}
        )
        return ProviderUser(
            id=str(info.get("sub") or ""),
            email=str(info.get("email") or ""),
            name=str(info.get("name") or ""),
            verified=info.get("email_verified") is True,
        )

    def _client_secret(self) -> str:
        """A plain secret, or the `clientSecret` of {clientSecret, prompt}."""
        return secret_fields(self).get("clientSecret", "")
