"""``python bench/run.py --suite NAME``: benchmarks in sequence, then RESULTS.md's summary.

Each suite runs one or more of the benchmark scripts as it would be run by hand (each writes its
part of RESULTS.md as it always does) and hands each a ``--json`` file under bench/.work/suite/;
the summary at the top of RESULTS.md (between ``<!-- summary -->`` markers) is then built from
those files: every target of issue 17 with its ratio and the absolute figures beside it. A suite
not run this time is summarised from its file of an earlier run, when there is one, with that
run's date and commit.

- ``users``: run.py's Users scenarios at ``--users`` (100,000) with nib and the floor on 2 workers
- ``scale``: the same at ``--scale-users`` (1,000,000) on SQLite, then on PostgreSQL, each as a
  section of its own
- ``uploads``, ``footprint``, ``scaleout``: those scripts, with their defaults
- ``storage``, ``realtime``, ``backup`` (SQLite, then PostgreSQL): long runs (10 GB of files for
  the backup, 2,000 WebSockets for realtime): only when named, or with ``--suite all --long``

``--no-write`` is handed down (each script prints instead of writing) and the JSON goes to a
temporary directory, so a smoke run leaves RESULTS.md and bench/.work/suite/ alone.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
WORK = BENCH / ".work" / "suite"
SUITES = ("users", "scale", "uploads", "footprint", "scaleout")
LONG = ("storage", "realtime", "backup")
UPLOAD_TARGET, RSS_TARGET_MB, START_TARGET_S, MOVE_TARGET_MB = 0.6, 80, 1.5, 200
BACKENDS = ("sqlite", "postgresql")


def steps(args, out: Path) -> dict[str, list[list[str]]]:
    """Each suite's commands (argv after the Python executable)."""
    timing = ["--duration", str(args.duration), "--rounds", str(args.rounds)]
    write = ["--no-write"] if args.no_write else []

    def script(name: str, *argv: str, result: str | None = None) -> list[str]:
        return [str(BENCH / name), *argv, *write, *(["--json", str(out / f"{result}.json")] if result else [])]

    users = ["--workers", "2", "--connections", str(args.connections), *timing]
    return {
        "users": [script("run.py", "--users", str(args.users), *users, result="users")],
        "scale": [
            script(
                "run.py",
                *("--users", str(args.scale_users), *users, "--backend", backend),
                *("--section", f"users-scale-{backend}"),
                result=f"scale-{backend}",
            )
            for backend in BACKENDS
        ],
        "uploads": [script("uploads.py", "--rounds", str(args.rounds), result="uploads")],
        "footprint": [script("footprint.py", result="footprint")],
        "scaleout": [script("scaleout.py", *timing, result="scaleout")],
        "storage": [script("storage.py", "--rounds", str(args.rounds))],
        "realtime": [script("realtime.py")],
        "backup": [script("backup.py", "--backend", backend) for backend in BACKENDS],
    }


def run(args) -> int:
    """Run the suites ``args.suite`` names, in order, then write (or print) the summary."""
    names = [*SUITES, *(LONG if args.long else ())] if args.suite == "all" else [args.suite]
    out = Path(tempfile.mkdtemp(prefix="bench-suite-")) if args.no_write else WORK
    out.mkdir(parents=True, exist_ok=True)
    commands = steps(args, out)
    failed = []
    for name in names:
        for argv in commands[name]:
            root = f"{BENCH.parent}/"
            shown = "python " + " ".join(a.removeprefix(root) for a in argv)
            print(f"[{time.strftime('%H:%M:%S')}] suite {name}: {shown}", flush=True)
            if subprocess.run([sys.executable, *argv], cwd=BENCH.parent).returncode:
                failed.append(shown)
    text = summary(out, args)
    if args.no_write:
        print(text)
        shutil.rmtree(out)
    else:
        write_summary(text)
    for shown in failed:
        print(f"failed: {shown}", file=sys.stderr)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# the summary


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _from(suite: str, r: dict) -> str:
    """The run a row comes from: its suite (whose section has the command), date and commit."""
    commit = r.get("commit") or r.get("machine", {}).get("git", "?")
    return f"{suite}, {r.get('date', '?')}, {commit}"


def _row(target: str, ratio: str, figures: str, met: bool | None, source: str) -> str:
    shown = "-" if met is None else ("**yes**" if met else "**NO**")
    return f"| {target} | {ratio} | {figures} | {shown} | {source} |"


def _missing(target: str, suite: str) -> str:
    return _row(target, "-", f"not measured: `python bench/run.py --suite {suite}`", None, "-")


