"""Account routes that need a provider nib does not have: SMS.

They validate their parameters like Appwrite and then answer Appwrite's error for an SMS
provider that is not configured: 503 ``general_phone_disabled``. (``PUT /account/sessions/phone``
is the token exchange, in routes.py; OAuth2 sign-in is in oauth2/.)
"""

from __future__ import annotations

from ..http.context import Context
from ..http.routing import Param, Router
from ..tools import validators as v
from ..tools.errors import AppwriteError

router = Router()


def _phone_disabled(ctx: Context, **params) -> None:
    raise AppwriteError("general_phone_disabled")


router.post(
    "/v1/account/tokens/phone",
    scope="sessions.write",
    status=201,
    params=[Param("userId", v.custom_id), Param("phone", v.phone)],
    event="users.[userId].tokens.[tokenId].create",
    auth_method="phone",
)(_phone_disabled)
for _path in ("/v1/account/verification/phone", "/v1/account/verifications/phone"):
    router.post(_path, scope="account", status=201, event="users.[userId].verification.[tokenId].create")(
        _phone_disabled
    )
    router.put(
        _path,
        scope="public",
        params=[Param("userId", v.uid), Param("secret", v.text(256))],
        event="users.[userId].verification.[tokenId].update",
    )(_phone_disabled)
