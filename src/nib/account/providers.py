"""Account routes that need a provider nib does not have: SMS and OAuth2.

They validate their parameters like Appwrite and then answer Appwrite's error for a provider
that is not configured: 503 ``general_phone_disabled`` for SMS, 412 ``project_provider_disabled``
for every OAuth2 provider. (``PUT /account/sessions/phone`` is the token exchange, in routes.py.)
"""

from __future__ import annotations

from ..http.context import Context
from ..http.routing import Param, Router, optional
from ..tools import validators as v
from ..tools.errors import AppwriteError

router = Router()

# The OAuth2 providers of Appwrite 1.5's client spec.
OAUTH2_PROVIDERS = (
    "amazon apple auth0 authentik autodesk bitbucket bitly box dailymotion discord disqus dropbox etsy facebook "
    "github gitlab google linkedin microsoft notion oidc okta paypal paypalSandbox podio salesforce slack spotify "
    "stripe tradeshift tradeshiftBox twitch wordpress yahoo yammer yandex zoho zoom mock"
).split()


def _phone_disabled(ctx: Context, **params) -> None:
    raise AppwriteError("general_phone_disabled")


def _provider_disabled(ctx: Context, **params) -> None:
    raise AppwriteError("project_provider_disabled")


router.post(
    "/v1/account/tokens/phone",
    scope="sessions.write",
    status=201,
    params=[Param("userId", v.custom_id), Param("phone", v.phone)],
)(_phone_disabled)
for _path in ("/v1/account/verification/phone", "/v1/account/verifications/phone"):
    router.post(_path, scope="account", status=201)(_phone_disabled)
    router.put(_path, scope="public", params=[Param("userId", v.uid), Param("secret", v.text(256))])(_phone_disabled)

_OAUTH2_PARAMS = [
    Param("provider", v.whitelist(OAUTH2_PROVIDERS, strict=True)),
    optional("success", v.text(2048, 0), default=""),
    optional("failure", v.text(2048, 0), default=""),
    optional("scopes", v.array_of(v.text(4096), 100, "Value must be a valid string and no longer than 4096 chars")),
]
router.get("/v1/account/sessions/oauth2/{provider}", scope="sessions.write", params=_OAUTH2_PARAMS)(_provider_disabled)
router.get("/v1/account/tokens/oauth2/{provider}", scope="sessions.write", params=_OAUTH2_PARAMS)(_provider_disabled)
