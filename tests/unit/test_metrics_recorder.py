"""tools/metrics.py: nothing of prometheus_client is loaded while metrics are off, and a scrape
drops the live gauges of a process that died without a clean exit but keeps its counters."""

from __future__ import annotations

import os
import subprocess
import sys

from prometheus_client.parser import text_string_to_metric_families

from nib.tools.metrics import exposition


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("NIB_", "PROMETHEUS_"))}
    return subprocess.run(
        [sys.executable, *code.split("\0")],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=120,
        check=True,
    )


def test_off_means_not_imported(tmp_path):
    timed = _python("-X\0importtime\0-c\0import nib.app")
    assert "nib.app" in timed.stderr and "prometheus_client" not in timed.stderr
    built = _python(
        "-c\0"
        "import sys\n"
        "from nib.app import create_app\n"
        "from nib.tools.config import Settings\n"
        f"app = create_app(Settings.from_env(data_dir={str(tmp_path)!r}))\n"
        "print(app.observer is not None, 'prometheus_client' in sys.modules)\n"
    )
    assert built.stdout.split() == ["True", "False"]  # the access log, without metrics


def test_a_dead_process_keeps_its_counts_but_not_its_live_gauges(tmp_path):
    # A worker that counted a request in flight, a realtime connection and a hash, then died.
    _python(
        "-c\0from nib.tools import metrics\n"
        "m = metrics.METRICS\n"
        "assert m.enabled\n"
        "m.in_flight(1)\n"
        "m.realtime(1)\n"
        "m.password_hashed('bcrypt')\n",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    assert list(tmp_path.glob("gauge_livesum_*.db"))
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(exposition(str(tmp_path)).decode())
        for sample in family.samples
    }
    assert found[("nib_password_hashes_total", (("algorithm", "bcrypt"),))] == 1
    assert ("nib_http_requests_in_flight", ()) not in found
    assert ("nib_realtime_connections", ()) not in found
    assert not list(tmp_path.glob("gauge_livesum_*.db"))
