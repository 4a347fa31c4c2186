"""GitHub: OAuth apps and GitHub apps' user tokens."""

from __future__ import annotations

from typing import Any

from nib.account.oauth2.providers import Provider, ProviderUser, Tokens
from nib.account.oauth2.providers._http import authorize_url, fetch_tokens, get_json

TOKEN_URL = "https://github.com/login/oauth/access_token"
API = "https://api.github.com"
# GitHub answers form-encoded unless asked for JSON; both are read.
ACCEPT_JSON = {"Accept": "application/json"}


class GitHub(Provider):
    key = "github"
    name = "GitHub"
    default_scopes = ("user:email",)

    def login_url(self, state: str, scopes: list[str]) -> str:
        return authorize_url(
            self,
            "https://github.com/login/oauth/authorize",
            {
                "client_id": self.config.app_id,
                "redirect_uri": self.config.callback_url,
                "scope": " ".join(scopes),
                "state": state,
            },
        )

    def exchange(self, code: str) -> Tokens:
        form = {
            "client_id": self.config.app_id,
            "redirect_uri": self.config.callback_url,
            "client_secret": self.config.secret,
            "code": code,
        }
        return fetch_tokens(self, "POST", TOKEN_URL, form=form, headers=ACCEPT_JSON)

    def refresh(self, refresh_token: str) -> Tokens:
        form = {
            "client_id": self.config.app_id,
            "client_secret": self.config.secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        return fetch_tokens(self, "POST", TOKEN_URL, refreshing=refresh_token, form=form, headers=ACCEPT_JSON)

    def user(self, tokens: Tokens) -> ProviderUser:
        auth = {"Authorization": f"token {tokens.access_token}"}
        profile = get_json(self, f"{API}/user", headers=auth)
        emails: list[Any] = get_json(self, f"{API}/user/emails", expect=list, headers=auth)
        verified = [e for e in emails if isinstance(e, dict) and e.get("verified") is True and e.get("email")]
        # The verified primary address, else any verified one, else the public profile address
        # (which GitHub does not vouch for).
        chosen = next((e for e in verified if e.get("primary") is True), verified[0] if verified else None)
        return ProviderUser(
            id=str(profile.get("id") or ""),
            email=str(chosen["email"]) if chosen else str(profile.get("email") or ""),
            name=str(profile.get("name") or ""),
            verified=chosen is not None,
        )