def summary(out: Path, args) -> str:
    """The summary section of RESULTS.md from the suites' JSON files in ``out``."""
    import run  # bench/run.py (it imports this module: not at the top)

    rows: list[str] = []
    for name, prefix in (("users", ""), *((f"scale-{b}", f"{b}: ") for b in BACKENDS)):
        r = _load(out / f"{name}.json")
        if r is None:
            rows.append(_missing(f"{prefix}Users API targets", name.split("-")[0]))
            continue
        for t in run.users_targets(r):
            if prefix and t["kind"] == "hash":  # measured again at scale; the users suite's target
                continue
            figures = f"nib {t['nib']}; {t['peer']}"
            rows.append(_row(f"{prefix}{t['name']}: {t['target']}", t["ratio"], figures, t["met"], _from(name, r)))

    r = _load(out / "uploads.json")
    if r is None:
        rows.append(_missing("uploads: >= 0.6x the bare ASGI floor", "uploads"))
    else:
        for case, nib in r["runs"]["mib_s"]["nib"].items():
            floor = max(r["runs"]["mib_s"]["floor"][case])
            q = max(nib) / floor
            rows.append(
                _row(
                    f"upload {case}: >= {UPLOAD_TARGET:g}x the floor",
                    f"{q:.2f}x",
                    f"nib {max(nib):.0f} MiB/s; floor {floor:.0f} MiB/s",
                    q >= UPLOAD_TARGET,
                    _from("uploads", r),
                )
            )
        rows.append(
            _row("upload 100 MiB in a single request", "-", "not measured: bodies over 12 MiB get 413", None, "-")
        )

    r = _load(out / "footprint.json")
    if r is None:
        rows.append(_missing("idle footprint and start-up", "footprint"))
    else:
        where = _from("footprint", r)

        def med(key: str) -> float:
            return statistics.median(x[key] for x in r["runs"])

        for key, label in (("health_mb", "after the first request"), ("settled_mb", "idle a few seconds later")):
            rows.append(
                _row(
                    f"`nib serve` RSS {label}: <= {RSS_TARGET_MB} MB",
                    f"{med(key) / RSS_TARGET_MB:.2f}x the limit",
                    f"{med(key):.1f} MB (median of {len(r['runs'])} starts)",
                    med(key) <= RSS_TARGET_MB,
                    where,
                )
            )
        rows.append(
            _row(
                f"start-up to the first 200 on /v1/health: <= {START_TARGET_S} s",
                f"{med('seconds') / START_TARGET_S:.2f}x the limit",
                f"{med('seconds'):.2f} s",
                med("seconds") <= START_TARGET_S,
                where,
            )
        )
        workers = r.get("workers")
        if workers is None:
            rows.append(_missing("each extra worker", "footprint"))
        else:
            worker = max(workers["children_mb"])
            rows.append(
                _row(
                    f"each extra worker: <= {RSS_TARGET_MB} MB",
                    f"{worker / RSS_TARGET_MB:.2f}x the limit",
                    f"`--workers 2`: workers {', '.join(f'{mb:.1f}' for mb in workers['children_mb'])} MB; the"
                    f" supervisor and resource tracker {workers['supervisor_mb']:.1f} MB once",
                    worker <= RSS_TARGET_MB,
                    where,
                )
            )

    r = _load(BENCH / "storage-results.json")  # storage.py's own file (a long run)
    if r is None or "rss" not in r:
        rows.append(_missing("peak RSS while moving 1 GiB", "storage"))
    else:
        peak = max(r["rss"]["upload_peak_rss_kb"], r["rss"]["download_peak_rss_kb"]) / 1024
        rows.append(
            _row(
                f"peak RSS while moving {r['rss']['mib']} MiB (upload, download): < {MOVE_TARGET_MB} MB",
                f"{peak / MOVE_TARGET_MB:.2f}x the limit",
                f"{peak:.0f} MB",
                peak < MOVE_TARGET_MB,
                f"storage, {r.get('date', '?')}, {r.get('machine', {}).get('git', '?')}",
            )
        )

    r = _load(out / "scaleout.json")
    if r is not None:
        best = {name: run.best(x) for name, x in r["rounds"].items()}
        one, two = best["one node through nginx"]["rps"], best["two nodes through nginx"]["rps"]
        rows.append(
            _row(
                "(context) scale-out: two nodes beside one, through nginx",
                f"{two / one:.2f}x",
                f"{two:,.0f} vs {one:,.0f} req/s",
                None,
                _from("scaleout", r),
            )
        )

    commit = subprocess.run(
        ["git", "-C", str(BENCH.parent), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    lines = [
        "<!-- summary -->",
        "## Summary: issue 17's targets",
        "",
        f"- Command: `python bench/run.py --suite {args.suite}{' --long' if args.long else ''}`; summary written"
        f" {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC} at commit {commit.stdout.strip() or '?'} on"
        f" {os.cpu_count()} cores ({run._cpu_model()}); each row names the run it comes from (its section below"
        " has the details)",
        "",
        "| target | ratio | figures | met | from |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "<!-- /summary -->",
    ]
    return "\n".join(lines) + "\n"


def write_summary(text: str) -> None:
    """The summary section under RESULTS.md's title (made there the first time)."""
    import backup  # bench/backup.py: write_section

    path = BENCH / "RESULTS.md"
    current = path.read_text()
    if "<!-- summary -->" not in current:
        title, _, rest = current.partition("\n")
        path.write_text(f"{title}\n\n<!-- summary -->\n<!-- /summary -->\n{rest}")
    backup.write_section("summary", text)
