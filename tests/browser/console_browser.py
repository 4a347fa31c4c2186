"""A person at the console, as far as a test can be: ``ConsoleBrowser`` drives Debian's chromium
through console_driver.mjs one command at a time (fill, click, read, upload, screenshot)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


class BrowserError(AssertionError):
    """A command the page could not do (the selector never appeared, the click failed…)."""


class ConsoleBrowser:
    """One chromium page; use as a context manager. Each method sends one command and returns its
    value; a failure raises ``BrowserError`` with the page's console and errors."""

    def __init__(self, node: str, chromium: Path, origin: str, timeout_ms: int = 15000) -> None:
        self.origin = origin
        self.stderr = tempfile.TemporaryFile(mode="w+")  # a file: a full pipe would stall node
        config = {"chromium": str(chromium), "timeout": timeout_ms}
        self.process = subprocess.Popen(
            [node, str(HERE / "console_driver.mjs"), json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            cwd=HERE,
        )

    def __enter__(self) -> ConsoleBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def command(self, **command: Any) -> Any:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.stderr.seek(0)
            raise BrowserError(f"the browser driver stopped: {self.stderr.read()[-3000:]}")
        answer = json.loads(line)
        if "error" in answer:
            raise BrowserError(f"{command}: {answer['error']}\npage log: {json.dumps(self.log(), indent=1)[:4000]}")
        return answer["value"]

    def log(self) -> dict:
        self.process.stdin.write(json.dumps({"log": True}) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline()).get("value", {})

    def goto(self, path: str) -> dict:
        """Open ``path`` (under the server's origin, e.g. "/console/projects") or a full URL."""
        return self.command(goto=path if "://" in path else self.origin + path)

    def fill(self, selector: str, value: str) -> None:
        self.command(fill=selector, value=value)

    def select(self, selector: str, value: str) -> None:
        self.command(select=selector, value=value)

    def check(self, selector: str, on: bool = True) -> None:
        self.command(check=selector, on=on)

    def click(self, selector: str, navigate: bool = False) -> Any:
        return self.command(click=selector, navigate=navigate)

    def submit(self, selector: str) -> dict:
        """Click a button that submits a form, and wait for the page it leads to."""
        return self.command(click=selector, navigate=True)

    def upload(self, selector: str, *files: Path) -> None:
        self.command(upload=selector, files=[str(f) for f in files])

    def text(self, selector: str) -> str:
        return self.command(text=selector)

    def count(self, selector: str) -> int:
        return self.command(count=selector)

    def attr(self, selector: str, name: str) -> str | None:
        return self.command(attr=selector, name=name)

    def evaluate(self, expression: str) -> Any:
        return self.command(eval=expression)

    def wait(self, selector: str, timeout_ms: int = 15000, state: str = "visible") -> None:
        self.command(wait=selector, timeout=timeout_ms, state=state)

    def wait_for(self, expression: str, timeout_ms: int = 15000) -> None:
        self.command(waitFor=expression, timeout=timeout_ms)

    def viewport(self, width: int, height: int) -> None:
        self.command(viewport=[width, height])

    def screenshot(self, path: Path, full: bool = True) -> Path:
        self.command(screenshot=str(path), full=full)
        return path

    def offline(self, on: bool) -> None:
        self.command(offline=on)
