"""A project's sign-in settings: auth security policies, auth methods on/off, OAuth2 providers
(app ID, write-only secret, the callback URL to register) and passkeys on/off."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from ..account.oauth2 import config as oauth2_config
from ..account.oauth2 import flow as oauth2_flow
from ..account.oauth2.providers import ADAPTERS
from ..auth import projects as project_service
from ..tools.errors import AppwriteError
from .pages import Page, PageRouter

router = PageRouter()

AUDIT = ("project.update", "project/{project_id}")


@dataclass(frozen=True)
class ProviderView:
    """One provider as the page shows it (never its secret)."""

    key: str
    name: str
    configured: bool
    enabled: bool
    app_id: str
    callback_url: str
    # The fields a JSON secret must hold (oidc, microsoft, apple, gitlab); empty: a plain string.
    json_fields: tuple[str, ...]


def public_url(page: Page) -> str:
    """nib's address as browsers and providers reach it: the configured public URL, else the
    address this request came to (as the API's own sign-in builds it)."""
    configured = page.settings.public_url.rstrip("/")
    if configured:
        return configured
    host = page.request.headers.get("host") or page.request.url.netloc
    return f"{'https' if page.secure else 'http'}://{host}"


def providers(page: Page, project_id: str) -> list[ProviderView]:
    """Every provider this server offers, configured or not, in name order."""
    stored = {row["provider"]: row for row in oauth2_config.list_providers(page.db, project_id=project_id)}
    base = public_url(page)
    found = []
    for key in ADAPTERS:
        cls = oauth2_flow.supported(page.settings, key)
        if cls is None:
            continue
        row: dict[str, Any] = stored.get(key, {})
        found.append(
            ProviderView(
                key=key,
                name=cls.name,
                configured=bool(row),
                enabled=bool(row.get("enabled")),
                app_id=str(row.get("appId", "")),
                callback_url=oauth2_flow.callback_url(base, key, project_id),
                json_fields=oauth2_config.JSON_SECRETS.get(key, ()),
            )
        )
    return sorted(found, key=lambda view: view.name.lower())


@router.get("/projects/{project_id}/auth")
def auth(page: Page, project_id: str) -> Response:
    project = page.project(project_id)
    policies = project_service.auth_policies(page.db, project_id)
    return page.render(
        "auth.html",
        project=project,
        policies=policies,
        session_length=session_length_parts(policies.session_length),
        units=UNITS,
        methods=[(method, METHOD_NAMES[method]) for method in project_service.AUTH_METHODS if method != "passkey"],
        providers=providers(page, project_id),
    )


@router.post("/projects/{project_id}/auth/oauth2/{provider}", audit=AUDIT)
def save_provider(page: Page, project_id: str, provider: str) -> Response:
    """Save a provider's settings; an empty secret keeps the stored one."""
    page.project(project_id)
    oauth2_config.check_provider(provider)
    enabled = page.value("enabled") == "on"
    app_id = page.value("app_id").strip()
    secret = page.value("secret").strip()
    configured = any(
        row["provider"] == provider for row in oauth2_config.list_providers(page.db, project_id=project_id)
    )
    if not enabled and not app_id and not secret:
        # Switching off a provider whose fields were cleared: keep what is stored, just turn it off.
        if configured:
            oauth2_config.disable_provider(page.db, project_id=project_id, provider=provider)
        return page.redirect(f"/projects/{project_id}/auth#oauth2-{provider}", f"{provider} disabled.")
    oauth2_config.set_provider(
        page.db,
        page.settings,
        project_id=project_id,
        provider=provider,
        app_id=app_id,
        secret=secret or None,
        enabled=enabled,
    )
    return page.redirect(
        f"/projects/{project_id}/auth#oauth2-{provider}", f"{provider} {'enabled' if enabled else 'saved, disabled'}."
    )


# -- policies and methods ---------------------------------------------------------------------------

# Session length units the form offers, largest first.
UNITS = (("days", 86400), ("hours", 3600), ("minutes", 60), ("seconds", 1))
METHOD_NAMES = {
    "email-password": "E-mail and password",
    "magic-url": "Magic URL",
    "email-otp": "E-mail OTP",
    "anonymous": "Anonymous",
    "invites": "Team invitations",
    "jwt": "JWT",
    "phone": "Phone (SMS)",
    "passkey": "Passkeys",
}


def session_length_parts(seconds: int) -> tuple[int, str]:
    """The session length in the largest unit that divides it (0 stays in days)."""
    for unit, size in UNITS:
        if seconds % size == 0:
            return seconds // size, unit
    return seconds, "seconds"


def _integer(page: Page, name: str, label: str) -> int:
    text = page.value(name).strip()
    try:
        return int(text)
    except ValueError:
        raise AppwriteError("general_argument_invalid", f"{label}: a whole number, please.") from None


@router.post("/projects/{project_id}/auth/policies", audit=AUDIT)
def save_policies(page: Page, project_id: str) -> Response:
    page.project(project_id)
    sizes = dict(UNITS)
    unit = page.value("session_length_unit")
    if unit not in sizes:
        raise AppwriteError("general_argument_invalid", "Session length: choose a unit.")
    project_service.update_auth_policies(
        page.db,
        project_id=project_id,
        user_limit=_integer(page, "user_limit", "Users limit"),
        session_length=_integer(page, "session_length", "Session length") * sizes[unit],
        sessions_limit=_integer(page, "sessions_limit", "Sessions limit"),
        password_history=_integer(page, "password_history", "Password history"),
        password_dictionary=page.value("password_dictionary") == "on",
        personal_data_check=page.value("personal_data_check") == "on",
        memberships_user_name=page.value("memberships_user_name") == "on",
        memberships_user_email=page.value("memberships_user_email") == "on",
        memberships_mfa=page.value("memberships_mfa") == "on",
    )
    return page.redirect(f"/projects/{project_id}/auth#policies", "Security policies saved.")


@router.post("/projects/{project_id}/auth/methods", audit=AUDIT)
def save_methods(page: Page, project_id: str) -> Response:
    page.project(project_id)
    chosen = set(page.values("methods"))
    # Passkeys have their own switch (their own form): this one leaves them as they are.
    methods = {method: method in chosen for method in project_service.AUTH_METHODS if method != "passkey"}
    project_service.update_auth_policies(page.db, project_id=project_id, methods=methods)
    return page.redirect(f"/projects/{project_id}/auth#methods", "Auth methods saved.")


@router.post("/projects/{project_id}/auth/passkeys", audit=AUDIT)
def save_passkeys(page: Page, project_id: str) -> Response:
    page.project(project_id)
    enabled = page.value("enabled") == "on"
    project_service.update_auth_policies(page.db, project_id=project_id, methods={"passkey": enabled})
    return page.redirect(f"/projects/{project_id}/auth#passkeys", "Passkeys on." if enabled else "Passkeys off.")
