"""Upload throughput of nib beside a bare ASGI floor on the same server, interleaved round by round.

    python bench/uploads.py [--rounds 3] [--small 20] [--profile] [--no-write]

nib: ``nib serve`` (1 worker, SQLite, NIB_RATE_LIMITS=off) in a fresh temp data dir, a bucket with
encryption off, compression none, antivirus off. Floor: bench/floor_upload.py (uvicorn with the
loop and protocol ``nib serve`` uses) streaming each request body to its own file while taking
its md5. The client sends from memory (httpx), random bytes, the SDKs' request shapes
(bench/storage.py's ``multipart``):

- ``1MiB``: one multipart request (no Content-Range), median of ``--small`` per round;
- ``10MiB``: one multipart request (median of a few): the largest round size one request may carry (Appwrite refuses
  bodies over 12 MiB with 413, as nib does, so a 100 MiB file can only come in chunks);
- ``100MiB chunked``: as the newest SDKs send it: 5 MiB chunks with ``Content-Range``, the first
  alone, then the other 19 from 8 threads at once with ``x-appwrite-id``; the floor gets the
  same requests and writes each chunk to a file of its own (no join).

MiB/s = file bytes / wall time of the whole upload, best round of each (medians for 1 MiB). A
``discard`` row (the floor reading and dropping the bodies) shows what the client alone reaches.
With ``--profile`` a py-spy profile of nib per case is summarised. Writes the "Uploads" section of
bench/RESULTS.md (``backup.write_section``), with bench/uploads-notes.md (notes by hand) under the
table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import backup
import httpx
from run import (
    PROJECT,
    ROOT,
    Server,
    _cpu_model,
    find_tool,
    free_port,
    http,
    log,
    run_command,
    start_nib,
    wait_http,
)
from storage import BOUNDARY, CHUNK, MIB, multipart

PARALLEL = 8  # the newest SDKs' thread pool for the chunks after the first
CASES = ("1MiB", "10MiB", "100MiB chunked")
SIZES = {"1MiB": MIB, "10MiB": 10 * MIB, "100MiB chunked": 100 * MIB}
TARGET = 0.6
PROFILE_TOP = 16
NOTES = Path(__file__).parent / "uploads-notes.md"  # by hand: put under the table on every run


class Target:
    """Where uploads go: nib's files route, or one of the floor's paths."""

    def __init__(self, name: str, client: httpx.Client, url: str, nib: bool, pid: int) -> None:
        self.name, self.client, self.url, self.nib, self.pid = name, client, url, nib, pid
        self.count = 0
        self.cpu = 0.0  # the server's CPU seconds during the timed uploads (deletes excluded)

    def cpu_seconds(self) -> float:
        """user + system time of the server process, all its threads (clock ticks)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def post(self, body: bytes, headers: dict[str, str]) -> dict:
        r = self.client.post(self.url, content=body, headers=headers)
        if r.status_code != 201:
            raise RuntimeError(f"{self.name}: {r.status_code} {r.text[:300]}")
        return r.json()

    def new_id(self) -> str:
        self.count += 1
        return f"f{self.count}"

    def single(self, data: bytes) -> float:
        file_id = self.new_id()
        body = multipart(file_id, "data.bin", data)
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
        c, t = self.cpu_seconds(), time.perf_counter()
        answer = self.post(body, headers)
        elapsed = time.perf_counter() - t
        self.cpu += self.cpu_seconds() - c
        self.check(answer, len(data), len(body))
        return elapsed

    def chunked(self, data: bytes, pool: ThreadPoolExecutor) -> float:
        """The newest SDKs' chunked upload: the first chunk alone, then the rest 8 at a time."""
        file_id = self.new_id()
        size = len(data)
        # the request bodies are built before the clock starts: the client sends from memory
        bodies = [
            (start, multipart(file_id, "data.bin", data[start : start + CHUNK])) for start in range(0, size, CHUNK)
        ]

        def send(start: int, body: bytes, first: bool) -> dict:
            headers = {
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Range": f"bytes {start}-{min(start + CHUNK, size) - 1}/{size}",
            }
            if not first:
                headers["x-appwrite-id"] = file_id
            return self.post(body, headers)

        c, t = self.cpu_seconds(), time.perf_counter()
        answers = [send(*bodies[0], True)]
        answers += list(pool.map(lambda sb: send(*sb, False), bodies[1:]))
        elapsed = time.perf_counter() - t
        self.cpu += self.cpu_seconds() - c
        if self.nib:
            done = [a for a in answers if a["chunksUploaded"] == a["chunksTotal"]]
            assert len(done) == 1 and done[0]["sizeOriginal"] == size, answers[-1]
            self.delete(file_id)
        else:
            assert sum(a["size"] for a in answers) == sum(len(b) for _, b in bodies)
        return elapsed

    def check(self, answer: dict, size: int, body_size: int) -> None:
        if self.nib:
            assert answer["sizeOriginal"] == size and answer["chunksUploaded"] == 1, answer
            self.delete(answer["$id"])
        else:
            assert answer["size"] == body_size, answer

    def delete(self, file_id: str) -> None:
        r = self.client.delete(f"{self.url}/{file_id}")
        assert r.status_code == 204, r.text


