"""In-process cost of nib's read requests at N users, without HTTP: robust on a busy machine.

    PYTHONPATH=src python bench/inprocess.py [--users 100000] [--data-dir DIR] [--calls 2000]

Seeds N users once (``run.seed_nib``: direct inserts, as bench/run.py does) into DIR (default
``/tmp/nib-inprocess-<N>``, reused by later runs), then times whole requests through the ASGI
app, as uvicorn hands them over (HTTP parsing and the socket are all that is left out): params,
API-key check (cached), validation, service, models, orjson — for GET user and list users (limit 25, as bench/run.py asks for it), interleaved so both see the same load.
Prints the minimum and the median per call: the minimum is what the code costs, the median
what it cost beside whatever else the machine ran. For instruction counts that no other load
disturbs, run one request under callgrind with two numbers of calls and divide the difference:
``valgrind --tool=callgrind python bench/inprocess.py --only list_users --warm-up 50 --calls N``.
With ``NIB_DATABASE_URL`` set (an empty PostgreSQL database the first time), the users go there
and DIR only records that they were seeded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import run  # noqa: E402  (bench/run.py: the seeding and the users it seeds)

from nib.app import create_app  # noqa: E402
from nib.auth import projects  # noqa: E402
from nib.data.db.migrate import upgrade  # noqa: E402
from nib.tools.config import Settings  # noqa: E402


def prepare(data_dir: Path, n: int) -> tuple[object, str]:
    """The app on a database of ``n`` seeded users, and an API key of the project."""
    settings = Settings.from_env(data_dir=str(data_dir))
    fresh = not data_dir.exists()
    data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    upgrade(app.db)
    projects.bootstrap(app.db)
    if fresh:
        print(f"seeding {n} users into {data_dir}", file=sys.stderr)
        print(f"seeded in {run.seed_nib(data_dir, n):.1f} s", file=sys.stderr)
    key = projects.create_key(app.db, project_id=run.PROJECT, name="inprocess")["secret"]
    return app, key


def _scope(path: str, query: str, headers: list[tuple[bytes, bytes]]) -> dict:
    """The ASGI scope uvicorn would build for ``GET path?query``."""
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80),
    }  # fmt: skip


def _caller(app) -> Callable[[dict], tuple[int, bytes]]:
    """``call(scope)``: one request through the ASGI app -> (status, body)."""
    loop = asyncio.new_event_loop()

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    def call(scope: dict) -> tuple[int, bytes]:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            sent.append(message)

        request = app(scope, receive, send)
        if app.db.dialect == "sqlite":
            # GETs on SQLite run inline and never suspend: no event loop round trip to measure.
            try:
                request.send(None)
            except StopIteration:
                pass
        else:
            loop.run_until_complete(request)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    return call


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--calls", type=int, default=2000, help="timed calls of each request")
    ap.add_argument("--warm-up", type=int, default=200, help="untimed calls of each request first")
    ap.add_argument("--only", choices=["get_user", "list_users"], help="time one request (e.g. under callgrind)")
    args = ap.parse_args()
    app, key = prepare(args.data_dir or Path(f"/tmp/nib-inprocess-{args.users}"), args.users)

    limit = json.dumps({"method": "limit", "values": [25]}, separators=(",", ":"))
    requests = {
        "get_user": (f"/v1/users/{run.nib_user(args.users // 2)[0]}", ""),
        "list_users": ("/v1/users", urllib.parse.urlencode({"queries[0]": limit})),
    }
    if args.only:
        requests = {args.only: requests[args.only]}
    headers = [
        (b"host", b"localhost"),
        (b"x-appwrite-project", run.PROJECT.encode()),
        (b"x-appwrite-key", key.encode()),
    ]
    scopes = {name: _scope(path, query, headers) for name, (path, query) in requests.items()}
    call = _caller(app)
    for scope in scopes.values():
        status, body = call(scope)
        assert status == 200, body

    timings: dict[str, list[float]] = {name: [] for name in scopes}
    for _ in range(args.warm_up):  # prepared statements, caches
        for scope in scopes.values():
            call(scope)
    clock = time.perf_counter
    for _ in range(args.calls):
        for name, scope in scopes.items():
            start = clock()
            call(scope)
            timings[name].append(clock() - start)

    summary = {}
    for name, values in timings.items():
        summary[name] = {"min_ms": min(values) * 1e3, "median_ms": statistics.median(values) * 1e3}
        print(f"{name:12} min {summary[name]['min_ms']:.3f} ms  median {summary[name]['median_ms']:.3f} ms")
    for stat in ("min_ms", "median_ms") if len(summary) == 2 else ():
        ratio = summary["list_users"][stat] / summary["get_user"][stat]
        print(f"list/get ratio ({stat[:-3]}): {ratio:.1f}x")
    app.db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
