"""Settings: a project's own (rename, disable/enable: the forms post to projects.py) and the
server's, read-only, as the environment set them, with every secret masked."""

from __future__ import annotations

from typing import Any
from urllib.parse import SplitResult, urlsplit, urlunsplit

from starlette.responses import Response

from ..auth import admins
from ..tools.config import Settings
from .pages import Page, PageRouter

router = PageRouter()

MASK = "••••••"


@router.get("/projects/{project_id}/settings")
def project_settings(page: Page, project_id: str) -> Response:
    return page.render("project_settings.html", project=page.project(project_id))


def masked_url(url: str | None) -> str:
    """A URL with its password (if any) replaced by a mask; "" for none."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return MASK  # unparseable: it may be all secret
    if password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    netloc = f"{user}:{MASK}@{host}{port}"
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_set(value: str | None) -> str:
    return "set" if value else "not set"


def server_facts(settings: Settings) -> list[tuple[str, list[tuple[str, Any]]]]:
    """What the server runs with, grouped as the page shows it; secrets as "set"/"not set"."""
    if settings.database_url:
        database = [("Engine", "PostgreSQL"), ("URL", masked_url(settings.database_url))]
    else:
        database = [("Engine", "SQLite"), ("File", str((settings.data_dir / "nib.db").resolve()))]
    if settings.storage_device == "s3":
        storage = [
            ("Device", "S3"),
            ("Endpoint", settings.s3_endpoint or "AWS"),
            ("Region", settings.s3_region),
            ("Bucket", settings.s3_bucket),
            ("Access key", is_set(settings.s3_access_key)),
            ("Secret key", is_set(settings.s3_secret_key)),
        ]
    else:
        storage = [("Device", "local"), ("Directory", str((settings.data_dir / "storage").resolve()))]
    storage.append(("File size limit", f"{settings.storage_limit:,} bytes"))
    if settings.smtp_host:
        smtp = [
            ("Host", settings.smtp_host),
            ("Port", settings.smtp_port),
            ("User", settings.smtp_username or "none"),
            ("Password", is_set(settings.smtp_password)),
            ("Secure", settings.smtp_secure or "no"),
            ("Sender", f"{settings.smtp_sender_name} <{settings.smtp_sender_email}>"),
        ]
    else:
        smtp = [("Delivery", "off (no SMTP host): no e-mail is sent")]
    limits = [
        ("Rate limits", "on" if settings.rate_limits else "off"),
        ("Overrides", settings.rate_limits_overrides or "none"),
        ("Redis", masked_url(settings.redis_url) or "none (counters in each process's memory)"),
    ]
    clamav = (
        [("ClamAV", f"{settings.clamav_host}:{settings.clamav_port}"), ("Timeout", f"{settings.clamav_timeout:g} s")]
        if settings.clamav_host
        else [("ClamAV", "off (no host): files are not scanned")]
    )
    server = [
        ("Hostname", settings.hostname),
        ("Public URL", settings.public_url or "not set (the address each request came to)"),
        ("Workers", settings.workers),
        ("Server secret", "set" if settings.secret else "generated, kept in the database"),
        ("OAuth2 mock provider", "on" if settings.oauth2_mock else "off"),
    ]
    return [
        ("Server", server),
        ("Database", database),
        ("Storage", storage),
        ("E-mail (SMTP)", smtp),
        ("Rate limits", limits),
        ("Antivirus", clamav),
    ]


@router.get("/settings")
def server_settings(page: Page) -> Response:
    return page.render(
        "server_settings.html", groups=server_facts(page.settings), administrators=admins.list_admins(page.db)
    )
