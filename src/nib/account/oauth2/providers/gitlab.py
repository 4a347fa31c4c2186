"""GitLab: gitlab.com or a self-hosted instance."""

from __future__ import annotations

from nib.account.oauth2.providers import Provider, ProviderUser, Tokens
from nib.account.oauth2.providers._http import authorize_url, fetch_tokens, get_json, secret_fields


class GitLab(Provider):
    """The secret is {"clientSecret", "endpoint"}: the instance's base URL, gitlab.com when none."""

    key = "gitlab"
    name = "GitLab"
    default_scopes = ("read_user",)

    def login_url(self, state: str, scopes: list[str]) -> str:
        return authorize_url(
            self,
            f"{self._base()}/oauth/authorize",
            {
                "client_id": self.config.app_id,
                "redirect_uri": self.config.callback_url,
                "scope": " ".join(scopes),
                "state": state,
                "response_type": "code",
            },
        )

    def exchange(self, code: str) -> Tokens:
        params = {
            "code": code,
            "client_id": self.config.app_id,
            "client_secret": secret_fields(self).get("clientSecret", ""),
            "redirect_uri": self.config.callback_url,
            "grant_type": "authorization_code",
        }
        return fetch_tokens(self, "POST", f"{self._base()}/oauth/token", params=params)

    def refresh(self, refresh_token: str) -> Tokens:
        params = {
            "client_id": self.config.app_id,
            "client_secret": secret_fields(self).get("clientSecret", ""),
            "refresh_token": refresh_token,
            "grant_type": "refresh_token",
        }
        return fetch_tokens(self, "POST", f"{self._base()}/oauth/token", refreshing=refresh_token, params=params)

    def user(self, tokens: Tokens) -> ProviderUser:
        me = get_json(self, f"{self._base()}/api/v4/user", params={"access_token": tokens.access_token})
        return ProviderUser(
            id=str(me.get("id") or ""),
            email=str(me.get("email") or ""),
            name=str(me.get("name") or ""),
            verified=bool(me.get("confirmed_at")),
        )

    def _base(self) -> str:
        return (secret_fields(self).get("endpoint") or "https://gitlab.com").rstrip("/")
