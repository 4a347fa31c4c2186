"""An idle server loads no library that only some requests need (ARCHITECTURE.md: lazy loading).

A fresh interpreter imports ``nib.app`` and builds the app on a new data dir with the default
settings; the heavy libraries must still be absent from ``sys.modules``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "pyvips",  # previews
    "magic",  # upload MIME sniffing (libmagic)
    "redis",  # only with NIB_REDIS_URL
    "boto3",  # only with S3 storage
    "botocore",
    "prometheus_client",  # only with metrics on
    "device_detector",  # the User-Agent parser's rule set
    "clamd",  # only with an antivirus configured
    "jwt",  # account JWTs and file tokens
    "jinja2",  # console pages
    "pyotp",  # TOTP checks
)

_PROBE = """
import json, sys
import nib.app
from nib.tools.config import Settings
nib.app.create_app(Settings.from_env())
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[1:])))
"""


def test_an_idle_app_has_no_heavy_library_loaded(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIB_")}
    env["NIB_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *HEAVY], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []
