"""Facebook Login, through the Graph API."""

from __future__ import annotations

from nib.account.oauth2.providers import Provider, ProviderUser, Tokens
from nib.account.oauth2.providers._http import authorize_url, fetch_tokens, get_json

GRAPH = "https://graph.facebook.com/v2.8"


class Facebook(Provider):
    key = "facebook"
    name = "Facebook"
    default_scopes = ("email",)

    def login_url(self, state: str, scopes: list[str]) -> str:
        return authorize_url(
            self,
            "https://www.facebook.com/v2.8/dialog/oauth",
            {
                "client_id": self.config.app_id,
                "redirect_uri": self.config.callback_url,
                "scope": " ".join(scopes),
                "state": state,
            },
        )

    def exchange(self, code: str) -> Tokens:
        params = {
            "client_id": self.config.app_id,
            "redirect_uri": self.config.callback_url,
            "client_secret": self.config.secret,
            "code": code,
        }
        return fetch_tokens(self, "GET", f"{GRAPH}/oauth/access_token", params=params)

    def refresh(self, refresh_token: str) -> Tokens:
        # Facebook has no refresh tokens: a still valid token is exchanged for a long-lived one.
        params = {
            "grant_type": "fb_exchange_token",
            "client_id": self.config.app_id,
            "client_secret": self.config.secret,
            "fb_exchange_token": refresh_token,
        }
        return fetch_tokens(self, "GET", f"{GRAPH}/oauth/access_token", refreshing=refresh_token, params=params)

    def user(self, tokens: Tokens) -> ProviderUser:
        me = get_json(self, f"{GRAPH}/me", params={"fields": "email,name", "access_token": tokens.access_token})
        # Facebook does not say whether it checked the address.
        return ProviderUser(
            id=str(me.get("id") or ""), email=str(me.get("email") or ""), name=str(me.get("name") or "")
        )
