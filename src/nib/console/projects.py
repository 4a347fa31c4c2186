"""The console's projects: list, create, rename, disable and enable."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from ..auth import projects as project_service
from .pages import Page, PageRouter

router = PageRouter()


@router.get("/")
def home(page: Page) -> Response:
    return page.redirect("/projects")


@router.get("/projects")
def projects(page: Page) -> Response:
    return page.render("projects.html")


@router.post("/projects", audit=("project.create", "project/{id}"))
def create(page: Page) -> Response:
    row = project_service.create_project(
        page.db, project_id=page.value("project_id") or "unique()", name=page.value("name")
    )
    page.created_id = page.audit_project = row["id"]
    return page.redirect(f"/projects/{row['id']}", f"Project {row['name']} created.")


@router.post("/projects/{project_id}/name", audit=("project.update", "project/{project_id}"))
def rename(page: Page, project_id: str) -> Response:
    project_service.rename_project(page.db, project_id=project_id, name=page.value("name"))
    return page.redirect(f"/projects/{project_id}/settings", "Project renamed.")


@router.post("/projects/{project_id}/status", audit=("project.update", "project/{project_id}"))
def set_enabled(page: Page, project_id: str) -> Response:
    enabled = page.value("enabled") == "on"
    project_service.set_project_enabled(page.db, project_id=project_id, enabled=enabled)
    return page.redirect(f"/projects/{project_id}/settings", "Project enabled." if enabled else "Project disabled.")


@router.get("/go")
def go(page: Page) -> Response:
    """The project switcher's target: a project's overview, or the list."""
    project_id = page.value("project")
    return page.redirect(f"/projects/{quote(project_id, safe='')}" if project_id else "/projects")
