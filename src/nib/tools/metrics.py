"""Prometheus metrics of a nib process, or nothing at all.

``METRICS`` is what every layer records through. While metrics are off (the default) it is a
``Metrics``, whose methods do nothing, and ``prometheus_client`` is never imported: an idle
process pays neither its memory nor its import time. They are on in a process that starts with
``PROMETHEUS_MULTIPROC_DIR`` set, or calls ``enable`` (``nib serve --metrics-port`` or
``NIB_METRICS_TOKEN`` does, with a fresh directory its workers inherit): ``METRICS`` is then a ``Prometheus`` writing each value
to that directory (prometheus_client's multiprocess mode), so one scrape (``exposition``) sums
the workers of one ``nib serve``. Gauges of things in progress are ``livesum``: a worker that
died stops counting once ``exposition`` finds it gone.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

DIRECTORY_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Request latencies, seconds: from a cached read (~1 ms) to a large upload.
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_NOTHING = nullcontext()
# The value files of a process's live gauges: gauge_livesum_<pid>.db.
_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")


class Metrics:
    """What nib records. This base records nothing: the recorder of a process without metrics."""

    enabled = False

    def request(self, method: str, route: str, status: int, seconds: float, received: int, sent: int) -> None:
        """One HTTP request answered: ``route`` is its route's template, never the raw path."""

    def in_flight(self, change: int) -> None:
        """Requests being served: +1 when one starts, -1 when it ends."""

    def uploading(self) -> AbstractContextManager[object]:
        """Around the reading of an upload's body."""
        return _NOTHING

    def rate_limited(self, method: str, route: str) -> None:
        """A request refused by an abuse limit (429)."""

    def password_hashed(self, algorithm: str) -> None:
        """One password hash computed (a new password's, or one computed to verify a password)."""

    def realtime(self, change: int) -> None:
        """Realtime WebSocket connections: +1 when one is accepted, -1 when it ends."""

    def pool(self, change: int) -> None:
        """Database connections checked out of the pool: +1 at checkout, -1 at checkin."""


class Prometheus(Metrics):
    """The recorder of a process with metrics on: prometheus_client's multiprocess values."""

    enabled = True

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "nib_http_requests", "HTTP requests answered, by route template and status", ["method", "route", "status"]
        )
        self.latency = Histogram(
            "nib_http_request_duration_seconds",
            "Time from a request's arrival to its response's last byte, by route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
        )
        self.received = Counter(
            "nib_http_request_body_bytes", "Bytes of request bodies received, by route template", ["method", "route"]
        )
        self.sent = Counter(
            "nib_http_response_body_bytes", "Bytes of response bodies sent, by route template", ["method", "route"]
        )
        self.active = Gauge("nib_http_requests_in_flight", "HTTP requests being served", multiprocess_mode="livesum")
        self.uploads = Gauge(
            "nib_uploads_in_progress", "File uploads whose body is being read", multiprocess_mode="livesum"
        )
        self.denials = Counter(
            "nib_rate_limit_denials", "Requests refused by an abuse limit (429), by route template", ["method", "route"]
        )
        self.hashes = Counter("nib_password_hashes", "Password hashes computed, by algorithm", ["algorithm"])
        self.sockets = Gauge(
            "nib_realtime_connections", "Open realtime WebSocket connections", multiprocess_mode="livesum"
        )
        self.checked_out = Gauge(
            "nib_db_connections_checked_out",
            "Database connections checked out of the pools",
            multiprocess_mode="livesum",
        )
        # Labelled children per label values: one dict hit per request instead of four lookups
        # under prometheus_client's lock.
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any, Any]] = {}
        self._lock = threading.Lock()

    def request(self, method: str, route: str, status: int, seconds: float, received: int, sent: int) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            with self._lock:
                children = self._children[key] = (
                    self.requests.labels(method, route, str(status)),
                    self.latency.labels(method, route),
                    self.received.labels(method, route),
                    self.sent.labels(method, route),
                )
        count, latency, received_bytes, sent_bytes = children
        count.inc()
        latency.observe(seconds)
        if received:
            received_bytes.inc(received)
        if sent:
            sent_bytes.inc(sent)

    def in_flight(self, change: int) -> None:
        self.active.inc(change)

    def uploading(self) -> AbstractContextManager[object]:
        return self._uploading()

    @contextmanager
    def _uploading(self) -> Iterator[None]:
        self.uploads.inc()
        try:
            yield
        finally:
            self.uploads.dec()

    def rate_limited(self, method: str, route: str) -> None:
        self.denials.labels(method, route).inc()

    def password_hashed(self, algorithm: str) -> None:
        self.hashes.labels(algorithm).inc()

    def realtime(self, change: int) -> None:
        self.sockets.inc(change)

    def pool(self, change: int) -> None:
        self.checked_out.inc(change)


def exposition(directory: str | None = None) -> bytes:
    """Every process's metrics in ``directory`` (default: this process's) in Prometheus's text
    format. The live gauges of processes that no longer run are dropped first (a worker killed
    without a clean exit would otherwise count its requests in flight forever)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

    path = directory or os.environ[DIRECTORY_ENV]
    for file in Path(path).glob("gauge_live*.db"):
        found = _LIVE_FILE.fullmatch(file.name)
        if found and not _alive(int(found.group(1))):
            mark_process_dead(int(found.group(1)), path)  # type: ignore[no-untyped-call]  # untyped upstream
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]  # untyped upstream
    return generate_latest(registry)


def serve(host: str, port: int, directory: str) -> None:
    """The metrics of ``directory`` at ``http://host:port/`` (any path), from a daemon thread."""
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """A scrape every few seconds is not worth a line on stderr."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = exposition(directory)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(body)))])
        return [body]

    class Server(WSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    server = make_server(host, port, app, Server, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def enable(directory: str) -> None:
    """Metrics on in this process and in the processes it starts, kept in ``directory``."""
    global METRICS
    os.environ[DIRECTORY_ENV] = directory  # before prometheus_client is imported: it reads it then
    if not METRICS.enabled:
        METRICS = Prometheus()


# Callers read ``metrics.METRICS`` at each use, so ``enable`` reaches them too.
METRICS: Metrics = Prometheus() if os.environ.get(DIRECTORY_ENV) else Metrics()
