"""The console in Chromium, driven as a person would: the first administrator from the printed
set-up link, a project, a user found and blocked (their SDK sign-in refused), a 30 MB image
uploaded with its progress bar reaching 100 % and its thumbnail shown, an API key with two
scopes used from the Python SDK and revoked, a user whose name is markup, a form posted without
its CSRF token; screenshots of the main pages at desktop and phone widths along the way.

Screenshots go to the test's temporary directory; with NIB_SCREENSHOTS=docs they replace the
ones in docs/screenshots/ that README.md shows.
"""

from __future__ import annotations

import os
import struct
import time
import uuid
import zlib
from pathlib import Path

import pytest
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.services.account import Account
from appwrite.services.storage import Storage
from appwrite.services.users import Users
from console_browser import ConsoleBrowser

from live_server import start_server, stop_server

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
PASSWORD = "console-browser-1"


def _png(path: Path, width: int, height: int, rows: bytes, level: int) -> Path:
    """An 8-bit RGB PNG of ``rows`` (each a filter byte and its pixels), deflated at ``level``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(rows, level))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + idat + chunk(b"IEND", b""))
    return path


def noisy_png(path: Path, width: int, height: int) -> Path:
    """Random pixels, stored uncompressed: width x height x 3 bytes and a bit."""
    return _png(path, width, height, b"".join(b"\x00" + os.urandom(width * 3) for _ in range(height)), 0)


def solid_png(path: Path, width: int, height: int, rgb: tuple[int, int, int]) -> Path:
    """One colour."""
    return _png(path, width, height, (b"\x00" + bytes(rgb) * width) * height, 6)


@pytest.fixture
def nib(tmp_path, smtp):
    server = start_server("sqlite", tmp_path / "nib", env={**smtp.env(), "NIB_RATE_LIMITS": "off"})
    yield server
    stop_server(server)


@pytest.fixture
def shots(tmp_path):
    """Where screenshots go: docs/screenshots with NIB_SCREENSHOTS=docs, else the test's tmp dir."""
    folder = DOCS if os.environ.get("NIB_SCREENSHOTS") == "docs" else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sdk(nib, project: str, key: str | None = None) -> Client:
    client = Client().set_endpoint(nib.endpoint).set_project(project)
    return client.set_key(key) if key else client


def _refused(call) -> AppwriteException:
    with pytest.raises(AppwriteException) as raised:
        call()
    return raised.value


def _shoot(browser: ConsoleBrowser, folder: Path, name: str) -> None:
    """A desktop and a 360 px screenshot of the current page; at 360 px nothing may overflow."""
    path = browser.screenshot(folder / f"{name}.png")
    assert struct.unpack(">I", path.read_bytes()[16:20])[0] == 1280  # the PNG's width
    assert browser.evaluate("document.title").endswith("· nib") and browser.count("main h1") >= 1
    browser.viewport(360, 740)
    overflow = browser.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a 360px screen"
    browser.screenshot(folder / f"{name}-phone.png")
    browser.viewport(1280, 860)


