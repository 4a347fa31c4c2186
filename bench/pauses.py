"""Pauses of one CPU as a real-time priority thread sees them: what a request can never beat.

    python bench/pauses.py --cpu N   (until stdin closes; then one JSON object on stdout)

Pinned to CPU N at SCHED_FIFO priority 1 (above every normal thread, so as root only), it sleeps
1 ms at a time and records each wake-up that came more than 20 ms late, with its wall time. A
late wake-up means the CPU ran nothing of user space's choosing for that long: kernel work that
does not yield (this kernel is built without preemption) or the hypervisor holding the virtual
CPU. bench/backup.py runs one per CPU beside each latency window, to tell a stall nib's process
could have avoided from one no process on the machine could.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

import orjson

LATE = 0.02


def watch(stop: threading.Event) -> list[list[float]]:
    """[wall time, seconds late] of every wake-up more than ``LATE`` late until ``stop``."""
    late: list[list[float]] = []
    while not stop.is_set():
        due = time.monotonic() + 0.001
        time.sleep(0.001)
        if (lateness := time.monotonic() - due) > LATE:
            late.append([time.time() - lateness, lateness])
    return late


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu", type=int, required=True)
    cpu = parser.parse_args().cpu
    os.sched_setaffinity(0, {cpu})
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
        realtime = True
    except PermissionError:
        realtime = False
    stop = threading.Event()
    result: list[list[float]] = []
    watcher = threading.Thread(target=lambda: result.extend(watch(stop)))
    watcher.start()
    sys.stdin.read()
    stop.set()
    watcher.join()
    sys.stdout.buffer.write(orjson.dumps({"cpu": cpu, "realtime": realtime, "late": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
