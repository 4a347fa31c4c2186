"""Sign in with Apple: a Services ID as the app ID and a client secret signed from the team's key."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from nib.account.oauth2.providers import Provider, ProviderError, ProviderUser, Tokens
from nib.account.oauth2.providers._http import authorize_url, fetch_tokens, secret_fields

AUDIENCE = "https://appleid.apple.com"
TOKEN_URL = "https://appleid.apple.com/auth/token"
SECRET_LIFETIME = 180 * 86400  # Apple accepts client secrets valid for up to six months


class Apple(Provider):
    """The secret is {"keyID", "teamID", "p8"}: the Sign in with Apple key (PEM) and its IDs.

    Apple POSTs the callback (form_post) with the code and, on the user's first consent only,
    ``user`` ({"name": {"firstName", "lastName"}, "email"}): the only place the name ever comes."""

    key = "apple"
    name = "Apple"
    default_scopes = ("name", "email")

    def login_url(self, state: str, scopes: list[str]) -> str:
        return authorize_url(
            self,
            "https://appleid.apple.com/auth/authorize",
            {
                "client_id": self.config.app_id,
                "redirect_uri": self.config.callback_url,
                "state": state,
                "response_type": "code",
                "response_mode": "form_post",
                "scope": " ".join(scopes),
            },
        )

    def exchange(self, code: str) -> Tokens:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self.config.app_id,
            "client_secret": self.client_secret(),
            "redirect_uri": self.config.callback_url,
        }
        return fetch_tokens(self, "POST", TOKEN_URL, form=form)

    def refresh(self, refresh_token: str) -> Tokens:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": self.config.app_id,
            "client_secret": self.client_secret(),
        }
        return fetch_tokens(self, "POST", TOKEN_URL, refreshing=refresh_token, form=form)

    def user(self, tokens: Tokens) -> ProviderUser:
        # The ID token came straight from Apple's token endpoint over TLS: its payload is read
        # as it is. The one the browser POSTed with the callback is never used (anyone can
        # forge that one).
        claims = _payload(tokens.id_token)
        return ProviderUser(
            id=str(claims.get("sub") or ""),
            email=str(claims.get("email") or ""),
            name=self._name(),
            # Apple sends true or "true".
            verified=claims.get("email_verified") in (True, "true"),
        )

    def client_secret(self) -> str:
        """A fresh ES256 JWT from the team's key, which Apple takes as the client secret."""
        import jwt

        fields = secret_fields(self)
        now = int(time.time())
        claims = {"iss": fields.get("teamID", ""), "iat": now, "exp": now + SECRET_LIFETIME, "aud": AUDIENCE}
        try:
            return jwt.encode(
                {**claims, "sub": self.config.app_id},
                fields.get("p8", ""),
                algorithm="ES256",
                headers={"kid": fields.get("keyID", "")},
            )
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ProviderError(
                500, "The Apple secret must be JSON with keyID, teamID and p8 (the key's PEM)."
            ) from exc

    def _name(self) -> str:
        try:
            user = json.loads(self.callback_params.get("user", ""))
        except ValueError:
            return ""
        name = user.get("name") if isinstance(user, dict) else None
        if not isinstance(name, dict):
            return ""
        return " ".join(str(name.get(part) or "") for part in ("firstName", "lastName")).strip()


def _payload(token: str) -> dict[str, Any]:
    """The claims of a JWT, unchecked; {} when it is not one."""
    try:
        segment = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}