def test_an_administrator_runs_a_project_from_the_console(nib, node, chromium, tmp_path, shots):
    origin = nib.endpoint.removesuffix("/v1")
    link = next(line.strip() for line in nib.banner if "/console/setup?token=" in line)
    project = f"shop-{uuid.uuid4().hex[:6]}"
    with ConsoleBrowser(node, chromium, origin) as browser:
        # The first administrator, from the link the first start printed.
        browser.goto(link)
        browser.fill("#f-name", "Ada Admin")
        browser.fill("#f-email", "ada@example.com")
        browser.fill("#f-password", PASSWORD)
        browser.fill("#f-confirm", PASSWORD)
        landed = browser.submit("button[type=submit]")
        assert landed["url"] == origin + "/console/projects"

        # A project.
        browser.fill("#f-name", "Shop")
        browser.fill("#f-project_id", project)
        landed = browser.submit("text=Create project")
        assert landed["url"] == f"{origin}/console/projects/{project}"
        _shoot(browser, shots, "overview")

        # A user, created and found again by search.
        browser.goto(f"/console/projects/{project}/users")
        browser.fill("#f-name", "Grace Hopper")
        browser.fill("#f-email", "grace@example.com")
        browser.fill("#f-password", "grace-password-1")
        browser.submit("text=Create user")
        browser.goto(f"/console/projects/{project}/users")
        browser.fill("#f-search", "grace")
        browser.submit("#users-search button[type=submit]")
        assert browser.count("table.users tbody tr") == 1
        assert "grace@example.com" in browser.text("table.users tbody")
        _shoot(browser, shots, "users")

        # Blocked in the console, refused by the SDK.
        account = Account(_sdk(nib, project))
        account.create_email_password_session("grace@example.com", "grace-password-1")
        browser.click("table.users tbody a", navigate=True)
        _shoot(browser, shots, "user")
        browser.submit("text=Block user")
        assert "blocked" in browser.text("main").lower()
        refused = _refused(
            lambda: Account(_sdk(nib, project)).create_email_password_session("grace@example.com", "grace-password-1")
        )
        assert refused.type == "user_blocked"

        # A bucket, a 30 MB image uploaded through the page, its thumbnail shown.
        browser.goto(f"/console/projects/{project}/storage")
        browser.fill("#f-name", "Photos")
        browser.fill("#f-bucket_id", "photos")
        browser.submit("text=Create bucket")
        browser.goto(f"/console/projects/{project}/storage/photos")
        image = noisy_png(tmp_path / "big-photo.png", 3200, 3200)
        assert image.stat().st_size > 30_000_000
        small = solid_png(tmp_path / "red.png", 400, 300, (220, 20, 20))
        browser.upload("#upload-input", image, small)
        for name in ("big-photo.png", "red.png"):
            browser.wait_for(
                f"(() => {{ const li = document.querySelector('#uploads li[data-name=\"{name}\"]');"
                " return li && li.textContent.includes('Done'); })()",
                timeout_ms=120_000,
            )
            value, maximum = browser.evaluate(
                f"(() => {{ const p = document.querySelector('#uploads li[data-name=\"{name}\"] progress');"
                " return [p.value, p.max]; })()"
            )
            assert value == maximum > 0
        browser.goto(f"/console/projects/{project}/storage/photos?view=grid")
        assert browser.count(".files-grid img") == 2
        loaded = (
            "(() => [...document.querySelectorAll('.files-grid img')].every((i) => i.complete && i.naturalWidth > 0))()"
        )
        browser.wait_for(loaded, timeout_ms=30_000)
        # The small image's thumbnail is the picture itself (the 30 MB one, over the 20 MB preview
        # limit, is shown as the image type's icon, as Appwrite does).
        pixel = browser.evaluate(
            "(() => { const img = [...document.querySelectorAll('.files-grid .tile')]"
            ".find((t) => t.textContent.includes('red.png')).querySelector('img');"
            " const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;"
            " const g = c.getContext('2d'); g.drawImage(img, 0, 0);"
            " return [...g.getImageData(c.width / 2, c.height / 2, 1, 1).data].slice(0, 3); })()"
        )
        assert pixel[0] > 180 and pixel[1] < 60 and pixel[2] < 60, pixel
        _shoot(browser, shots, "files")

        # A key with two scopes, used from the Python SDK, then revoked.
        browser.goto(f"/console/projects/{project}/keys")
        browser.fill("#f-name", "Reporting")
        browser.check("input[name=scopes][value='users.read']")
        browser.check("input[name=scopes][value='users.write']")
        browser.submit("text=Create key")
        secret = browser.text(".secret code").strip()
        assert secret.startswith("nib_")
        users = Users(_sdk(nib, project, secret))
        assert users.list().total == 1
        assert _refused(lambda: Storage(_sdk(nib, project, secret)).list_buckets()).type == "general_unauthorized_scope"
        browser.goto(f"/console/projects/{project}/keys")
        _shoot(browser, shots, "keys")
        browser.submit("table.keys tbody tr:has-text('Reporting') button:has-text('Revoke')")
        deadline = time.monotonic() + 3
        while True:
            try:
                users.list()
            except AppwriteException as error:
                assert error.code == 401
                break
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.2)

        # Markup in a name stays text: nothing runs, nothing loads.
        browser.goto(f"/console/projects/{project}/users")
        browser.fill("#f-name", HOSTILE)
        browser.fill("#f-email", "hostile@example.com")
        browser.submit("text=Create user")
        browser.goto(f"/console/projects/{project}/users")
        assert HOSTILE in browser.text("table.users tbody")
        assert browser.count("table.users img") == 0
        browser.click(f"table.users tbody a:has-text('{HOSTILE}')", navigate=True)
        assert browser.count("main img[src='x']") == 0
        log = browser.log()
        # The only dialogs were the console's own confirmations (the key's revocation): no alert(1).
        assert all(text.startswith("Revoke") for text in log["dialogs"]), log["dialogs"]
        assert log["errors"] == []

        # A form posted without the session's CSRF token is refused.
        status = browser.evaluate(
            f"fetch('/console/projects/{project}/name', {{method: 'POST', body: new URLSearchParams({{name: 'Hijacked'}})}})"
            ".then((r) => r.status)"
        )
        assert status == 403
        browser.goto("/console/projects")
        assert "Hijacked" not in browser.text("main")
        _shoot(browser, shots, "projects")
