"""Fixtures of the browser tests: Node.js with the pinned npm packages, Debian's chromium, and
the page's origin (tests/browser served over http on localhost)."""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CHROMIUM = Path(os.environ.get("NIB_CHROMIUM", "/usr/bin/chromium"))


@pytest.fixture(scope="session")
def node() -> str:
    """Node.js with tests/browser's pinned packages installed (`npm ci` when missing or stale)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.fail("the browser test needs Node.js (18+) and npm on PATH")
    lockfile = HERE / "package-lock.json"
    installed = HERE / "node_modules" / ".package-lock.json"  # written by npm ci
    with lockfile.open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one npm ci at a time (pytest -n)
        if not installed.exists() or installed.stat().st_mtime < lockfile.stat().st_mtime:
            command = [npm, "ci", "--prefix", str(HERE), "--no-audit", "--no-fund", "--silent"]
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if done.returncode:
                pytest.fail(f"npm ci in {HERE} failed:\n{done.stdout}{done.stderr}")
    return node


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium; missing is a failure in CI, where .ci/run installs it."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium, as .ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # keep pytest's output clean
        pass


@pytest.fixture(scope="session")
def app_origin():
    """tests/browser served over http on localhost: the page's origin."""
    handler = functools.partial(_QuietHandler, directory=str(HERE))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="browser-app", daemon=True)
    thread.start()
    yield f"http://localhost:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
