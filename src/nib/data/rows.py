"""The one shape every service returns for a stored record: column key -> value."""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]
