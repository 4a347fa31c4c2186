"""Older official Python SDKs, which cannot share the venv with the newest: each is pip-installed
once into tests/.sdk-cache/appwrite-<version> (gitignored) and driven in a subprocess with
PYTHONPATH pointing there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".sdk-cache"


def install_sdk(version: str) -> Path:
    directory = CACHE / f"appwrite-{version}"
    marker = directory / "appwrite" / "client.py"
    if not marker.exists():
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(directory), f"appwrite=={version}"],
            check=True,
            timeout=300,
        )
    assert marker.exists()
    return directory
