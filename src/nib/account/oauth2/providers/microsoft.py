"""Microsoft identity platform (Entra ID, personal accounts), user from Microsoft Graph."""

from __future__ import annotations

from nib.account.oauth2.providers import Provider, ProviderUser, Tokens
from nib.account.oauth2.providers._http import authorize_url, fetch_tokens, get_json, secret_fields


class Microsoft(Provider):
    """The secret is {"clientSecret", "tenantID"}; no tenant = `common` (any account)."""

    key = "microsoft"
    name = "Microsoft"
    default_scopes = ("offline_access", "user.read")

    def login_url(self, state: str, scopes: list[str]) -> str:
        return authorize_url(
            self,
            f"{self._base()}/authorize",
            {
                "client_id": self.config.app_id,
                "redirect_uri": self.config.callback_url,
                "state": state,
                "scope": " ".join(scopes),
                "response_type": "code",
                "response_mode": "query",
            },
        )

    def exchange(self, code: str) -> Tokens:
        form = {
            "code": code,
            "client_id": self.config.app_id,
            "client_secret": secret_fields(self).get("clientSecret", ""),
            "redirect_uri": self.config.callback_url,
            "scope": " ".join(self.default_scopes),
            "grant_type": "authorization_code",
        }
        return fetch_tokens(self, "POST", f"{self._base()}/token", form=form)

    def refresh(self, refresh_token: str) -> Tokens:
        form = {
            "client_id": self.config.app_id,
            "client_secret": secret_fields(self).get("clientSecret", ""),
            "scope": " ".join(self.default_scopes),
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        return fetch_tokens(self, "POST", f"{self._base()}/token", refreshing=refresh_token, form=form)

    def user(self, tokens: Tokens) -> ProviderUser:
        me = get_json(self, "https://graph.microsoft.com/v1.0/me", bearer=tokens.access_token)
        # The user principal name looks like an e-mail address but no one checked that it
        # receives mail (any tenant can set any), so it never counts as verified.
        return ProviderUser(
            id=str(me.get("id") or ""),
            email=str(me.get("userPrincipalName") or ""),
            name=str(me.get("displayName") or ""),
            verified=False,
        )

    def _base(self) -> str:
        tenant = secret_fields(self).get("tenantID") or "common"
        return f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0"
