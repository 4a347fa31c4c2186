"""The console's Storage and Teams pages in Chromium: several files chosen for a bucket's upload
zone at once through a faulty network (5xx answers, connections cut mid-chunk: the uploads resume
and the stored bytes are the files'), the bucket's settings and a file's permissions edited with
the checkbox table, confirmations asked before deleting, a team invitation e-mailed; at 360 px
nothing overflows."""

from __future__ import annotations

import hashlib
import os
import time
import uuid

import pytest
from appwrite.input_file import InputFile
from appwrite.services.storage import Storage
from appwrite.services.teams import Teams
from console_browser import ConsoleBrowser

from console_support import PASSWORD, create_admin
from faulty_proxy import DROP, ERROR_500, PASS, FaultyProxy
from live_server import start_server, stop_server


@pytest.fixture
def nib(tmp_path, smtp):
    server = start_server("sqlite", tmp_path / "nib", env={**smtp.env(), "NIB_RATE_LIMITS": "off"})
    yield server
    stop_server(server)


def _signed_in(browser: ConsoleBrowser, nib) -> None:
    email = create_admin(nib)
    browser.goto("/console/login")
    browser.fill("#f-email", email)
    browser.fill("#f-password", PASSWORD)
    browser.click("button[type=submit]", navigate=True)


def _narrow_fits(browser: ConsoleBrowser) -> None:
    browser.viewport(360, 740)
    assert browser.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    browser.viewport(1280, 860)


def _done(name: str) -> str:
    return (
        f"(() => {{ const li = document.querySelector('#uploads li[data-name=\"{name}\"]');"
        " return li !== null && li.querySelector('.status').textContent === 'Done'; })()"
    )


def test_uploads_resume_after_network_errors(nib, node, chromium, tmp_path):
    """The console reached through a proxy that first answers every request with a 500, then
    cuts every connection 2 MiB in, then behaves: the uploads retry with backoff until they
    complete."""
    storage = Storage(nib.sdk())
    storage.create_bucket("uploads", "Uploads")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(26 * 1024 * 1024))  # 6 chunks
    small = tmp_path / "small.txt"
    small.write_bytes(b"small file\n")
    proxy = FaultyProxy(nib.endpoint, drop_after=2 * 1024 * 1024)
    try:
        with ConsoleBrowser(node, chromium, proxy.endpoint) as browser:
            _signed_in(browser, nib)
            browser.goto(f"/console/projects/{nib.project}/storage/uploads")
            proxy.set(ERROR_500)
            browser.upload("#upload-input", big, small)
            browser.wait_for(
                "document.querySelector('#uploads li[data-name=\"big.bin\"] .status').textContent.startsWith('Connection lost')"
            )
            # Then every connection is cut 2 MiB into its request: no chunk gets through.
            proxy.set(DROP)
            deadline = time.monotonic() + 30
            while not any("/v1/storage/buckets/uploads/files" in line for line in browser.log()["failed"]):
                assert time.monotonic() < deadline, "no request was cut"
                time.sleep(0.2)
            assert all(f.chunksuploaded == 0 for f in storage.list_files("uploads").files)
            proxy.set(PASS)
            browser.wait_for(_done("big.bin"), timeout_ms=120_000)
            browser.wait_for(_done("small.txt"), timeout_ms=60_000)
            bars = browser.evaluate(
                "Array.from(document.querySelectorAll('#uploads progress'), (p) => [p.value, p.max])"
            )
            assert bars == [[big.stat().st_size] * 2, [small.stat().st_size] * 2]
            # Each finished row links to its file's page.
            assert browser.count("#uploads li a[href*='/files/']") == 2
    finally:
        proxy.close()

    listed = {f.name: f for f in storage.list_files("uploads").files}
    assert sorted(listed) == ["big.bin", "small.txt"]
    assert listed["big.bin"].signature == hashlib.md5(big.read_bytes()).hexdigest()
    assert (listed["big.bin"].chunksuploaded, listed["big.bin"].chunkstotal) == (6, 6)
    assert storage.get_file_download("uploads", listed["small.txt"].id) == small.read_bytes()


def test_settings_permissions_and_teams_by_hand(nib, node, chromium, smtp):
    origin = nib.endpoint.removesuffix("/v1")
    storage, teams = Storage(nib.sdk()), Teams(nib.sdk())
    with ConsoleBrowser(node, chromium, origin) as browser:
        _signed_in(browser, nib)
        base = f"/console/projects/{nib.project}/storage"
        browser.goto(base)
        browser.fill("#f-name", "Docs")
        browser.fill("#f-bucket_id", "docs")
        landed = browser.click("text=Create bucket", navigate=True)
        assert landed["url"] == f"{origin}{base}/docs/settings"
        _narrow_fits(browser)
        # Typed role in the first blank row, checkboxes for any/read and users/create.
        browser.check("#read-0")
        browser.check("#create-1")
        browser.fill("#role-3", "team:crew/lead")
        browser.check("#delete-3")
        browser.select("#f-compression", "gzip")
        browser.check("#f-antivirus", False)
        browser.fill("#f-allowed_file_extensions", "pdf, txt")
        browser.click("text=Save settings", navigate=True)
        assert "Bucket settings saved." in browser.text(".notice")
        bucket = storage.get_bucket("docs")
        assert bucket.permissions == ['read("any")', 'create("users")', 'delete("team:crew/lead")']
        assert (bucket.compression, bucket.antivirus, bucket.allowedfileextensions) == ("gzip", False, ["pdf", "txt"])

        # A bad typed role: the API's message, on the same page.
        browser.fill("#role-3", "team:")
        browser.click("text=Save settings", navigate=True)
        assert 'Role "team" must have an ID value.' in browser.text(".notice.error")

        # A file's permissions and its deletion (confirmed).
        file_id = storage.create_file("docs", "unique()", _input(b"words\n", "notes.txt")).id
        browser.goto(f"{base}/docs/files/{file_id}")
        _narrow_fits(browser)
        browser.fill("#role-3", "label:vip")
        browser.check("#update-3")
        browser.click("text=Save permissions", navigate=True)
        assert storage.get_file("docs", file_id).permissions == ['update("label:vip")']
        browser.click("text=Delete file", navigate=True)
        assert browser.log()["dialogs"][-1] == "Delete the file notes.txt?"
        assert storage.list_files("docs").total == 0

        # A team, an invitation e-mailed to a new address.
        browser.goto(f"/console/projects/{nib.project}/teams")
        browser.fill("#f-name", "Crew")
        browser.fill("#f-team_id", "crew")
        browser.click("text=Create team", navigate=True)
        email = f"mate-{uuid.uuid4().hex[:8]}@example.com"
        browser.fill("#invite-email", email)
        browser.fill("#invite-roles", "lead")
        browser.click("text=Send invitation", navigate=True)
        assert smtp.mailbox.wait_for(email)["Subject"] == "Invitation to Crew Team at Default"
        assert browser.count("table tbody tr:has-text('invited')") == 1
        _narrow_fits(browser)
        membership = teams.list_memberships("crew").memberships[0]
        assert (membership.useremail, membership.roles, membership.confirm) == (email, ["lead"], False)
        log = browser.log()
        assert log["errors"] == [], log


def _input(data: bytes, name: str) -> InputFile:
    return InputFile.from_bytes(data, name)
