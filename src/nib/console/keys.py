"""A project's API keys (create with scopes and expiry, the secret shown once; revoke) and web
platforms (add, remove)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from starlette.responses import Response

from ..auth import platforms as platform_service
from ..auth import projects as project_service
from ..auth.principals import ALL_KEY_SCOPES
from ..tools.errors import AppwriteError
from .pages import Page, PageRouter

router = PageRouter()


def expiry(value: str) -> datetime | None:
    """The form's expiry date (``YYYY-MM-DD``; empty = never) as the moment the key stops
    working: the start of that day, UTC."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise AppwriteError("general_argument_invalid", "Invalid `expire` param: a date such as 2030-01-31.") from None
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def _render(page: Page, project_id: str) -> Response:
    project = page.project(project_id)
    tomorrow = (datetime.now(timezone.utc).date() + timedelta(days=1)).isoformat()
    return page.render(
        "keys.html",
        project=project,
        keys=project_service.list_keys(page.db, project_id=project_id),
        platforms=platform_service.list_platforms(page.db, project_id=project_id),
        scopes=ALL_KEY_SCOPES,
        tomorrow=tomorrow,
    )


@router.get("/projects/{project_id}/keys")
def keys(page: Page, project_id: str) -> Response:
    return _render(page, project_id)


@router.post("/projects/{project_id}/keys", audit=("key.create", "key/{id}"))
def create_key(page: Page, project_id: str) -> Response:
    project = page.project(project_id)
    name = page.value("name").strip()
    if not 1 <= len(name) <= 128:
        raise AppwriteError("general_argument_invalid", "Invalid `name` param: 1 to 128 characters.")
    scopes = page.values("scopes")
    if not scopes:
        raise AppwriteError("general_argument_invalid", "Choose at least one scope.")
    key = project_service.create_key(
        page.db, project_id=project_id, name=name, scopes=scopes, expire=expiry(page.value("expire"))
    )
    page.created_id = key["$id"]
    # The answer to the POST is the only page that ever holds the secret: it is stored as a digest.
    return page.render("key_created.html", project=project, key=key)


@router.post("/projects/{project_id}/keys/{key_id}/delete", audit=("key.delete", "key/{key_id}"))
def revoke_key(page: Page, project_id: str, key_id: str) -> Response:
    page.project(project_id)
    project_service.delete_key(page.db, project_id=project_id, key_id=key_id)
    return page.redirect(f"/projects/{project_id}/keys", "Key revoked.")


@router.post("/projects/{project_id}/platforms", audit=("platform.create", "platform/{id}"))
def add_platform(page: Page, project_id: str) -> Response:
    page.project(project_id)
    platform = platform_service.add_platform(
        page.db, project_id=project_id, hostname=page.value("hostname").strip(), name=page.value("name").strip()
    )
    page.created_id = platform["$id"]
    return page.redirect(f"/projects/{project_id}/keys", f"Platform {platform['hostname']} added.")


@router.post(
    "/projects/{project_id}/platforms/{platform_id}/delete", audit=("platform.delete", "platform/{platform_id}")
)
def remove_platform(page: Page, project_id: str, platform_id: str) -> Response:
    page.project(project_id)
    platform_service.remove_platform(page.db, project_id=project_id, platform_id=platform_id)
    return page.redirect(f"/projects/{project_id}/keys", "Platform removed.")
