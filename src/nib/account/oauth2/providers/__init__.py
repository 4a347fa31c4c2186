"""The OAuth2 provider seam: one small class per provider, all behind ``Provider``.

A provider turns the flow's steps into that provider's HTTP: the authorize URL the browser is
sent to, the code exchange, the refresh, and the user behind an access token. Everything else
(state, users, identities, sessions) is the flow's and the same for every provider. Adding a
provider is one module here with one ``Provider`` subclass and one line in ``ADAPTERS``.

Adapters are loaded on first use (``adapter_class``): most processes never sign anyone in with
most providers, and the HTTP and JOSE libraries they use stay unloaded until then.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

# Every provider key Appwrite accepts in the `provider` path parameter (1.5's list, `mock`
# last, plus those the newest SDKs' enums add). Keys without an adapter answer 400
# `project_provider_unsupported`.
PROVIDER_KEYS = (
    "amazon apple auth0 authentik autodesk bitbucket bitly box dailymotion discord disqus dropbox etsy facebook "
    "github gitlab google linkedin microsoft notion oidc okta paypal paypalSandbox podio salesforce slack spotify "
    "stripe tradeshift tradeshiftBox twitch wordpress yahoo yammer yandex zoho zoom "
    "appwrite cloudflare figma fusionauth huggingface kakao keycloak kick resend tiktok webflow x mock"
).split()

# Provider key -> "module:Class" under this package, imported on first use.
ADAPTERS: dict[str, str] = {
    "apple": "apple:Apple",
    "discord": "discord:Discord",
    "facebook": "facebook:Facebook",
    "github": "github:GitHub",
    "gitlab": "gitlab:GitLab",
    "google": "google:Google",
    "microsoft": "microsoft:Microsoft",
    "mock": "mock:Mock",
    "oidc": "oidc:Oidc",
}

USER_AGENT = "Appwrite OAuth2"  # what Appwrite's adapters send; some providers require one


@dataclass(frozen=True)
class ProviderConfig:
    """What a project configured for a provider, and where nib is reached."""

    app_id: str
    # The secret as configured: a plain string, or for some providers a JSON object (its
    # fields are the adapter's to read, e.g. {"clientSecret", "tenantID"}).
    secret: str
    # The redirect URI registered at the provider (the callback route under the public URL).
    callback_url: str
    # Test rigs and mirrors: every provider URL's scheme and host replaced by this origin.
    origin: str = ""
    # nib's own public base URL (the mock provider is served there).
    public_url: str = ""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str = ""
    expires_in: int = 0  # seconds; 0 = the provider did not say
    id_token: str = ""


@dataclass(frozen=True)
class ProviderUser:
    id: str
    email: str = ""
    name: str = ""
    verified: bool = False  # whether the provider vouches for the e-mail


def at_origin(url: str, origin: str) -> str:
    """``url`` with its scheme and host replaced by ``origin`` (unchanged when that is empty)."""
    if not origin:
        return url
    target = urlsplit(origin)
    parts = urlsplit(url)
    return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))


class ProviderError(Exception):
    """The provider answered an error: ``status`` is its HTTP status (the error's code)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Provider(ABC):
    """One provider's endpoints. ``http`` is the client every request goes through."""

    config: ProviderConfig
    http: httpx.Client
    key: ClassVar[str]
    name: ClassVar[str]  # as Appwrite names it in messages ("GitHub", "OpenID Connect")
    # The scopes always asked for; the start route's `scopes` are added to them.
    default_scopes: ClassVar[tuple[str, ...]] = ()
    # Extra parameters the callback carried besides code/state (Apple's `user`), set by the flow.
    callback_params: dict[str, str] = field(default_factory=dict)
    # The sign-in's one-time value, set by the flow from its state: OpenID Connect providers
    # get it in the authorize URL and must put it in their ID token.
    nonce: str = ""
    # Only served when the test rig is on (NIB_OAUTH2_MOCK): the mock provider.
    test_only: ClassVar[bool] = False

    def url(self, url: str) -> str:
        """``url``, sent to ``config.origin`` instead when one is configured."""
        return at_origin(url, self.config.origin)

    def scopes(self, requested: list[str]) -> list[str]:
        return list(dict.fromkeys([*self.default_scopes, *requested]))

    @abstractmethod
    def login_url(self, state: str, scopes: list[str]) -> str:
        """The provider's authorize URL for this state and these (already merged) scopes."""

    @abstractmethod
    def exchange(self, code: str) -> Tokens:
        """The tokens for an authorization code; ``ProviderError`` when the provider refuses."""

    @abstractmethod
    def refresh(self, refresh_token: str) -> Tokens:
        """New tokens for a refresh token (the old refresh token kept when none comes back)."""

    @abstractmethod
    def user(self, tokens: Tokens) -> ProviderUser:
        """Who the tokens belong to."""


def adapter_class(key: str) -> type[Provider] | None:
    """The adapter of ``key``, imported now; None when nib has none for it."""
    target = ADAPTERS.get(key)
    if target is None:
        return None
    module, _, name = target.partition(":")
    cls: type[Provider] = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    return cls
