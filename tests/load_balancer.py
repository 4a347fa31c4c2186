"""Several `nib serve` processes behind a real load balancer, for tests and benchmarks.

``start_load_balancer(upstreams, directory)`` runs Debian's nginx in the foreground on a free
loopback port with a configuration, pid file, logs and temporary files of its own under
``directory`` (nothing under /etc/nginx or /run). ``start_cluster(n, directory, s3_endpoint)``
starts ``n`` nib processes sharing one fresh PostgreSQL database, Redis and an S3 bucket, as a
deployment of several machines would (each its own port and data dir).

The nginx configuration, and why:

* round robin over the nodes, no stickiness: every request may land on any node;
* ``proxy_next_upstream error timeout`` (nginx's default): a request that cannot reach a node is
  tried on the next one, except POST, PATCH and LOCK once sent (nginx never resends a
  non-idempotent request unless told ``non_idempotent``): a write is never applied twice by the
  balancer, the client retries it;
* HTTP/1.1 with a pool of keep-alive connections to the nodes, and the ``Upgrade`` handshake
  passed through (``/v1/realtime`` WebSockets) with an hour's read timeout for idle sockets;
* request bodies streamed to the node as they arrive (``proxy_request_buffering off``) and no
  size limit of nginx's (``client_max_body_size 0``): nib enforces its own limits with its own
  errors, and a 5 MiB chunk is not spooled to disk first;
* responses buffered in memory only (``proxy_max_temp_file_size 0``): a large download streams
  through instead of being written to a temporary file;
* ``X-Forwarded-For`` appended to (``$proxy_add_x_forwarded_for``): nib takes the first address
  of that header as the client's (``http/incoming.py``), so a client's own header stays first and
  tests give each client an address of its own (rate-limit windows); a public deployment would
  set it to ``$remote_addr`` instead, so that no client picks its address. ``X-Forwarded-Proto``
  and the client's ``Host`` are passed on;
* an access log of JSON lines recording the node that served each request (``upstream``),
  read back with ``LoadBalancer.requests()``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from live_server import (
    NibServer,
    create_pg_database,
    drain,
    drop_pg_database,
    free_port,
    spawn,
    stop_process,
    wait_listening,
    wait_serving,
)
from s3_server import new_bucket, s3_env

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
REDIS_URL = "redis://127.0.0.1:6379/0"

_CONFIG = """\
worker_processes {workers};
{user}
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;

events {{ worker_connections 4096; }}

http {{
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;

    log_format nodes escape=json '{{"method":"$request_method","uri":"$request_uri","status":$status,'
        '"upstream":"$upstream_addr","upstream_status":"$upstream_status",'
        '"request_time":$request_time,"forwarded_for":"$http_x_forwarded_for"}}';
    access_log {root}/access.log nodes;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        '' '';
    }}

    upstream nib {{
{servers}
        keepalive 64;
    }}

    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://nib;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_request_buffering off;
            proxy_max_temp_file_size 0;
            proxy_read_timeout 3600s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


@dataclass
class LoadBalancer:
    """A running nginx in front of ``upstreams`` (``host:port`` each)."""

    endpoint: str  # http://127.0.0.1:<port>/v1, as a nib endpoint
    upstreams: list[str]
    root: Path
    process: subprocess.Popen

    @property
    def access_log(self) -> Path:
        return self.root / "access.log"

    def requests(self, at_least: int = 0) -> list[dict]:
        """The access log, oldest first: ``method``, ``uri``, ``status``, ``upstream`` (the
        ``host:port`` of the node, several comma-separated when nginx tried the next one),
        ``upstream_status``, ``request_time``, ``forwarded_for``. nginx writes a request's line
        just after its response: ``at_least`` waits (up to 5 s) for that many lines."""
        deadline = time.monotonic() + 5
        while True:
            text = self.access_log.read_text() if self.access_log.exists() else ""
            found = [json.loads(line) for line in text.splitlines() if line.strip()]
            if len(found) >= at_least or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def stop(self) -> None:
        stop_process(self.process)


