"""Speed of ``nib backup`` beside plain copies, and the server's GET-user latency while it runs (issue 15).

    python bench/backup.py [--users 100000] [--gigabytes 10] [--backend sqlite|postgresql] [--work DIR]
                           [--file-mb 100] [--rate 200] [--idle-seconds 30] [--capped-mb-s 150] [--no-write]

Run from the repo root with nib's virtualenv active; needs ``cp`` and, for PostgreSQL,
``pg_dump`` on PATH. Everything happens in a fresh directory under DIR (default: the system's
temp dir), removed at the end with the processes started, as is the PostgreSQL database made
for the run. Steps:

1. A fresh data dir (SQLite) or database (PostgreSQL, ``--postgres`` is the server), migrated,
   project ``default`` and its key made. N users seeded by bulk inserts of the rows the users
   service writes (bench/console.py's ``seed``, with an e-mail and an sms target each), each with
   its own imported argon2id hash computed here with tiny costs (8 KiB, 1 pass: real costs would
   take hours for 100,000 hashes; the stored string has a real hash's length).
2. ``nib serve`` (1 worker, rate limits off) on it; G GB (10^9 bytes) of files uploaded through
   the Files API as the SDKs send them (5 MiB chunks, in order), ``--file-mb`` MB (10^6 bytes)
   each, fresh random bytes (nothing compresses or repeats), to one bucket with encryption off
   and compression none (Appwrite encrypts files up to 20 MB only).
3. Floors, each after ``sync`` and dropping the page cache (``echo 3 > /proc/sys/vm/drop_caches``,
   as root; whether it worked is reported): ``cp`` of the SQLite database file (its WAL
   checkpointed first) or ``pg_dump -Fc`` (nib's own options) into the destination directory;
   ``cp -r`` of the storage tree there. The time of a ``sync`` right after each is reported too.
   The copies stay until the run ends (deleting gigabytes just before a window would put that
   work inside it), so DIR needs about five times G free.
4. Idle latency: GET /v1/users/{id} with the API key for half of ``--idle-seconds`` from
   bench/openloop.py, a separate process sending at a fixed rate (``--rate``, open loop: a
   saturating or closed-loop load measures throughput and hides stalls, not the backup's effect
   on latency); latency counts from each request's due time. Page cache dropped first, the
   machine left to settle (``settle``: this virtual machine's host goes on writing after ``sync``,
   and the guest hands the dropped cache's memory back to the host for many seconds), then every
   sampled user read once (a serving machine holds its hot rows in memory). The other half right
   after the backup (step 5): the idle figures pool both, so the machine's drift
   (it is shared) weighs on both sides of the comparison.
5. ``nib backup --to DEST`` (DEST on the same file system as the floors), page cache dropped
   and the sampled users read first, with the same load running from a second before to a second after; only requests due
   while the backup ran count. Its summary line gives the database's and the objects' bytes and
   seconds. Then the same load while ``cp -r`` copies the storage tree again (a plain copy's own
   effect on the server); while ``nib backup --max-rate`` (``--capped-mb-s`` MB/s) copies it to
   a second DEST; and a second backup to the first DEST (every object already there: reused). The CPU time the hypervisor took during each window is reported beside, and the
   pauses a real-time priority thread on each CPU saw (bench/pauses.py).

Writes (unless ``--no-write``) a section of bench/RESULTS.md per backend, replaced on each run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))

import console  # noqa: E402  (bench/console.py: the bulk seeding of users)
import run  # noqa: E402  (bench/run.py: users' names, server helpers)
from storage import BOUNDARY, CHUNK, multipart  # noqa: E402  (bench/storage.py: the SDKs' upload requests)

from nib.auth import projects  # noqa: E402
from nib.data.db import Database  # noqa: E402
from nib.data.db.migrate import upgrade  # noqa: E402

SUMMARY = re.compile(
    r"^backup (?P<name>\S+) complete: database (?P<db_bytes>\d+) bytes in (?P<db_s>[0-9.]+) s; "
    r"objects (?P<objects>\d+) \((?P<obj_bytes>\d+) bytes\) in (?P<obj_s>[0-9.]+) s, (?P<reused>\d+) reused$",
    re.M,
)
BUCKET = "bench-backup"
MB = 1_000_000
SAMPLED_USERS = 1000


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# seeding


def _hashed(i: int) -> tuple[str, dict]:
    """User ``i``'s imported argon2id hash (a password of its own, tiny costs) and hashOptions."""
    from argon2.low_level import Type, hash_secret

    encoded = hash_secret(
        f"password-{i}".encode(), os.urandom(16), time_cost=1, memory_cost=8, parallelism=1, hash_len=32, type=Type.ID
    )
    return encoded.decode(), {"type": "argon2"}


