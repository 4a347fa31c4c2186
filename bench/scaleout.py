"""Scale-out benchmark: GET user through a load balancer, one nib node beside two, on PostgreSQL.

    python bench/scaleout.py [--users 10000] [--duration 10] [--rounds 3] [--connections 64]
                             [--node-cpu 0.5] [--no-write]

Each node is a `nib serve` (1 worker) on one PostgreSQL database, behind nginx (the same
round-robin load balancer the scale-out tests start, tests/load_balancer.py). A small machine
cannot give each node cores of its own and still run PostgreSQL, nginx and wrk beside them, so
each node gets a CPU budget of its own: pinned to a core of its own with `taskset` (node 1 on
CPU 0, node 2 on CPU 1) and held to `--node-cpu` of that core by a cgroup CPU quota (the cgroup
v1 `cpu` controller, or v2 `cpu.max`). PostgreSQL, nginx and wrk run unconfined on what is left.
Without a writable cgroup the quota is left out (and the report says so): then the nodes compete
with the rest for the two cores and the ratio says little.

Rounds are interleaved: one node through its balancer, two nodes through theirs, one node
directly (the balancer's cost), so a drift of the machine hits every target alike. The best
round of each is reported. Writes the "Scale-out" section of RESULTS.md (between its markers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import backup  # noqa: E402  (bench/backup.py: seeding users, the admin connection, RESULTS.md sections)
import console  # noqa: E402  (bench/console.py: storage arguments)
import run  # noqa: E402  (bench/run.py: servers, wrk, users' ids)

from load_balancer import start_load_balancer  # noqa: E402  (tests/load_balancer.py: nginx round robin)

CGROUP_V1 = Path("/sys/fs/cgroup/cpu")
CGROUP_V2 = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class CpuBudget:
    """A cgroup holding one node to ``share`` of a CPU (None when no cgroup is writable)."""

    def __init__(self, name: str, share: float) -> None:
        self.path: Path | None = None
        for base, limit in ((CGROUP_V1, "cpu.cfs_quota_us"), (CGROUP_V2, "cpu.max")):
            if not (base / limit).exists() and not (base / "cgroup.controllers").exists():
                continue
            path = base / name
            try:
                path.mkdir(exist_ok=True)
                quota = int(share * PERIOD_US)
                if limit == "cpu.max":
                    (path / limit).write_text(f"{quota} {PERIOD_US}\n")
                else:
                    (path / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
                    (path / limit).write_text(f"{quota}\n")
            except OSError:
                continue
            self.path = path
            return

    def add(self, pid: int) -> None:
        """``pid`` and every thread and child it has now (uvicorn starts no more later)."""
        if self.path is None:
            return
        for p in run.rss_kb(pid):
            for task in Path(f"/proc/{p}/task").iterdir():
                (self.path / "cgroup.procs").write_text(f"{task.name}\n")

    def remove(self) -> None:
        if self.path is not None:
            self.path.rmdir()


def start_node(index: int, storage: list[str], budget: CpuBudget) -> tuple[run.Server, str]:
    port = run.free_port()
    argv = [sys.executable, "-m", "nib", "serve", *storage, "--port", str(port), "--console", "off"]
    cores = str(index % (os.cpu_count() or 1))
    server = run.Server(f"node{index}", ["taskset", "-c", cores, *argv], env={"NIB_RATE_LIMITS": "off"})
    base = f"127.0.0.1:{port}"
    run.wait_http(f"http://{base}/v1/health", 120)
    budget.add(server.proc.pid)
    return server, base


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--node-cpu", type=float, default=0.5, help="each node's CPU budget, in cores")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    parser.add_argument("--json", type=Path, help="also write the figures to this file (for run.py --suite)")
    args = parser.parse_args()
    if missing := [tool for tool in ("wrk", "nginx", "taskset") if not shutil.which(tool)]:
        parser.error(f"not on PATH: {', '.join(missing)} (bench/setup.sh installs wrk and nginx)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    work = Path(tempfile.mkdtemp(prefix="nib-scaleout-bench-"))
    pg_name = f"nib_bench_scaleout_{uuid.uuid4().hex[:8]}"
    database_url = args.postgres.rsplit("/", 1)[0] + "/" + pg_name
    budgets = [CpuBudget(f"nib-bench-node{i}", args.node_cpu) for i in (1, 2)]
    servers: list = []
    try:
        backup._admin(args.postgres, f'CREATE DATABASE "{pg_name}"')
        run.log(f"seeding {args.users:,} users")
        key, _ = backup.seed_users(work / "seed", database_url, args.users)
        nodes = []
        for i, budget in enumerate(budgets, start=1):
            server, address = start_node(i, console.storage_args(work / f"node{i}", database_url), budget)
            servers.append(server)
            nodes.append(address)
        one = start_load_balancer(nodes[:1], work / "lb1")
        servers.append(one)
        two = start_load_balancer(nodes, work / "lb2")
        servers.append(two)
        user_id = run.nib_user(args.users // 2)[0]
        path = f"/v1/users/{user_id}"
        headers = {"X-Appwrite-Project": run.PROJECT, "X-Appwrite-Key": key}
        targets = {
            "one node through nginx": one.endpoint.removesuffix("/v1") + path,
            "two nodes through nginx": two.endpoint.removesuffix("/v1") + path,
            "one node directly": f"http://{nodes[0]}{path}",
        }
        rounds: dict[str, list[dict]] = {name: [] for name in targets}
        for number in range(args.rounds):
            for name, url in targets.items():
                run.wrk(url, duration=2, connections=args.connections, headers=headers)  # warm-up
                measured = run.wrk(url, duration=args.duration, connections=args.connections, headers=headers)
                if measured["non2xx"] or measured["socket_errors"]:
                    raise RuntimeError(
                        f"{name}: {measured['non2xx']} non-2xx, {measured['socket_errors']} socket errors"
                    )
                rounds[name].append(measured)
                run.log(f"round {number + 1} {name}: {measured['rps']:,.0f} req/s, p99 {measured['p99_ms']:.1f} ms")
    finally:
        for server in reversed(servers):
            server.stop()
        for budget in budgets:
            budget.remove()
        shutil.rmtree(work, ignore_errors=True)
        backup._admin(args.postgres, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
    section = render(args, rounds, confined=all(budget.path is not None for budget in budgets))
    print(section)
    if args.json:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
        command = section.split("Command: `", 1)[1].split("`", 1)[0]
        date = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        args.json.write_text(
            json.dumps({"rounds": rounds, "command": command, "date": date, "commit": commit.stdout.strip()}) + "\n"
        )
    if not args.no_write:
        backup.write_section("scaleout", section)
    return 0


def render(args: argparse.Namespace, rounds: dict[str, list[dict]], confined: bool) -> str:
    best = {name: run.best(measured) for name, measured in rounds.items()}
    single = best["one node through nginx"]["rps"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    budget = (
        f"each node pinned to a core of its own (`taskset -c 0` / `-c 1`) and held to {args.node_cpu:g} of it by a"
        " cgroup CPU quota; PostgreSQL, nginx and wrk unconfined on the rest"
        if confined
        else "each node pinned to a core of its own (`taskset`); no cgroup was writable, so no CPU quota"
    )
    lines = [
        "<!-- scaleout -->",
        "## Scale-out: GET user through nginx, one node beside two (PostgreSQL)",
        "",
        f"- Command: `python bench/scaleout.py --users {args.users} --duration {args.duration} --rounds {args.rounds}"
        f" --connections {args.connections} --node-cpu {args.node_cpu:g}`",
        f"- Date: {dt.date.today().isoformat()}; commit {commit.stdout.strip() or '?'};"
        f" machine: {os.cpu_count()} cores ({run._cpu_model()})",
        f"- Nodes: `nib serve` with 1 worker each on one PostgreSQL database, {budget}",
        "- Load: wrk -t1 on loopback with an API key, one user by id, after a 2 s warm-up; targets interleaved"
        " round by round, best round of each",
        "",
        "| target | req/s | ratio to one node | p50 ms | p99 ms |",
        "|---|---|---|---|---|",
    ]
    for name, measured in best.items():
        lines.append(
            f"| {name} | {measured['rps']:,.0f} | {measured['rps'] / single:.2f}x"
            f" | {measured['p50_ms']:.1f} | {measured['p99_ms']:.1f} |"
        )
    lines += ["", "<!-- /scaleout -->"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    run.run_command(main, "bench/scaleout.py")
