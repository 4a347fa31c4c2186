"""What every domain's responses share: the shape of a list."""

from __future__ import annotations

from typing import Any


def listing(key: str, total: int, items: list[Any]) -> dict:
    """Appwrite's list model: ``{"total": …, "<key>": [...]}``."""
    return {"total": total, key: items}