def seed_users(data_dir: Path, database_url: str | None, n: int) -> tuple[str, float]:
    """Migrate, make project ``default`` and its key, seed ``n`` users: (the key's secret, seconds)."""
    settings = console._settings(data_dir, database_url)
    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        upgrade(db)
        key = projects.bootstrap(db)
        assert key is not None, "the database was not empty"
        return key["secret"], console.seed(db, n, _hashed)
    finally:
        db.dispose()


def upload_files(client: httpx.Client, total: int, file_bytes: int) -> tuple[int, float]:
    """``total`` random bytes in files of ``file_bytes`` into a new bucket: (files, seconds)."""
    answer = client.post(
        "/v1/storage/buckets",
        json={
            "bucketId": BUCKET,
            "name": "backup bench",
            "maximumFileSize": file_bytes,
            "encryption": False,
            "compression": "none",
        },
    )
    assert answer.status_code == 201, answer.text
    started, files, left = time.perf_counter(), 0, total
    url = f"/v1/storage/buckets/{BUCKET}/files"
    while left:
        size, file_id = min(left, file_bytes), f"f{files:05d}"
        for start in range(0, size, CHUNK):
            data = os.urandom(min(CHUNK, size - start))
            headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
            if size > CHUNK:
                headers["Content-Range"] = f"bytes {start}-{start + len(data) - 1}/{size}"
                if start:
                    headers["x-appwrite-id"] = file_id
            answer = client.post(url, content=multipart(file_id, f"{file_id}.bin", data), headers=headers)
            assert answer.status_code == 201, answer.text
        assert answer.json()["sizeOriginal"] == size, answer.text
        files, left = files + 1, left - size
        if files % 10 == 0 or not left:
            log(f"  {files} files, {(total - left) / MB:,.0f} MB in {time.perf_counter() - started:.0f} s")
    return files, time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# floors


def drop_caches() -> bool:
    """Write dirty pages out and drop the page cache; False when the kernel refuses (not root)."""
    subprocess.run(["sync"], check=True)
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        return False
    return True


def timed(argv: list[str]) -> tuple[float, float]:
    """Seconds of ``argv`` and of a ``sync`` right after it."""
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    middle = time.perf_counter()
    subprocess.run(["sync"], check=True)
    return middle - started, time.perf_counter() - middle


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def floors(data_dir: Path, database_url: str | None, dest: Path) -> dict:
    """``cp`` (or ``pg_dump``) of the database and ``cp -r`` of the storage tree into ``dest``."""
    out: dict = {}
    if database_url:
        target = dest / "floor.dump"
        out["caches_dropped"] = drop_caches()
        seconds, sync = timed(["pg_dump", "-Fc", "--no-owner", "--no-acl", "-f", str(target), database_url])
        out["database"] = {"tool": "pg_dump -Fc", "bytes": target.stat().st_size, "seconds": seconds, "sync": sync}
    else:
        database = data_dir / "nib.db"
        with sqlite3.connect(database) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        out["caches_dropped"] = drop_caches()
        seconds, sync = timed(["cp", str(database), str(dest / "floor.db")])
        out["database"] = {"tool": "cp", "bytes": database.stat().st_size, "seconds": seconds, "sync": sync}
    drop_caches()
    seconds, sync = timed(["cp", "-r", str(data_dir / "storage"), str(dest / "floor-storage")])
    out["objects"] = {"tool": "cp -r", "bytes": tree_bytes(data_dir / "storage"), "seconds": seconds, "sync": sync}
    # The copies stay until the run ends: deleting gigabytes (a discard per extent on this
    # machine's disk) just before a latency window would put that work inside the window.
    return out


