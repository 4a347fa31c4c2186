"""Runtime configuration: one immutable object built from CLI options / NIB_* variables."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Settings:
    """Everything a nib process needs to know about its environment."""

    data_dir: Path = Path("./data")
    database_url: str | None = None
    hostname: str = "localhost"
    # Signs JWTs and derives storage keys. Unset: one is generated and kept in the database, so
    # every process on that database shares it.
    secret: str | None = None
    # SMTP delivery (verification, recovery, magic URL, e-mail OTP, invitations); no host = disabled.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_secure: str = ""  # "" | "tls" (STARTTLS) | "ssl"
    smtp_sender_name: str = "nib"
    smtp_sender_email: str = "no-reply@localhost"
    smtp_timeout: float = 10.0
    # Abuse counters and realtime events shared by several processes; unset = in each process's
    # memory (realtime events then cross the workers of one `nib serve` through local sockets).
    redis_url: str | None = None
    # Worker processes of this `nib serve` (set by the command for every worker).
    workers: int = 1
    # File storage: "local" (under the data dir) or "s3" (any S3-compatible object store).
    storage_device: str = "local"
    # Instance-wide file size limit in bytes; also the default and cap of a bucket's maximumFileSize.
    storage_limit: int = 5_000_000_000
    s3_endpoint: str = ""  # e.g. http://127.0.0.1:9000; empty = AWS
    s3_region: str = "us-east-1"
    s3_bucket: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    # Antivirus (clamd over TCP) for buckets that ask for it; no host = no scanning.
    clamav_host: str = ""
    clamav_port: int = 3310
    # Bounds connecting to clamd, each send, and the wait for its verdict (storage/antivirus.py).
    clamav_timeout: float = 30.0
    # Appwrite's abuse limits (http/ratelimit.py) are enforced unless turned off (test rigs).
    rate_limits: bool = True
    # JSON {"METHOD /v1/path": {"limit": n, "period": s}}: per-route changes to the limits,
    # checked by http.ratelimit.with_overrides.
    rate_limits_overrides: str = ""
    # The public base URL browsers and OAuth2 providers reach nib at (e.g. https://api.example.com);
    # empty = http://<host>:<port> of the listening socket. OAuth2 callback URLs are built from it.
    public_url: str = ""
    # Appwrite's `mock` OAuth2 provider and its endpoints under /v1/mock (test rigs only).
    oauth2_mock: bool = False
    # JSON {"provider": "http://127.0.0.1:9001"}: send every request of that OAuth2 provider (and
    # its authorize redirect) to this origin instead of the provider's own hosts, paths unchanged.
    # For test rigs and air-gapped mirrors.
    oauth2_origins: str = ""
    # The web console under /console (`nib serve --console off` turns it off).
    console: bool = True
    # Observability (http/observe.py): one access-log line per request; nib's log lines as
    # "text" or "json"; GET /v1/metrics for requests bearing this token (empty: no such route).
    access_log: bool = True
    log_format: str = "text"
    metrics_token: str = ""

    @property
    def resolved_database_url(self) -> str:
        """SQLAlchemy URL: the embedded SQLite file unless a database URL was given."""
        url = self.database_url
        if not url:
            return f"sqlite:///{(self.data_dir / 'nib.db').resolve()}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    def oauth2_origin_map(self) -> dict[str, str]:
        """``oauth2_origins`` as provider key -> origin; ``ValueError`` when it is not such a
        JSON object (``nib serve`` refuses to start with it)."""
        if not self.oauth2_origins:
            return {}
        try:
            found = json.loads(self.oauth2_origins)
        except ValueError:
            found = None
        if not isinstance(found, dict) or not all(isinstance(v, str) and v for v in found.values()):
            raise ValueError(
                f'NIB_OAUTH2_ORIGINS must be a JSON object {{"provider": "http://host:port"}}, got {self.oauth2_origins!r}'
            )
        return found

    @classmethod
    def from_env(cls, **overrides: Any) -> "Settings":
        """Settings from NIB_* variables, overridden by explicit (non-None) values."""
        values: dict[str, Any] = {
            "data_dir": Path(os.environ.get("NIB_DATA_DIR", "./data")),
            "database_url": os.environ.get("NIB_DATABASE_URL") or None,
            "hostname": os.environ.get("NIB_HOSTNAME", "localhost"),
            "secret": os.environ.get("NIB_SECRET") or None,
            "smtp_host": os.environ.get("NIB_SMTP_HOST", ""),
            "smtp_port": int(os.environ.get("NIB_SMTP_PORT") or 25),
            "smtp_username": os.environ.get("NIB_SMTP_USERNAME", ""),
            "smtp_password": os.environ.get("NIB_SMTP_PASSWORD", ""),
            "smtp_secure": os.environ.get("NIB_SMTP_SECURE", ""),
            "smtp_sender_name": os.environ.get("NIB_SMTP_SENDER_NAME", "nib"),
            "smtp_sender_email": os.environ.get("NIB_SMTP_SENDER_EMAIL", "no-reply@localhost"),
            "smtp_timeout": float(os.environ.get("NIB_SMTP_TIMEOUT") or 10),
            "redis_url": os.environ.get("NIB_REDIS_URL") or None,
            "workers": int(os.environ.get("NIB_WORKERS") or 1),
            "storage_device": os.environ.get("NIB_STORAGE_DEVICE", "local"),
            "storage_limit": int(os.environ.get("NIB_STORAGE_LIMIT") or 5_000_000_000),
            "s3_endpoint": os.environ.get("NIB_S3_ENDPOINT", ""),
            "s3_region": os.environ.get("NIB_S3_REGION", "us-east-1"),
            "s3_bucket": os.environ.get("NIB_S3_BUCKET", ""),
            "s3_access_key": os.environ.get("NIB_S3_ACCESS_KEY", ""),
            "s3_secret_key": os.environ.get("NIB_S3_SECRET_KEY", ""),
            "clamav_host": os.environ.get("NIB_CLAMAV_HOST", ""),
            "clamav_port": int(os.environ.get("NIB_CLAMAV_PORT") or 3310),
            "clamav_timeout": float(os.environ.get("NIB_CLAMAV_TIMEOUT") or 30),
            "rate_limits": on_off(os.environ.get("NIB_RATE_LIMITS") or "on", "NIB_RATE_LIMITS"),
            "rate_limits_overrides": os.environ.get("NIB_RATE_LIMITS_OVERRIDES", ""),
            "public_url": os.environ.get("NIB_PUBLIC_URL", ""),
            "oauth2_mock": on_off(os.environ.get("NIB_OAUTH2_MOCK") or "off", "NIB_OAUTH2_MOCK"),
            "oauth2_origins": os.environ.get("NIB_OAUTH2_ORIGINS", ""),
            "console": on_off(os.environ.get("NIB_CONSOLE") or "on", "NIB_CONSOLE"),
            "access_log": on_off(os.environ.get("NIB_ACCESS_LOG") or "on", "NIB_ACCESS_LOG"),
            "log_format": os.environ.get("NIB_LOG_FORMAT") or "text",
            "metrics_token": os.environ.get("NIB_METRICS_TOKEN", ""),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not isinstance(values["data_dir"], Path):
            values["data_dir"] = Path(values["data_dir"])
        return cls(**values)


def on_off(value: str, name: str) -> bool:
    """An ``on``/``off`` switch (any case); anything else is a ``ValueError`` naming ``name``."""
    switch = value.strip().lower()
    if switch not in ("on", "off"):
        raise ValueError(f"{name} must be 'on' or 'off', got {value!r}")
    return switch == "on"
