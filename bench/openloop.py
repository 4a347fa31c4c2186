"""Open-loop load: GETs at a fixed rate until stdin closes, then one JSON line of results.

    python bench/openloop.py --url http://127.0.0.1:PORT --rate 200 --header 'Name: value' PATH...

Request i is due at ``start + i / rate`` whatever happened to the earlier ones (a closed loop
such as wrk's waits for answers, so a stalled server is asked less and its stall hides: the
"coordinated omission"); its latency runs from that due time to the end of its response, so
waiting for a free connection or for this process counts too. Paths are taken in turn. Plain
asyncio streams on kept-alive HTTP/1.1 connections (opened as needed, at most ``--connections``)
keep this process light beside the server it measures.

Prints ``{"requests": [[due_unix_time, latency_ms, status], ...], "late_ms": ...}`` where
``late_ms`` is the worst delay of a send past its due time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import urllib.parse

import orjson


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


async def _run(url: str, rate: float, headers: list[str], paths: list[str], connections: int) -> dict:
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    extra = "".join(f"{h}\r\n" for h in headers)
    requests = [f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode() for p in paths]
    idle: list[Connection] = []
    opened = 0
    free = asyncio.Condition()
    results: list[list[float]] = []
    late = 0.0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), lambda: os.read(sys.stdin.fileno(), 65536) or stop.set())

    async def one(due: float, request: bytes) -> None:
        nonlocal opened
        async with free:
            while not idle and opened >= connections:
                await free.wait()
            conn = idle.pop() if idle else None
            if conn is None:
                opened += 1
        status = 0
        # A kept-alive connection the server closed while it sat idle (uvicorn: after 5 s) fails
        # before any answer; HTTP clients then resend on a new one, and so does this.
        for attempt in ("kept", "new") if conn else ("new",):
            try:
                if attempt == "new":
                    conn = Connection(*await asyncio.open_connection(host, port))
                assert conn is not None
                status = await conn.get(request)
                break
            except (OSError, asyncio.IncompleteReadError, ValueError):
                if conn is not None:
                    conn.writer.close()
                conn = None
        latency = (time.perf_counter() - due) * 1000
        results.append([due - clock_offset, latency, status])
        async with free:
            if conn is None:
                opened -= 1
            else:
                idle.append(conn)
            free.notify()

    start = time.perf_counter()
    # perf_counter times -> Unix times, so the caller can place each request against its own clock.
    clock_offset = start - time.time()
    tasks = set()
    i = 0
    while not stop.is_set():
        due = start + i / rate
        wait = due - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
            if stop.is_set():
                break
        late = max(late, (time.perf_counter() - due) * 1000)
        task = asyncio.create_task(one(due, requests[i % len(requests)]))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        i += 1
    loop.remove_reader(sys.stdin.fileno())
    await asyncio.gather(*tasks)
    for conn in idle:
        conn.writer.close()
    return {"requests": results, "late_ms": late}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, required=True, help="requests a second")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    result = asyncio.run(_run(args.url, args.rate, args.header, args.paths, args.connections))
    sys.stdout.buffer.write(orjson.dumps(result) + b"\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