# ---------------------------------------------------------------------------------------------
# latency under load


class Load:
    """bench/openloop.py in its own process, GETting sampled users with the key until stopped."""

    def __init__(self, base: str, key: str, user_ids: list[str], rate: float) -> None:
        argv = [sys.executable, str(BENCH / "openloop.py"), "--url", base, "--rate", str(rate)]
        argv += ["--header", f"X-Appwrite-Project: {run.PROJECT}", "--header", f"X-Appwrite-Key: {key}"]
        argv += [f"/v1/users/{uid}" for uid in user_ids]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)

    def stop(self) -> dict:
        """Close its stdin (it finishes what is in flight and reports); its results."""
        out, _ = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, "the load generator failed"
        return orjson.loads(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def due_in(requests: list[list[float]], since: float, until: float) -> list[list[float]]:
    return [r for r in requests if since <= r[0] <= until]


def latency(window: list[list[float]], seconds: float) -> dict:
    """p50/p99/max (ms) of the requests of a ``seconds`` long window, and how many failed."""
    times = sorted(r[1] for r in window)
    assert times, "no request was due in the window"
    return {
        "requests": len(times),
        "seconds": seconds,
        "p50_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, round(0.99 * (len(times) - 1)))],
        "max_ms": times[-1],
        "failed": sum(1 for r in window if r[2] != 200),
    }


def warm(base: str, key: str, user_ids: list[str]) -> None:
    """GET every sampled user once after the page cache was dropped: a serving machine holds its
    hot rows in memory, and latency measured on a cold cache would be the disk's, not nib's."""
    headers = {"X-Appwrite-Project": run.PROJECT, "X-Appwrite-Key": key}
    with httpx.Client(base_url=base, headers=headers) as client:
        for uid in user_ids:
            client.get(f"/v1/users/{uid}").raise_for_status()


def measure_idle(base: str, key: str, user_ids: list[str], rate: float, seconds: float, probe: Path) -> dict:
    """The requests due in ``seconds`` of load without a backup, and the worst send lateness."""

    def idle(load_pid: int) -> float:
        time.sleep(seconds)
        return seconds

    return under_load(base, key, user_ids, rate, idle, probe)


# ---------------------------------------------------------------------------------------------
# nib backup


def nib_command(*args: str) -> list[str]:
    nib = run.find_tool("nib")
    return [*([nib] if nib else [sys.executable, "-m", "nib"]), *args]


def backup(storage: list[str], dest: Path, *extra: str) -> dict:
    """One ``nib backup --to dest``: its summary line's figures, wall and CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(nib_command("backup", "--to", str(dest), *storage, *extra), capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = SUMMARY.search(done.stdout)
    if done.returncode or not found:
        raise RuntimeError(f"nib backup failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    sync_started = time.perf_counter()
    subprocess.run(["sync"], check=True)
    figures = {k: float(v) if k.endswith("_s") else v if k == "name" else int(v) for k, v in found.groupdict().items()}
    return {
        **figures,
        "wall": wall,
        "sync": time.perf_counter() - sync_started,
        "cpu": after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime,
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU seconds of ``pid`` and its descendants so far."""
    total = 0.0
    for p in run.rss_kb(pid):  # the tree's pids
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def settle(probe: Path, quiet_seconds: float = 5, limit: float = 300) -> float:
    """Wait until the machine has been quiet for ``quiet_seconds``: a 4 KiB write and fdatasync
    under ``probe`` under 20 ms, no CPU time stolen by the hypervisor and no free memory handed
    back to the host, every 100 ms. Returns the seconds waited.

    On this virtual machine the host goes on writing a copy's gigabytes after the guest's
    ``sync`` returned, and steals CPU from the guest while it does. And the guest kernel hands
    every free block of memory back to the host (free page reporting): after the page cache is
    dropped, gigabytes of it, for 15-30 s, and while it does both CPUs stop together for 20-40 ms
    at a time. A window started earlier measures the previous step's work, not its own."""
    started = quiet_since = time.perf_counter()
    steal, reported = _stolen(), reported_kib()
    with open(probe, "wb") as out:
        while (now := time.perf_counter()) - quiet_since < quiet_seconds and now - started < limit:
            out.seek(0)
            out.write(os.urandom(4096))
            out.flush()
            os.fdatasync(out.fileno())
            took = time.perf_counter() - now
            time.sleep(max(0.0, 0.1 - took))
            total, handed_back = _stolen(), reported_kib()
            stolen, steal = total - steal, total
            moved, reported = handed_back != reported, handed_back
            if took > 0.02 or stolen > 0 or moved:
                quiet_since = time.perf_counter()
    probe.unlink()
    return time.perf_counter() - started


REPORTED = Path("/sys/module/page_reporting/parameters/reported_kib")


def reported_kib() -> int:
    """KiB of free memory the guest kernel has handed back to the host so far (0 where this
    kernel does not say)."""
    try:
        return int(REPORTED.read_text())
    except (OSError, ValueError):
        return 0


def _stolen() -> int:
    """Clock ticks the hypervisor took from this machine's CPUs so far (0 where not reported)."""
    fields = run.cpu_ticks()
    return fields[7] if len(fields) > 7 else 0


def under_load(
    base: str, key: str, user_ids: list[str], rate: float, work: Callable[[int], float], probe: Path
) -> dict:
    """The GET-user requests due while ``work`` (given the load generator's pid, returning its
    wall seconds) ran, the page cache dropped, the machine quiet and the sampled users read first,
    the load running from a second before to a second after; and the generator's worst send
    lateness."""
    drop_caches()
    log(f"  machine quiet after {settle(probe):.1f} s")
    warm(base, key, user_ids)
    watchers = [Pauses(cpu) for cpu in sorted(os.sched_getaffinity(0))]
    load = Load(base, key, user_ids, rate)
    try:
        time.sleep(1)
        started, stolen, reported = time.time(), _stolen(), reported_kib()
        ended = started + work(load.proc.pid)
        stolen, reported = _stolen() - stolen, reported_kib() - reported
        time.sleep(1)
        result = load.stop()
        pauses = [p for watcher in watchers for p in watcher.stop() if started <= p[0] <= ended]
    finally:
        load.kill()
        for watcher in watchers:
            watcher.kill()
    return {
        "window": due_in(result["requests"], started, ended),
        "seconds": ended - started,
        "late_ms": result["late_ms"],
        "stolen": stolen / os.sysconf("SC_CLK_TCK") / (ended - started) / (os.cpu_count() or 1),
        "pauses": pauses,
        "reported_mib": reported / 1024,
    }


class Pauses:
    """bench/pauses.py on one CPU: the pauses a real-time priority thread saw there."""

    def __init__(self, cpu: int) -> None:
        argv = [sys.executable, str(BENCH / "pauses.py"), "--cpu", str(cpu)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True)

    def stop(self) -> list[list[float]]:
        """[wall time, seconds, cpu] of each pause."""
        out, _ = self.proc.communicate(timeout=60)
        found = orjson.loads(out)
        return [[at, seconds, found["cpu"]] for at, seconds in found["late"]] if found["realtime"] else []

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def in_pauses(window: list[list[float]], pauses: list[list[float]], over_ms: float = 50) -> tuple[int, int]:
    """(requests slower than ``over_ms``, how many of them were in flight during a pause)."""
    slow = [r for r in window if r[1] > over_ms]
    hit = sum(1 for r in slow if any(at < r[0] + r[1] / 1000 and r[0] < at + s for at, s, _ in pauses))
    return len(slow), hit


def latency_of(measured: dict) -> dict:
    slow, in_pause = in_pauses(measured["window"], measured["pauses"])
    return {
        **latency(measured["window"], measured["seconds"]),
        "late_ms": measured["late_ms"],
        "stolen": measured["stolen"],
        "reported_mib": measured["reported_mib"],
        "pause_max_ms": max((s * 1000 for _, s, _ in measured["pauses"]), default=0.0),
        "pause_total_ms": sum(s * 1000 for _, s, _ in measured["pauses"]),
        "slow": slow,
        "slow_in_pause": in_pause,
    }


def backup_under_load(
    base: str,
    key: str,
    user_ids: list[str],
    rate: float,
    storage: list[str],
    dest: Path,
    server_pid: int,
    probe: Path,
    *extra: str,
) -> dict:
    figures: dict = {}

    def work(load_pid: int) -> float:
        cpu = cpu_seconds(server_pid), cpu_seconds(load_pid)
        figures["backup"] = taken = backup(storage, dest, *extra)
        server, load = (cpu_seconds(pid) - before for pid, before in zip((server_pid, load_pid), cpu))
        figures["cores"] = {
            "server": server / taken["wall"],
            "load": load / taken["wall"],
            "backup": taken["cpu"] / taken["wall"],
        }
        return taken["wall"]

    during = latency_of(under_load(base, key, user_ids, rate, work, probe))  # fills in figures
    return {**figures, "latency": during}


def copy_under_load(
    base: str, key: str, user_ids: list[str], rate: float, source: Path, target: Path, probe: Path
) -> dict:
    """The same latency while ``cp -r`` copies the storage tree: what a plain copy of the same
    bytes does to the server, the floor of the backup's effect."""

    def work(load_pid: int) -> float:
        seconds, _ = timed(["cp", "-r", str(source), str(target)])
        return seconds

    return latency_of(under_load(base, key, user_ids, rate, work, probe))


# ---------------------------------------------------------------------------------------------
# the run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--gigabytes", type=float, default=10.0, help="of files, 10^9 bytes")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--work", type=Path, help="where the run's directory is made (default: the temp dir)")
    parser.add_argument("--file-mb", type=int, default=100, help="size of each file (10^6 bytes)")
    parser.add_argument("--rate", type=float, default=200, help="GET user requests a second")
    parser.add_argument("--idle-seconds", type=float, default=30)
    parser.add_argument("--capped-mb-s", type=float, default=150, help="--max-rate of the capped backup, MB/s")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    args = parser.parse_args()
    if args.users < 1 or args.gigabytes <= 0 or args.file_mb < 1 or args.rate <= 0 or args.capped_mb_s <= 0:
        parser.error("--users, --gigabytes, --file-mb, --rate and --capped-mb-s must be positive")
    needed = ["cp", "sync", "findmnt", *(["pg_dump"] if args.backend == "postgresql" else [])]
    if missing := [tool for tool in needed if not shutil.which(tool)]:
        parser.error(f"not on PATH: {', '.join(missing)}")
    # SIGTERM unwinds like Ctrl-C, so the processes, the directory and the database go too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nib-backup-bench-", dir=args.work))
    data_dir, dest, probe = work / "data", work / "dest", work / "settle-probe"
    data_dir.mkdir()
    dest.mkdir()
    pg_name = f"nib_bench_backup_{uuid.uuid4().hex[:8]}" if args.backend == "postgresql" else None
    database_url = args.postgres.rsplit("/", 1)[0] + "/" + pg_name if pg_name else None
    server = None
    loadavg_start = os.getloadavg()
    try:
        if pg_name:
            _admin(args.postgres, f'CREATE DATABASE "{pg_name}"')
        log(f"seeding {args.users:,} users ({args.backend})")
        key, seeded = seed_users(data_dir, database_url, args.users)
        storage = console.storage_args(data_dir, database_url)
        port = run.free_port()
        base = f"http://127.0.0.1:{port}"
        server = run.Server("nib", nib_command("serve", *storage, "--port", str(port)), env={"NIB_RATE_LIMITS": "off"})
        run.wait_http(f"{base}/v1/health", 120)
        headers = {"X-Appwrite-Project": run.PROJECT, "X-Appwrite-Key": key}
        total = round(args.gigabytes * 1e9)
        log(f"uploading {total / MB:,.0f} MB in files of {args.file_mb} MB")
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            files, uploaded = upload_files(client, total, args.file_mb * MB)
        user_ids = [
            run.nib_user(i)[0]
            for i in random.Random(15).sample(range(1, args.users + 1), min(args.users, SAMPLED_USERS))
        ]
        log("floors: database and storage tree copies")
        floor = floors(data_dir, database_url, dest)
        log(f"idle latency for {args.idle_seconds / 2:.0f} s at {args.rate:.0f} req/s")
        before = measure_idle(base, key, user_ids, args.rate, args.idle_seconds / 2, probe)
        log("nib backup under the same load")
        first = backup_under_load(base, key, user_ids, args.rate, storage, dest / "backups", server.proc.pid, probe)
        log(f"idle latency again for {args.idle_seconds / 2:.0f} s")
        after = measure_idle(base, key, user_ids, args.rate, args.idle_seconds / 2, probe)
        log("cp -r of the storage tree under the same load")
        copying = copy_under_load(base, key, user_ids, args.rate, data_dir / "storage", dest / "copy-under-load", probe)
        log(f"nib backup --max-rate {args.capped_mb_s:g}M under the same load")
        capped = backup_under_load(
            base,
            key,
            user_ids,
            args.rate,
            storage,
            dest / "capped",
            server.proc.pid,
            probe,
            "--max-rate",
            f"{args.capped_mb_s:g}M",
        )
        taken = first["backup"]
        if (taken["objects"], taken["obj_bytes"]) != (files, total):
            raise RuntimeError(
                f"the backup holds {taken['objects']} objects, {taken['obj_bytes']} bytes;"
                f" {files} files, {total} bytes were uploaded"
            )
        log("second backup (incremental)")
        drop_caches()
        second = backup(storage, dest / "backups")
    finally:
        if server is not None:
            server.stop()
            server.log_path.unlink()
        shutil.rmtree(work, ignore_errors=True)
        if pg_name:
            _admin(args.postgres, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    result = {
        "args": args,
        "work": work.parent,
        "seeded": seeded,
        "files": files,
        "total": total,
        "uploaded": uploaded,
        "floor": floor,
        "idle": {
            **latency(before["window"] + after["window"], before["seconds"] + after["seconds"]),
            "late_ms": max(before["late_ms"], after["late_ms"]),
            "p99_before_ms": latency(before["window"], before["seconds"])["p99_ms"],
            "p99_after_ms": latency(after["window"], after["seconds"])["p99_ms"],
            "stolen": max(before["stolen"], after["stolen"]),
            "reported_mib": max(before["reported_mib"], after["reported_mib"]),
            "pause_max_ms": max((x * 1000 for _, x, _ in before["pauses"] + after["pauses"]), default=0.0),
            "pause_total_ms": sum(x * 1000 for _, x, _ in before["pauses"] + after["pauses"]),
        },
        "first": first,
        "copying": copying,
        "capped": capped,
        "second": second,
        "loadavg": (loadavg_start, os.getloadavg()),
    }
    section = render(result)
    print(section)
    if not args.no_write:
        write_section(f"backup {args.backend}", section)
    return 0


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


# ---------------------------------------------------------------------------------------------
# RESULTS.md


def _rate(nbytes: int, seconds: float) -> float:
    return nbytes / MB / seconds if seconds > 0 else float("inf")


def _machine(work: Path) -> str:
    memory = next(
        line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    disk = subprocess.run(["findmnt", "-no", "SOURCE,FSTYPE", "--target", str(work)], capture_output=True, text=True)
    return f"{os.cpu_count()} cores (`nproc`; {run._cpu_model()}), {int(memory) / 1024 / 1024:.0f} GiB RAM, disk {disk.stdout.strip() or '?'}"


def render(r: dict) -> str:
    args, floor, idle, first, second = r["args"], r["floor"], r["idle"], r["first"], r["second"]
    taken, busy, cores = first["backup"], first["latency"], first["cores"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    db_floor, obj_floor = floor["database"], floor["objects"]
    db_rate, db_floor_rate = _rate(taken["db_bytes"], taken["db_s"]), _rate(db_floor["bytes"], db_floor["seconds"])
    obj_rate, obj_floor_rate = (
        _rate(taken["obj_bytes"], taken["obj_s"]),
        _rate(obj_floor["bytes"], obj_floor["seconds"]),
    )
    db_ratio, obj_ratio, p99_ratio = db_rate / db_floor_rate, obj_rate / obj_floor_rate, busy["p99_ms"] / idle["p99_ms"]
    capped, capped_busy = r["capped"]["backup"], r["capped"]["latency"]
    capped_rate, capped_p99 = _rate(capped["obj_bytes"], capped["obj_s"]), capped_busy["p99_ms"] / idle["p99_ms"]
    dropped = floor["caches_dropped"]
    backend = "PostgreSQL" if args.backend == "postgresql" else "SQLite"

    def yes(ok: bool) -> str:
        return "**yes**" if ok else "**NO**"

    def lat(x: dict) -> str:
        return (
            f"p50 {x['p50_ms']:.1f} ms, p99 {x['p99_ms']:.1f} ms, max {x['max_ms']:.0f} ms"
            f" ({x['requests']:,} requests in {x['seconds']:.1f} s, {x['failed']} failed)"
        )

    command = f"python bench/backup.py --users {args.users} --gigabytes {args.gigabytes:g} --backend {args.backend}"
    for flag, value, default in (
        ("file-mb", args.file_mb, 100),
        ("rate", args.rate, 200),
        ("idle-seconds", args.idle_seconds, 30),
        ("capped-mb-s", args.capped_mb_s, 150),
    ):
        command += f" --{flag} {value:g}" if value != default else ""
    scale = (
        []
        if args.users >= 100_000 and args.gigabytes >= 10
        else [
            "- **Smaller than the issue's 100,000 users and 10 GB: a check of the harness, not a measure of the targets**"
        ]
    )
    lines = [
        f"<!-- backup {args.backend} -->",
        f"## Backup ({backend}, `bench/backup.py`)",
        "",
        f"- Command: `{command}` (from the repo root, nib's virtualenv active)",
        f"- Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; nib commit {commit.stdout.strip()}",
        f"- Machine: {_machine(r['work'])}; load average at start {', '.join(f'{x:.2f}' for x in r['loadavg'][0])},"
        f" at end {', '.join(f'{x:.2f}' for x in r['loadavg'][1])}",
        f"- Data: {args.users:,} users (bulk inserts, each with its own imported argon2id hash of tiny cost, see"
        f" the script) in {r['seeded']:.0f} s; {r['files']} files, {r['total'] / MB:,.0f} MB of random bytes,"
        f" uploaded through the Files API in {r['uploaded']:.0f} s ({_rate(r['total'], r['uploaded']):.0f} MB/s),"
        " bucket without encryption or compression; 1 worker; source and destination on the same file system",
        *scale,
        f"- Page cache dropped before each floor, each idle measure and the backup: {'yes' if dropped else 'no (not permitted)'}"
        " (before each latency window, every sampled user is then read once, as a serving machine holds its hot rows in memory)",
        f"- Load: bench/openloop.py, a separate process, {args.rate:g} GET /v1/users/{{id}} a second with the"
        f" API key (open loop, latency from each request's due time; worst send lateness {idle['late_ms']:.1f} ms"
        f" idle, {busy['late_ms']:.1f} ms during the backup), over {min(args.users, SAMPLED_USERS)} random users;"
        " a fixed moderate rate, as a saturating load would measure throughput, not the backup's effect on latency;"
        " only requests due while the backup ran count",
        "- MB = 10^6 bytes; nib's figures are its summary line's (database: the snapshot written; objects:"
        " the stored files' bytes); `sync` = a `sync` run right after, the data it still had to write",
        "",
        "| scenario | nib | floor | ratio | target | met? |",
        "|---|---|---|---|---|---|",
        f"| database part | {db_rate:.0f} MB/s ({taken['db_bytes'] / MB:,.1f} MB in {taken['db_s']:.2f} s)"
        f" | {db_floor['tool']}: {db_floor_rate:.0f} MB/s ({db_floor['bytes'] / MB:,.1f} MB in {db_floor['seconds']:.2f} s;"
        f" then sync {db_floor['sync']:.2f} s) | {db_ratio:.2f}x | disk speed (beside {db_floor['tool']}) | - |",
        f"| objects | {obj_rate:.0f} MB/s ({taken['objects']} objects, {taken['obj_bytes'] / MB:,.0f} MB in {taken['obj_s']:.1f} s)"
        f" | cp -r: {obj_floor_rate:.0f} MB/s ({obj_floor['bytes'] / MB:,.0f} MB in {obj_floor['seconds']:.1f} s;"
        f" then sync {obj_floor['sync']:.1f} s) | {obj_ratio:.2f}x | >= 0.7x | {yes(obj_ratio >= 0.7)} |",
        f"| GET user while the backup runs | {lat(busy)} | idle, before and after: {lat(idle)}; p99 before"
        f" {idle['p99_before_ms']:.1f} ms, after {idle['p99_after_ms']:.1f} ms | {p99_ratio:.2f}x p99 | <= 2x idle p99"
        f" | {yes(p99_ratio <= 2 and busy['failed'] == 0)} |",
        f"| GET user while `nib backup --max-rate {args.capped_mb_s:g}M` runs (to a second DEST)"
        f" | {lat(capped_busy)}; objects {capped_rate:.0f} MB/s ({capped_rate / obj_floor_rate:.2f}x cp -r),"
        f" pauses {capped_busy['pause_total_ms']:.0f} ms in all | idle: p99 {idle['p99_ms']:.1f} ms"
        f" | {capped_p99:.2f}x p99 | <= 2x idle p99 | {yes(capped_p99 <= 2 and capped_busy['failed'] == 0)} |",
        f"| GET user while `cp -r` copies the same storage tree (no backup) | {lat(r['copying'])} | idle: p99"
        f" {idle['p99_ms']:.1f} ms | {r['copying']['p99_ms'] / idle['p99_ms']:.2f}x p99 | (context: a plain copy's own"
        " effect) | - |",
        f"| CPU time the hypervisor took from this machine during the window (share of all cores' time)"
        f" | during the backup {busy['stolen']:.1%}, during `cp -r` {r['copying']['stolen']:.1%}"
        f" | idle (the higher of before and after): {idle['stolen']:.1%} | | (context: the server waits"
        " while it is taken) | - |",
        f"| free memory the guest handed back to the host during the window (free page reporting; MiB)"
        f" | during the backup {busy['reported_mib']:,.0f}, during `cp -r` {r['copying']['reported_mib']:,.0f}"
        f" | idle (the higher of before and after): {idle['reported_mib']:,.0f} | | (context: both CPUs stop"
        " while the host takes it back) | - |",
        f"| pauses a real-time priority thread pinned to each CPU saw (bench/pauses.py; wake-ups over 20 ms late)"
        f" | during the backup: longest {busy['pause_max_ms']:.0f} ms, {busy['pause_total_ms']:.0f} ms in all;"
        f" {busy['slow_in_pause']} of the {busy['slow']} requests over 50 ms were in flight during one"
        f" | idle: longest {idle['pause_max_ms']:.0f} ms, {idle['pause_total_ms']:.0f} ms in all; during `cp -r`:"
        f" longest {r['copying']['pause_max_ms']:.0f} ms | | (context: no process on the machine runs through"
        " a pause) | - |",
        f"| whole backup | {taken['wall']:.1f} s wall, {taken['cpu']:.1f} s CPU; then sync {taken['sync']:.1f} s"
        f" | | | (context) | - |",
        f"| cores used while the backup ran (CPU s / wall s) | backup {cores['backup']:.2f}, server {cores['server']:.2f},"
        f" load generator {cores['load']:.2f}{'; PostgreSQL itself not counted' if args.backend == 'postgresql' else ''}"
        f" | | | (context; {os.cpu_count()} cores) | - |",
        f"| second backup to the same DEST | {second['wall']:.1f} s wall, {second['cpu']:.1f} s CPU;"
        f" {second['reused']} of {second['objects']} objects reused, database {second['db_s']:.2f} s | | | (context) | - |",
        f"<!-- /backup {args.backend} -->",
    ]
    return "\n".join(lines) + "\n"


def write_section(name: str, section: str) -> None:
    """Replace the section between ``<!-- name -->`` and ``<!-- /name -->`` of RESULTS.md (which
    ``section`` starts and ends with), or add it at the end."""
    path = BENCH / "RESULTS.md"
    text = path.read_text()
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    if start in text:
        text = re.sub(re.escape(start) + r".*?" + re.escape(end) + r"\n?", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    run.run_command(main, "bench/backup.py")
