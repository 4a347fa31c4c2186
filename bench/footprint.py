"""Footprint of an idle nib: RSS and start-up time of `nib serve` (1 worker, SQLite, empty project).

`python bench/footprint.py [--starts 5]` (from the repo root, nib's virtualenv active):

1. starts `nib serve --data-dir <tmp>` once on a fresh data dir, reads the API key it prints and
   creates one user (no password) with it, then stops it;
2. starts it `--starts` times on that existing data dir, each time timing process start to the
   first 200 on GET /v1/health (polled every 5 ms), reading VmRSS of the process and its children
   from /proc/<pid>/status right after that first health check, then after a first GET user with
   the key, and again SETTLE_S seconds later (anything start-up loads in the background);
3. starts it with `--workers 2` on the same data dir, sends GET user on 40 fresh connections (so
   both workers serve) and reads each process's VmRSS SETTLE_S seconds later: what the second
   worker (and the supervisor process that several workers bring) add to one worker's RSS;
4. writes the "Footprint" section of RESULTS.md (medians of the starts, plus
   `python -X importtime -c 'import nib.app'` top entries for what is still loaded at import).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import backup  # noqa: E402  (bench/backup.py: RESULTS.md sections)
import run  # noqa: E402  (bench/run.py: servers, RSS, HTTP)

PROJECT = "default"
TARGET_MB = 80
TARGET_START_S = 1.5
SETTLE_S = 4


def serve(data_dir: Path, port: int, workers: int = 1) -> run.Server:
    nib = run.find_tool("nib")
    argv = [nib] if nib else [sys.executable, "-m", "nib"]
    serve = ["serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", str(workers)]
    return run.Server("nib-footprint", argv + serve)


def first_health(url: str, started: float, timeout: float = 60.0) -> float:
    """Seconds from ``started`` to the first 200 on ``url``."""
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except (OSError, urllib.error.HTTPError):
            pass
        time.sleep(0.005)
    raise RuntimeError(f"{url} gave no 200 within {timeout} s")


def rss_mb(pid: int) -> float:
    return sum(p.get("VmRSS", 0) for p in run.rss_kb(pid).values()) / 1024


def importtime_top(n: int = 15) -> list[str]:
    res = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import nib.app"], capture_output=True, text=True, check=True
    )
    rows = []
    for line in res.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), len(m.group(3)), m.group(4)))
    rows.sort(reverse=True)
    return [f"{name} {cum / 1000:.0f} ms" for cum, _, name in rows[:n]]


def measure(starts: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="nib-footprint-"))
    data_dir = work / "data"
    try:
        port = run.free_port()
        base = f"http://127.0.0.1:{port}/v1"
        first = serve(data_dir, port)
        try:
            run.wait_http(f"{base}/health", 60)
            key = re.search(r"key:\s+(\S+)", first.output()).group(1)
            headers = {"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": key}
            status, user = run.http(
                "POST", f"{base}/users", {"userId": "unique()", "email": "footprint@example.com"}, headers
            )
            if status != 201:
                raise RuntimeError(f"create user: {status} {user}")
        finally:
            first.stop()
        runs = []
        for _ in range(starts):
            started = time.monotonic()
            server = serve(data_dir, port)
            try:
                seconds = first_health(f"{base}/health", started)
                after_health = rss_mb(server.proc.pid)
                status, body = run.http("GET", f"{base}/users/{user['$id']}", headers=headers)
                if status != 200:
                    raise RuntimeError(f"GET user: {status} {body}")
                after_get = rss_mb(server.proc.pid)
                time.sleep(SETTLE_S)  # what start-up loads in the background shows by then
                settled = rss_mb(server.proc.pid)
            finally:
                server.stop()
            runs.append(
                {"seconds": seconds, "health_mb": after_health, "get_user_mb": after_get, "settled_mb": settled}
            )
        return {
            "runs": runs,
            "workers": two_workers(data_dir, port, f"{base}/users/{user['$id']}", headers),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def two_workers(data_dir: Path, port: int, url: str, headers: dict) -> dict:
    """VmRSS of each process of `nib serve --workers 2` after GET user on 40 fresh connections."""
    server = serve(data_dir, port, workers=2)
    try:
        run.wait_http(f"http://127.0.0.1:{port}/v1/health", 60)
        for _ in range(40):
            status, body = run.http("GET", url, headers=headers)
            if status != 200:
                raise RuntimeError(f"GET user: {status} {body}")
        time.sleep(SETTLE_S)
        processes = run.rss_kb(server.proc.pid)
        helpers = [pid for pid in processes if "resource_tracker" in Path(f"/proc/{pid}/cmdline").read_text()]
    finally:
        server.stop()
    supervisor = processes.pop(server.proc.pid)["VmRSS"] / 1024
    return {
        "supervisor_mb": supervisor + sum(processes.pop(pid)["VmRSS"] / 1024 for pid in helpers),
        "children_mb": sorted(p["VmRSS"] / 1024 for p in processes.values()),
    }


def section(result: dict, args: argparse.Namespace) -> str:
    runs = result["runs"]

    def med(k: str) -> float:
        return statistics.median(r[k] for r in runs)

    def each(k: str, fmt: str) -> str:
        return ", ".join(format(r[k], fmt) for r in runs)

    commit = subprocess.run(
        ["git", "-C", str(run.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    yes = {True: "yes", False: "**no**"}
    workers = result["workers"]
    worker = max(workers["children_mb"])
    total2 = workers["supervisor_mb"] + sum(workers["children_mb"])
    added = total2 - med("settled_mb")
    lines = [
        "<!-- footprint -->",
        "## Footprint: idle `nib serve`",
        "",
        f"- Command: `python bench/footprint.py --starts {args.starts}`",
        f"- Date: {dt.date.today().isoformat()}; commit {commit}; machine: {os.cpu_count()} cores ({run._cpu_model()}),"
        f" Python {sys.version.split()[0]}",
        "- Server: `nib serve --data-dir <tmp>` (1 worker, SQLite, the default project with one user), started"
        f" {args.starts} times on an existing data dir; RSS is VmRSS from /proc/<pid>/status of the process and"
        " its children; medians of the starts",
        "",
        "| measure | median | each start | target | met |",
        "|---|---|---|---|---|",
        f"| process start to the first 200 on GET /v1/health | {med('seconds'):.2f} s | {each('seconds', '.2f')} |"
        f" <= {TARGET_START_S} s | {yes[med('seconds') <= TARGET_START_S]} |",
        f"| RSS after the first GET /v1/health | {med('health_mb'):.1f} MB | {each('health_mb', '.1f')} |"
        f" <= {TARGET_MB} MB | {yes[med('health_mb') <= TARGET_MB]} |",
        f"| RSS after a first GET user with the key | {med('get_user_mb'):.1f} MB | {each('get_user_mb', '.1f')} |"
        f" <= {TARGET_MB} MB | {yes[med('get_user_mb') <= TARGET_MB]} |",
        f"| RSS {SETTLE_S} s later, idle | {med('settled_mb'):.1f} MB | {each('settled_mb', '.1f')} |"
        f" <= {TARGET_MB} MB | {yes[med('settled_mb') <= TARGET_MB]} |",
        f"| `--workers 2`: each worker's RSS after serving, {SETTLE_S} s later | {worker:.1f} MB (the larger)"
        f" | workers {', '.join(f'{mb:.1f}' for mb in workers['children_mb'])} MB; the supervisor process and"
        f" multiprocessing's resource tracker {workers['supervisor_mb']:.1f} MB | <= {TARGET_MB} MB | {yes[worker <= TARGET_MB]} |",
        f"| `--workers 2`: the whole tree beside one worker's (the second worker and the supervisor)"
        f" | +{added:.1f} MB | {total2:.1f} MB against {med('settled_mb'):.1f} MB | (context) | - |",
        "",
        "Slowest imports of `python -X importtime -c 'import nib.app'` (cumulative): "
        + "; ".join(importtime_top())
        + ".",
        "",
        "<!-- /footprint -->",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    parser.add_argument("--json", type=Path, help="also write the figures to this file (for run.py --suite)")
    args = parser.parse_args()
    result = measure(args.starts)
    text = section(result, args)
    if args.json:
        commit = subprocess.run(
            ["git", "-C", str(run.ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        command = f"python bench/footprint.py --starts {args.starts}"
        date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        args.json.write_text(json.dumps({**result, "command": command, "date": date, "commit": commit}) + "\n")
    if args.no_write:
        print(text)
    else:
        backup.write_section("footprint", text)
        print(text)
    return 0


if __name__ == "__main__":
    run.run_command(main, "bench/footprint.py")
