"""Helpers of the browser tests: the pinned Web SDKs, and the two ways of driving index.html
through run.mjs: a whole scripted scenario (``drive_browser``, one JSON report at the end) or a
live session (``BrowserSession``) whose pages act one command at a time while the test does
other things in between (writes through the API that the pages' realtime subscriptions see)."""

from __future__ import annotations

import json
import queue
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# package.json's SDK packages -> pinned version: `appwrite` (1.5-era) and `appwrite-newest` (npm:appwrite@…).
_PACKAGES = json.loads((HERE / "package.json").read_text())["dependencies"]
SDKS = {name: spec.rpartition("@")[2] for name, spec in _PACKAGES.items() if name.startswith("appwrite")}
PASSWORD = "browser-password-1"


def drive_browser(node: str, chromium: Path, app_origin: str, **config: str) -> dict:
    """Run run.mjs's scenario and return its report."""
    config = {"chromium": str(chromium), "page": f"{app_origin}/index.html", **config}
    done = subprocess.run(
        [node, str(HERE / "run.mjs"), json.dumps(config)], capture_output=True, text=True, cwd=HERE, timeout=180
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "fatal" not in report, f"{report['fatal']}\nbrowser console: {report['console']}"
    return report


def outcome(report: dict, step: str, ok: bool) -> dict:
    """A step's value (ok=True) or SDK error (ok=False), with the whole run in the failure message."""
    result = report["steps"][step]
    context = json.dumps({k: report[k] for k in ("requests", "console", "cookies")}, indent=1)
    assert result["ok"] is ok, f"{step}: {result}\n{context}"
    return result["value" if ok else "error"]


class BrowserSession:
    """One chromium driven live by run.mjs (``"scenario": "live"``): ``open`` adds a page (its own
    browser context: its own cookies and localStorage) on an SDK and endpoint, ``act`` runs one of
    the page's ``window.app`` actions and returns its ``{ok, value | error}``, ``log`` returns a
    page's requests, console and realtime record. Use as a context manager."""

    def __init__(self, node: str, chromium: Path, app_origin: str, timeout: float = 60) -> None:
        config = {"chromium": str(chromium), "page": f"{app_origin}/index.html", "scenario": "live"}
        self.timeout = timeout
        self.stderr = tempfile.TemporaryFile(mode="w+")  # a file: a full pipe would stall node
        self.process = subprocess.Popen(
            [node, str(HERE / "run.mjs"), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            cwd=HERE,
        )
        self.answers: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, name="run.mjs", daemon=True)
        self.reader.start()
        self.started = self._answer()  # {"browserVersion"}

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.answers.put(line)
        self.answers.put(None)

    def _answer(self) -> dict:
        try:
            line = self.answers.get(timeout=self.timeout)
        except queue.Empty:
            raise AssertionError(f"run.mjs did not answer within {self.timeout} s") from None
        if line is None:
            self.process.wait(timeout=10)
            self.stderr.seek(0)
            raise AssertionError(f"run.mjs ended (exit {self.process.returncode}):\n{self.stderr.read()}")
        answer = json.loads(line)
        assert "fatal" not in answer, answer["fatal"]
        return answer

    def command(self, **command: Any) -> dict:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def open(self, name: str, *, sdk: str, endpoint: str, project: str) -> dict:
        """A new page ``name`` of the app on ``sdk`` against ``endpoint``: {sdkVersion, origin}."""
        return self.command(open=name, sdk=sdk, endpoint=endpoint, project=project)

    def act(self, name: str, action: str, *args: Any) -> dict:
        return self.command(page=name, action=action, args=list(args))

    def value(self, name: str, action: str, *args: Any) -> Any:
        """An action that must succeed: its value (the page's whole log in the failure message)."""
        result = self.act(name, action, *args)
        assert result["ok"], f"{name}.{action}{tuple(args)}: {result['error']}\n{json.dumps(self.log(name), indent=1)}"
        return result["value"]

    def log(self, name: str) -> dict:
        """The page's API requests, console and realtime record ({messages, sockets})."""
        return self.command(log=name)

    def close(self) -> None:
        if self.process.poll() is None and self.process.stdin is not None:
            self.process.stdin.close()  # run.mjs closes the browser and exits
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.stderr.close()

    def __enter__(self) -> BrowserSession:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
