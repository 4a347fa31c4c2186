"""Discord."""

from __future__ import annotations

from nib.account.oauth2.providers import Provider, ProviderUser, Tokens
from nib.account.oauth2.providers._http import authorize_url, fetch_tokens, get_json

API = "https://discord.com/api"


class Discord(Provider):
    key = "discord"
    name = "Discord"
    default_scopes = ("identify", "email")

    def login_url(self, state: str, scopes: list[str]) -> str:
        return authorize_url(
            self,
            f"{API}/oauth2/authorize",
            {
                "response_type": "code",
                "client_id": self.config.app_id,
                "state": state,
                "scope": " ".join(scopes),
                "redirect_uri": self.config.callback_url,
            },
        )

    def exchange(self, code: str) -> Tokens:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.callback_url,
            "client_id": self.config.app_id,
            "client_secret": self.config.secret,
            "scope": " ".join(self.default_scopes),
        }
        return fetch_tokens(self, "POST", f"{API}/oauth2/token", form=form)

    def refresh(self, refresh_token: str) -> Tokens:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.config.app_id,
            "client_secret": self.config.secret,
            "scope": " ".join(self.default_scopes),
        }
        return fetch_tokens(self, "POST", f"{API}/oauth2/token", refreshing=refresh_token, form=form)

    def user(self, tokens: Tokens) -> ProviderUser:
        me = get_json(self, f"{API}/users/@me", bearer=tokens.access_token)
        return ProviderUser(
            id=str(me.get("id") or ""),
            email=str(me.get("email") or ""),
            name=str(me.get("username") or ""),
            verified=me.get("verified") is True,
        )
