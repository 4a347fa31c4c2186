"""Server time of the console's Users pages on a large project (issue 14: under 200 ms at 1,000,000 users).

    python bench/console.py [--users 1000000] [--requests 30] [--data-dir DIR] [--database-url URL]

Run from the repo root with nib's virtualenv active. Steps:

1. A fresh data dir (or DIR; with ``--database-url``, an empty PostgreSQL database), migrated.
2. Seed N users of the project ``default``, with the e-mail and sms targets ``create_user``
   writes, by bulk inserts of the rows the users service writes (``users`` row shape of
   ``users.service.create_user``, ``search`` from ``data.search.normalize`` as the service
   computes it, labels in it as ``label:<l>``). For speed the tables' triggers are dropped (SQLite)
   or disabled (PostgreSQL) and the PostgreSQL search index dropped during the inserts; what they
   maintain is then built in one pass each: ``targets_json`` is computed here per user (the Target
   models, as the trigger renders them), the SQLite FTS5 index is rebuilt from the content, the
   ``totals`` row is counted, then the triggers and index come back. PostgreSQL is vacuumed, analyzed (as
   autovacuum would) and checkpointed; SQLite is not (nib never runs ANALYZE: its plans must hold without statistics).
   Users are spread over the last 365 days (``created_at`` grows with ``seq``, as real sign-ups);
   every 1000th is blocked, every 3rd has a verified e-mail, every 100th has the label ``vip``;
   names and e-mails come from ``bench/run.py`` (``zebulon``: 1 user in 20,000; ``smith``: 1 in 20).
   With DIR already seeded (a ``seeded`` file in it), seeding is skipped.
3. ``nib serve`` on it, an administrator made with ``nib admins create``, signed in to the console.
4. Every case 5 times to warm the server, then each ~30 times (after 3 unmeasured): the ``Server-Timing: app;dur=`` the console reports
   (handler and render) and the wall time seen by the client (loopback HTTP). Median and p95.

Prints a Markdown table; ``--results`` appends it as a section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))

import run  # noqa: E402  (bench/run.py: the users it seeds, the server helpers)

from nib.auth import passwords, projects  # noqa: E402
from nib.auth.tables import targets, users  # noqa: E402
from nib.data import search  # noqa: E402
from nib.data.db import Database  # noqa: E402
from nib.data.db.migrate import upgrade  # noqa: E402
from nib.tools.config import Settings  # noqa: E402

PROJECT = run.PROJECT
ADMIN_EMAIL = "bench-admin@example.com"
ADMIN_PASSWORD = "bench-console-password"
BATCH = 10_000
# User number -> (imported password hash, its hashOptions).
Hashed = Callable[[int], tuple[str, dict[str, Any]]]


def _settings(data_dir: Path, database_url: str | None) -> Settings:
    env = {"data_dir": str(data_dir)}
    if database_url:
        env["database_url"] = database_url
    return Settings.from_env(**env)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"


def _rows(
    start: int, stop: int, first_day: dt.datetime, step: dt.timedelta, hashed: Hashed | None = None
) -> tuple[list[dict], list[dict]]:
    """The users ``start..stop-1`` and their targets, as ``create_user`` writes them (without a
    password, or with the imported hash and options ``hashed(i)`` gives)."""
    urows, trows = [], []
    for i in range(start, stop):
        uid, email, phone, name = run.nib_user(i)
        password, options = hashed(i) if hashed else (None, dict(passwords.ARGON2_DEFAULT_OPTIONS))
        created = (first_day + step * i).replace(microsecond=(i % 1000) * 1000)
        labels = ["vip"] if i % 100 == 0 else []
        owned = []
        for kind, identifier in (("email", email), ("sms", phone)):
            target = {
                "project_id": PROJECT,
                "id": f"t{kind[0]}{i:07d}",
                "created_at": created,
                "updated_at": created,
                "user_id": uid,
                "name": "",
                "provider_id": None,
                "provider_type": kind,
                "identifier": identifier,
                "expired": False,
            }
            trows.append(target)
            owned.append(
                {
                    "$id": target["id"],
                    "$createdAt": _iso(created),
                    "$updatedAt": _iso(created),
                    "name": "",
                    "userId": uid,
                    "providerId": None,
                    "providerType": kind,
                    "identifier": identifier,
                    "expired": False,
                }
            )
        urows.append(
            {
                "project_id": PROJECT,
                "id": uid,
                "created_at": created,
                "updated_at": created,
                "name": name,
                "email": email,
                "phone": phone,
                "password": password,
                "hash": options["type"],
                "hash_options": options,
                "registration": created,
                "status": i % 1000 != 0,
                "labels": labels,
                "password_update": created if password else None,
                "email_verification": i % 3 == 0,
                "phone_verification": False,
                "mfa": False,
                "prefs": {},
                "accessed_at": None,
                "targets_json": orjson.dumps(owned).decode(),
                "search": search.normalize(uid, email, name, phone, *(f"label:{label}" for label in labels)),
            }
        )
    return urows, trows


def seed(db: Database, n: int, hashed: Hashed | None = None) -> float:
    """Insert ``n`` users and their targets (see the module's docstring; ``hashed`` as in
    ``_rows``); seconds taken."""
    started = time.time()
    now = dt.datetime.now(dt.timezone.utc)
    first_day, step = now - dt.timedelta(days=365), dt.timedelta(days=365) / max(n, 1)
    sqlite = db.dialect == "sqlite"
    with db.write() as conn:
        if sqlite:
            found = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN ('users', 'targets')"
            ).all()
            triggers = [sql for _, sql in found]
            for name, _ in found:
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
            index = None
        else:
            for table in ("users", "targets"):
                conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            index = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'users' AND indexname = 'users_search_idx'"
            ).scalar_one()
            conn.exec_driver_sql("DROP INDEX users_search_idx")
    if sqlite:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA synchronous = OFF")
    for start in range(1, n + 1, BATCH):
        urows, trows = _rows(start, min(start + BATCH, n + 1), first_day, step, hashed)
        with db.write() as conn:
            conn.execute(users.insert(), urows)
            conn.execute(targets.insert(), trows)
        if start // BATCH % 10 == 0:
            print(f"  {start + len(urows) - 1:,} users in {time.time() - started:.0f} s", file=sys.stderr)
    count = (
        "INSERT INTO totals (table_name, project_id, total) SELECT 'users', project_id, count(*) FROM users "
        "WHERE true GROUP BY project_id ON CONFLICT (table_name, project_id) DO UPDATE SET total = excluded.total"
    )
    with db.write() as conn:
        conn.exec_driver_sql(count)
        if sqlite:
            conn.exec_driver_sql("INSERT INTO users_fts(users_fts) VALUES ('rebuild')")
            for sql in triggers:
                conn.exec_driver_sql(sql)
        else:
            assert index is not None
            conn.exec_driver_sql(index)
            for table in ("users", "targets"):
                conn.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
    if not sqlite:
        # What autovacuum would soon do (statistics, hint bits, the visibility map), and the
        # seeding's writes checkpointed, so that neither lands in the first measured rounds.
        # SQLite is left without statistics: nib never runs ANALYZE, so its queries must plan
        # well without them.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
            conn.exec_driver_sql("CHECKPOINT")
    return time.time() - started


def prepare(data_dir: Path, database_url: str | None, n: int) -> float | None:
    """Migrate, bootstrap the project, seed unless already seeded; seconds spent seeding."""
    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / "seeded"
    settings = _settings(data_dir, database_url)
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        upgrade(db)
        projects.bootstrap(db)
        if marker.exists():
            # The seconds the seeding took, when it was recorded.
            recorded = marker.read_text().split()
            return float(recorded[1]) if len(recorded) > 1 else None
        print(f"seeding {n:,} users into {settings.resolved_database_url.split('@')[-1]}", file=sys.stderr)
        seconds = seed(db, n)
        marker.write_text(f"{n} {seconds:.0f}\n")
        print(f"seeded in {seconds:.0f} s", file=sys.stderr)
        return seconds
    finally:
        db.dispose()


def storage_args(data_dir: Path, database_url: str | None) -> list[str]:
    return ["--data-dir", str(data_dir), *(["--database-url", database_url] if database_url else [])]


def console_client(base: str, data_dir: Path, database_url: str | None) -> httpx.Client:
    """An administrator (made once) signed in to the console."""
    command = [sys.executable, "-m", "nib", "admins", "create", ADMIN_EMAIL, *storage_args(data_dir, database_url)]
    subprocess.run(command, input=ADMIN_PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    client = httpx.Client(base_url=base, timeout=60)
    answer = client.post("/console/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert answer.status_code == 303, answer.text
    return client


_DURATION = re.compile(r"app;dur=([0-9.]+)")


def measure(client: httpx.Client, path: str, params: dict, requests: int) -> dict:
    """Server-Timing and wall time (ms) of ``requests`` GETs, after 3 unmeasured ones."""
    server, wall = [], []
    for i in range(requests + 3):
        started = time.perf_counter()
        answer = client.get(path, params=params)
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, (path, params, answer.status_code, answer.text[:500])
        if i >= 3:
            found = _DURATION.search(answer.headers.get("server-timing", ""))
            assert found, answer.headers
            server.append(float(found.group(1)))
            wall.append(elapsed)
    rows = len(re.findall(r'name="ids" value=', answer.text))
    total = re.search(r"<strong>([0-9+]+)</strong> user", answer.text)
    return {
        "server": (statistics.median(server), _p95(server)),
        "wall": (statistics.median(wall), _p95(wall)),
        "rows": rows,
        "total": total.group(1) if total else "",
    }


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


CASES = [
    ("users page 1", {}),
    ("page at offset 10,000", {"offset": 10_000}),
    (f"search, rare word ({run.RARE})", {"search": run.RARE}),
    (f"search, common word ({run.COMMON})", {"search": run.COMMON}),
    ("status filter: blocked", {"status": "blocked"}),
    ("status filter: active", {"status": "active"}),
    ("e-mail verified: no", {"verified": "no"}),
    ("label filter (vip, 1 in 100)", {"label": "vip"}),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--data-dir", type=Path, help="kept between runs (seeded once); default: a fresh temp dir")
    parser.add_argument("--database-url", help="PostgreSQL (an empty database the first time); default SQLite")
    parser.add_argument("--results", action="store_true", help="append the table to bench/RESULTS.md")
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="nib-console-bench-"))
    seeded = prepare(data_dir, args.database_url, args.users)
    port = run.free_port()
    nib = run.find_tool("nib")
    argv = ([nib] if nib else [sys.executable, "-m", "nib"]) + [
        "serve",
        *storage_args(data_dir, args.database_url),
        "--port",
        str(port),
    ]
    server = run.Server("nib", argv, env={"NIB_RATE_LIMITS": "off"})
    try:
        run.wait_http(f"http://127.0.0.1:{port}/v1/health", 120)
        client = console_client(f"http://127.0.0.1:{port}", data_dir, args.database_url)
        path = f"/console/projects/{PROJECT}/users"
        # A warm server (imports, templates, statement caches, connection pool) for every case.
        for _, params in CASES:
            for _ in range(5):
                client.get(path, params=params)
        results = [(name, measure(client, path, params, args.requests)) for name, params in CASES]
        user_page = measure(client, f"{path}/{run.nib_user(args.users // 2)[0]}", {}, args.requests)
        results.append(("one user's page", user_page))
    finally:
        server.stop()

    backend = "PostgreSQL" if args.database_url else "SQLite"
    lines = [
        f"| case ({backend}, {args.users:,} users) | rows | total shown | server median | server p95 | wall median | wall p95 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results:
        over = " **over 200 ms**" if r["server"][1] > 200 else ""
        lines.append(
            f"| {name}{over} | {r['rows'] or '–'} | {r['total'] or '–'} | {r['server'][0]:.1f} ms | {r['server'][1]:.1f} ms "
            f"| {r['wall'][0]:.1f} ms | {r['wall'][1]:.1f} ms |"
        )
    table = "\n".join(lines)
    print(table)
    if seeded is not None:
        print(f"\nseeded {args.users:,} users in {seeded:.0f} s")
    if args.results:
        _append_results(args, table, seeded)
    return 0


def _append_results(args: argparse.Namespace, table: str, seeded: float | None) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    memory = next(
        (line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")),
        "0",
    )
    command = "python bench/console.py --users {:,}".format(args.users).replace(",", "_")
    if args.database_url:
        command += " --database-url postgresql://…"
    section = [
        "",
        f"## Console users pages ({'PostgreSQL' if args.database_url else 'SQLite'}, {args.users:,} users)",
        "",
        f"- Command: `{command} --requests {args.requests}`",
        f"- Machine: {os.cpu_count()} CPUs (`nproc`), {int(memory) // 1024 // 1024} GiB RAM; "
        f"date {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; commit {commit.stdout.strip()}",
        f"- Seeding: {'not recorded' if seeded is None else f'{seeded:.0f} s'} (bulk inserts, see bench/console.py)",
        "- Server = the console's `Server-Timing: app;dur` (handler and render); wall = client-side, loopback HTTP",
        "",
        table,
        "",
    ]
    with (BENCH / "RESULTS.md").open("a") as out:
        out.write("\n".join(section))


if __name__ == "__main__":
    raise SystemExit(main())