def nginx_config(upstreams: list[str], port: int, root: Path, workers: int | str = 1) -> str:
    """The configuration ``start_load_balancer`` runs (``root``: its directory)."""
    # A master started as root hands its workers to "nobody", which cannot write under ``root``.
    user = "user root root;" if os.geteuid() == 0 else ""
    servers = "\n".join(f"        server {address};" for address in upstreams)
    return _CONFIG.format(workers=workers, user=user, root=root, servers=servers, port=port)


def start_load_balancer(upstreams: list[str], directory: Path, *, workers: int | str = 1) -> LoadBalancer:
    """nginx balancing over ``upstreams`` (``host:port``, or nib endpoints ``http://host:port/v1``),
    once it accepts connections. ``workers``: nginx worker processes (``"auto"``: one per core);
    with one, consecutive requests go to the nodes strictly in turn."""
    addresses = [_address(upstream) for upstream in upstreams]
    root = Path(directory).resolve()
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = root / "nginx.conf"
    config.write_text(nginx_config(addresses, port, root, workers))
    command = [NGINX, "-p", str(root), "-c", str(config), "-e", str(root / "error.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if not wait_listening(process, port, 15):
        process.kill()
        errors = process.stderr.read() if process.stderr else ""
        log = (root / "error.log").read_text() if (root / "error.log").exists() else ""
        raise RuntimeError(f"nginx did not start:\n{errors}\n{log}")
    return LoadBalancer(f"http://127.0.0.1:{port}/v1", addresses, root, process)


def _address(upstream: str) -> str:
    return upstream.removeprefix("http://").split("/", 1)[0]


def node_address(node: NibServer) -> str:
    """``host:port`` of a node, as the balancer's log names it."""
    return _address(node.endpoint)


# -- several nib processes sharing one deployment's backing services ----------------------------


@dataclass
class Cluster:
    """``n`` nib processes on one PostgreSQL database, Redis and S3 bucket."""

    nodes: list[NibServer]
    pg_name: str
    database_url: str
    bucket: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def output(self) -> list[list[str]]:
        """What each node printed after its banner (its log: access lines, warnings, tracebacks)."""
        return [node.output for node in self.nodes]

    @property
    def key(self) -> str:
        return self.nodes[0].key

    def stop(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                stop_process(node.process)
        drop_pg_database(self.pg_name)


def start_cluster(count: int, directory: Path, s3_endpoint: str, env: dict[str, str] | None = None) -> Cluster:
    """``count`` `nib serve` started together (one bootstraps the database, the others find it),
    each with its own port and data dir under ``directory``; ``env`` adds NIB_* settings to the
    shared ones (Redis for rate-limit counters and realtime events, the S3 device)."""
    directory = Path(directory)
    pg_name = create_pg_database()
    url = f"postgresql://postgres@127.0.0.1:5432/{pg_name}"
    bucket, _ = new_bucket(s3_endpoint)
    shared = {"NIB_REDIS_URL": REDIS_URL, "NIB_SMTP_HOST": "", **s3_env(s3_endpoint, bucket), **(env or {})}
    started = [spawn(directory / f"node-{index}", url, shared) for index in range(count)]
    try:
        with ThreadPoolExecutor(count) as pool:
            banners = list(pool.map(lambda started: wait_serving(*started), started))
    except BaseException:
        for process, _ in started:
            stop_process(process)
        drop_pg_database(pg_name)
        raise
    keys = [line.split()[-1] for lines in banners for line in lines if line.strip().startswith("key:")]
    assert len(keys) == 1, banners
    nodes = [
        NibServer(
            "postgresql",
            endpoint,
            "default",
            keys[0],
            directory / f"node-{index}",
            url,
            process,
            shared,
            lines,
            *drain(process),
        )
        for index, ((process, endpoint), lines) in enumerate(zip(started, banners, strict=True))
    ]
    return Cluster(nodes, pg_name, url, bucket, shared)