def clear(directory: Path) -> None:
    for entry in directory.iterdir():
        entry.unlink()


def measure(targets: list[Target], floor_dir: Path, rounds: int, small: int, data: dict[str, bytes]) -> dict:
    """Each round: every case on every target, in turn; the floor's files removed after each."""
    runs: dict[str, dict[str, list[float]]] = {t.name: {c: [] for c in CASES} for t in targets}
    cpu: dict[str, dict[str, list[float]]] = {t.name: {c: [] for c in CASES} for t in targets}
    with ThreadPoolExecutor(PARALLEL) as pool:
        for target in targets:  # warm-up: connections, first-upload imports (libmagic)
            target.single(data["1MiB"])
            target.chunked(data["100MiB chunked"][: 3 * CHUNK], pool)
            clear(floor_dir)
        for r in range(rounds):
            for case in CASES:
                for target in targets:
                    target.cpu = 0.0
                    uploads = {"1MiB": small, "10MiB": max(3, small // 4)}.get(case, 1)
                    if case in ("1MiB", "10MiB"):
                        seconds = statistics.median(target.single(data[case]) for _ in range(uploads))
                    else:
                        seconds = target.chunked(data[case], pool)
                    clear(floor_dir)
                    runs[target.name][case].append(SIZES[case] / MIB / seconds)
                    cpu[target.name][case].append(target.cpu / uploads * 1000)
                    log(f"round {r + 1}: {target.name} {case}: {runs[target.name][case][-1]:.0f} MiB/s")
    return {"mib_s": runs, "cpu_ms": cpu}


def profile_nib(pid: int, nib: Target, data: dict[str, bytes], seconds: float) -> dict[str, str]:
    """A py-spy profile of nib (busy threads only) per case, uploads repeated for ``seconds``."""
    pyspy = find_tool("py-spy")
    if not pyspy:
        log("py-spy not found: no profile (pip install py-spy)")
        return {}
    out = {}
    with ThreadPoolExecutor(PARALLEL) as pool:
        for case in CASES:
            raw = Path(tempfile.mkstemp(suffix=".txt")[1])
            rec = subprocess.Popen(
                [pyspy, "record", "-p", str(pid), "-f", "raw", "-o", str(raw), "--threads"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                if case == "100MiB chunked":
                    nib.chunked(data[case], pool)
                else:
                    nib.single(data[case])
            rec.send_signal(signal.SIGINT)  # py-spy writes what it has
            rec.wait()
            text = raw.read_text()
            raw.unlink()
            name = case.replace(" ", "-")
            (Path(__file__).parent / ".work" / f"profile-uploads-{name}.collapsed").write_text(text)
            out[case] = profile_summary(text)
            log(f"profiled {case}")
    return out


def profile_summary(collapsed: str) -> str:
    """Busy samples by thread (the event loop, the handlers' pool threads), then the lines where
    they were (self time): waits of idle threads and of the schedulers' sleeps are left out."""
    threads: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    for row in collapsed.splitlines():
        stack, _, count = row.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or len(frames) < 2 or re.match(r"(Condition|Event)\.wait|Periodic\._run", frames[-1]):
            continue
        threads["event loop" if "MainThread" in frames[0] else "handler threads"] += int(count)
        lines[re.sub(r" \((/[^)]*/)?(site-packages/|src/|python3\.\d+/)?", " (", frames[-1])] += int(count)
    total = sum(threads.values())
    out = [f"busy samples: {total}; " + ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in threads.most_common())]
    out += [f"{100 * c / total:5.1f}% {line}" for line, c in lines.most_common(PROFILE_TOP)]
    return "\n".join(out)


def section(result: dict, args: argparse.Namespace) -> str:
    runs, cpu = result["runs"]["mib_s"], result["runs"]["cpu_ms"]
    lines = [
        "<!-- uploads -->",
        "## Uploads: `POST /v1/storage/buckets/{id}/files` against a bare ASGI floor",
        "",
        f"- Command: `{result['command']}`",
        f"- Date: {result['date']}; commit {result['commit']}; machine: {os.cpu_count()} cores ({_cpu_model()}),"
        f" Linux {platform.release()}, Python {platform.python_version()}; load average at start"
        f" {result['load'][0]:.2f}, at end {result['load'][1]:.2f} (a shared machine)",
        "- nib: `nib serve`, 1 worker, SQLite, NIB_RATE_LIMITS=off, local disk; bucket with encryption off,"
        " compression none, antivirus off; random bytes. Floor: bench/floor_upload.py, uvicorn with nib's loop"
        " and protocol (uvloop, httptools), each request body streamed to its own file with its md5 taken on the"
        " event loop; for the chunked case each chunk goes to a file of its own (no join). Discard: the floor"
        " reading and dropping the bodies (what the client alone sends)",
        "- Client: httpx from memory, the SDKs' multipart bodies; 1 MiB: median of"
        f" {args.small} requests per round; 10 MiB: median of {max(3, args.small // 4)} single requests (bodies over 12 MiB get 413, as from Appwrite, so"
        f" 100 MiB goes in chunks); 100 MiB chunked: 20 chunks of 5 MiB with Content-Range, the first alone, the"
        f" rest from {PARALLEL} threads with x-appwrite-id. {args.rounds} rounds, targets interleaved, best round"
        " kept (each round listed); server CPU: user + system time of the server process (all threads) over the"
        " timed uploads, per upload, median of the rounds (the clock-tick resolution is 10 ms: summed over the"
        " uploads of a round)",
        "",
        "| case | nib | floor | ratio (best vs best) | discard | target | met | server CPU per upload, nib / floor |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in CASES:
        n, f, d = runs["nib"][case], runs["floor"][case], runs["discard"][case]
        q = max(n) / max(f)
        nc, fc = statistics.median(cpu["nib"][case]), statistics.median(cpu["floor"][case])
        lines.append(
            f"| {case} | {max(n):.0f} MiB/s ({', '.join(f'{x:.0f}' for x in n)}) |"
            f" {max(f):.0f} MiB/s ({', '.join(f'{x:.0f}' for x in f)}) | {q:.2f}x | {max(d):.0f} MiB/s |"
            f" >= {TARGET}x | {'yes' if q >= TARGET else '**no**'} | {nc:.1f} / {fc:.1f} ms"
            f" ({f'{nc / fc:.1f}x' if fc else '-'}) |"
        )
    if NOTES.exists():
        lines += ["", NOTES.read_text().strip()]
    lines.append("")
    for case, summary in (result.get("profile") or {}).items():
        lines += [
            f"py-spy profile of nib during {case} uploads (busy threads; raw stacks in"
            f" bench/.work/profile-uploads-{case.replace(' ', '-')}.collapsed):",
            "",
            "```",
            summary,
            "```",
            "",
        ]
    lines.append("<!-- /uploads -->")
    return "\n".join(line for line in lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", type=int, default=20, help="1 MiB uploads per target and round")
    ap.add_argument("--profile", action="store_true", help="also profile nib with py-spy")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of writing RESULTS.md")
    ap.add_argument("--json", type=Path, help="also write the figures to this file (for run.py --suite)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-uploads-"))
    floor_dir = tmp / "floor"
    floor_dir.mkdir()
    servers: list[Server] = []
    load_start = os.getloadavg()[0]
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        nib = start_nib(tmp / "data", port)
        servers.append(nib)
        key = nib.output().split("key:", 1)[1].split()[0]
        headers = {"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": key}
        bucket = {"bucketId": "plain", "name": "plain", "encryption": False, "compression": "none", "antivirus": False}
        status, answer = http("POST", f"{base}/v1/storage/buckets", bucket, headers)
        assert status == 201, answer
        floor_port = free_port()
        floor = Server(
            "floor-upload",
            [sys.executable, str(Path(__file__).parent / "floor_upload.py"), str(floor_dir), str(floor_port)],
        )
        servers.append(floor)
        wait_http(f"http://127.0.0.1:{floor_port}/discard", 15)
        limits = httpx.Limits(max_connections=PARALLEL + 1, max_keepalive_connections=PARALLEL + 1)
        nib_client = httpx.Client(base_url=base, headers=headers, timeout=300, limits=limits)
        floor_client = httpx.Client(base_url=f"http://127.0.0.1:{floor_port}", timeout=300, limits=limits)
        targets = [
            Target("nib", nib_client, "/v1/storage/buckets/plain/files", True, nib.proc.pid),
            Target("floor", floor_client, "/write", False, floor.proc.pid),
            Target("discard", floor_client, "/discard", False, floor.proc.pid),
        ]
        data = {case: os.urandom(size) for case, size in SIZES.items()}
        runs = measure(targets, floor_dir, args.rounds, args.small, data)
        profile = profile_nib(nib.proc.pid, targets[0], data, 8) if args.profile else None
        nib_client.close()
        floor_client.close()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "command": ("python bench/uploads.py " + " ".join(sys.argv[1:])).strip(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "load": (load_start, os.getloadavg()[0]),
        "runs": runs,
        "profile": profile,
    }
    text = section(result, args)
    if args.json:
        args.json.write_text(json.dumps(result, default=str) + "\n")
    if not args.no_write:
        backup.write_section("uploads", text)
    print(text)
    return 0


if __name__ == "__main__":
    run_command(main, "bench/uploads.py")
