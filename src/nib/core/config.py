"""Runtime configuration: one immutable object built from CLI options / NIB_* variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Everything a nib process needs to know about its environment."""

    data_dir: Path = Path("./data")
    database_url: str | None = None
    hostname: str = "localhost"
    # Logical session length, as Appwrite's project default (1 year).
    session_duration: int = 31536000

    @property
    def resolved_database_url(self) -> str:
        """SQLAlchemy URL: the embedded SQLite file unless a database URL was given."""
        url = self.database_url
        if not url:
            return f"sqlite:///{(self.data_dir / 'nib.db').resolve()}"
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix):]
        return url

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        """Settings from NIB_* variables, overridden by explicit (non-None) values."""
        values = {
            "data_dir": Path(os.environ.get("NIB_DATA_DIR", "./data")),
            "database_url": os.environ.get("NIB_DATABASE_URL") or None,
            "hostname": os.environ.get("NIB_HOSTNAME", "localhost"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not isinstance(values["data_dir"], Path):
            values["data_dir"] = Path(values["data_dir"])
        return cls(**values)
