"""Which Appwrite event each route of nib announces (the ``event=`` of its declaration): every
write route of Users, Account, Teams and Storage, as Appwrite labels it; the routes that announce
nothing are listed too, so a new write route has to be placed in one or the other."""

from __future__ import annotations

from nib.app import ROUTERS

SESSION_CREATED = "users.[userId].sessions.[sessionId].create"
TOKEN_CREATED = "users.[userId].tokens.[tokenId].create"
IMPORTS = ["argon2", "bcrypt", "md5", "phpass", "sha", "scrypt", "scrypt-modified"]

DECLARED = {
    "users.[userId].create": ["POST /users", *(f"POST /users/{name}" for name in IMPORTS), "POST /account"],
    "users.[userId].delete": ["DELETE /users/{userId}"],
    "users.[userId].update.name": ["PATCH /users/{userId}/name", "PATCH /account/name"],
    "users.[userId].update.email": ["PATCH /users/{userId}/email", "PATCH /account/email"],
    "users.[userId].update.phone": ["PATCH /users/{userId}/phone", "PATCH /account/phone"],
    "users.[userId].update.password": ["PATCH /users/{userId}/password", "PATCH /account/password"],
    "users.[userId].update.prefs": ["PATCH /users/{userId}/prefs", "PATCH /account/prefs"],
    "users.[userId].update.status": ["PATCH /users/{userId}/status", "PATCH /account/status"],
    "users.[userId].update.labels": ["PUT /users/{userId}/labels"],
    "users.[userId].update.verification": [
        "PATCH /users/{userId}/verification",
        "PATCH /users/{userId}/verification/phone",
    ],
    "users.[userId].update.impersonator": ["PATCH /users/{userId}/impersonator"],
    "users.[userId].update.mfa": [
        "PATCH /users/{userId}/mfa",
        "PATCH /account/mfa",
        "POST /account/mfa/authenticators/{type}",
        "PUT /account/mfa/authenticators/{type}",
        "POST /account/mfa/recovery-codes",
        "PATCH /account/mfa/recovery-codes",
    ],
    "users.[userId].create.mfa.recovery-codes": ["PATCH /users/{userId}/mfa/recovery-codes"],
    "users.[userId].update.mfa.recovery-codes": ["PUT /users/{userId}/mfa/recovery-codes"],
    "users.[userId].delete.mfa": [
        "DELETE /users/{userId}/mfa/authenticators/{type}",
        "DELETE /account/mfa/authenticators/{type}",
    ],
    SESSION_CREATED: [
        "POST /users/{userId}/sessions",
        "POST /account/sessions",
        "POST /account/sessions/email",
        "POST /account/sessions/anonymous",
        "POST /account/sessions/token",
        "PUT /account/sessions/magic-url",
        "PUT /account/sessions/phone",
        "POST /account/sessions/id-token",
        "GET /account/sessions/oauth2/{provider}/redirect",  # the token flow announces TOKEN_CREATED
        "PUT /account/mfa/challenge",
        "PUT /account/mfa/challenges",
    ],
    "users.[userId].sessions.[sessionId].update": ["PATCH /account/sessions/{sessionId}"],
    "users.[userId].sessions.[sessionId].delete": [
        "DELETE /users/{userId}/sessions/{sessionId}",
        "DELETE /account/sessions",
        "DELETE /account/sessions/{sessionId}",
    ],
    "users.[userId].sessions.delete": ["DELETE /users/{userId}/sessions"],
    TOKEN_CREATED: [
        "POST /users/{userId}/tokens",
        "POST /account/tokens/magic-url",
        "POST /account/sessions/magic-url",
        "POST /account/tokens/email",
        "POST /account/tokens/phone",
    ],
    "users.[userId].recovery.[tokenId].create": ["POST /account/recovery", "POST /account/recovery/otp"],
    "users.[userId].recovery.[tokenId].update": ["PUT /account/recovery", "PUT /account/recovery/otp"],
    "users.[userId].verification.[tokenId].create": [
        "POST /account/verification",
        "POST /account/verifications/email",
        "POST /account/verifications/email/otp",
        "POST /account/verification/phone",
        "POST /account/verifications/phone",
    ],
    "users.[userId].verification.[tokenId].update": [
        "PUT /account/verification",
        "PUT /account/verifications/email",
        "PUT /account/verifications/email/otp",
        "PUT /account/verification/phone",
        "PUT /account/verifications/phone",
    ],
    "users.[userId].targets.[targetId].create": ["POST /users/{userId}/targets", "POST /account/targets/push"],
    "users.[userId].targets.[targetId].update": [
        "PATCH /users/{userId}/targets/{targetId}",
        "PUT /account/targets/{targetId}/push",
    ],
    "users.[userId].targets.[targetId].delete": [
        "DELETE /users/{userId}/targets/{targetId}",
        "DELETE /account/targets/{targetId}/push",
    ],
    "users.[userId].identities.[identityId].delete": [
        "DELETE /users/identities/{identityId}",
        "DELETE /account/identities/{identityId}",
    ],
    "users.[userId].challenges.[challengeId].create": ["POST /account/mfa/challenge", "POST /account/mfa/challenges"],
    "teams.[teamId].create": ["POST /teams"],
    "teams.[teamId].update": ["PUT /teams/{teamId}"],
    "teams.[teamId].update.prefs": ["PUT /teams/{teamId}/prefs"],
    "teams.[teamId].delete": ["DELETE /teams/{teamId}"],
    "teams.[teamId].memberships.[membershipId].create": ["POST /teams/{teamId}/memberships"],
    "teams.[teamId].memberships.[membershipId].update": ["PATCH /teams/{teamId}/memberships/{membershipId}"],
    "teams.[teamId].memberships.[membershipId].update.status": [
        "PATCH /teams/{teamId}/memberships/{membershipId}/status"
    ],
    "teams.[teamId].memberships.[membershipId].delete": ["DELETE /teams/{teamId}/memberships/{membershipId}"],
    # Declared as Appwrite does; realtime carries none of the bucket and file-token events.
    "buckets.[bucketId].create": ["POST /storage/buckets"],
    "buckets.[bucketId].update": ["PUT /storage/buckets/{bucketId}"],
    "buckets.[bucketId].delete": ["DELETE /storage/buckets/{bucketId}"],
    "buckets.[bucketId].files.[fileId].create": ["POST /storage/buckets/{bucketId}/files"],
    "buckets.[bucketId].files.[fileId].update": ["PUT /storage/buckets/{bucketId}/files/{fileId}"],
    "buckets.[bucketId].files.[fileId].delete": ["DELETE /storage/buckets/{bucketId}/files/{fileId}"],
    "tokens.[tokenId].create": ["POST /tokens/buckets/{bucketId}/files/{fileId}"],
    "tokens.[tokenId].update": ["PATCH /tokens/{tokenId}"],
    "tokens.[tokenId].delete": ["DELETE /tokens/{tokenId}"],
}
# Writes that announce nothing: JWTs are no stored resource; passkeys have no event in Appwrite
# (signing in with one ends in POST /account/sessions/token, which announces the session); the
# provider's callback only forwards the browser to the redirect route.
SILENT = [
    "POST /users/{userId}/jwts",
    "POST /account/jwt",
    "POST /account/jwts",
    "PATCH /users/{userId}/passkeys/{passkeyId}",
    "DELETE /users/{userId}/passkeys/{passkeyId}",
    "POST /account/passkeys",
    "PATCH /account/passkeys/{passkeyId}",
    "DELETE /account/passkeys/{passkeyId}",
    "PUT /account/passkeys/{passkeyId}/verification",
    "POST /account/tokens/passkey",
    "PUT /account/tokens/passkey",
    "POST /account/sessions/oauth2/callback/{provider}/{projectId}",
]


def _routes() -> dict[str, str | None]:
    """Every write route (and every GET that declares an event): "METHOD /path" -> its event."""
    return {
        f"{route.method} {route.path.removeprefix('/v1')}": route.event
        for router in ROUTERS
        for route in router.routes
        if route.method != "GET" or route.event
    }


def test_every_write_route_declares_appwrites_event():
    routes = _routes()
    expected = {route: event for event, declared in DECLARED.items() for route in declared}
    assert {route: event for route, event in routes.items() if event} == expected


def test_the_rest_announce_nothing():
    assert sorted(route for route, event in _routes().items() if event is None) == sorted(SILENT)
