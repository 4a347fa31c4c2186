"""Response models of the Account service.

The Account is the User model without what only a server may see: ``password``, ``hash`` and
``hashOptions`` (recovery codes are never in either).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..users import models as user_models

_SERVER_ONLY = ("password", "hash", "hashOptions")


def account(
    row: Mapping[str, Any],
    targets: Iterable[Mapping[str, Any]],
    *,
    impersonation: bool = True,
    impersonator_id: str | None = None,
) -> dict:
    """The Account model; ``impersonation`` and ``impersonator_id`` as in ``users.models.user``."""
    model = user_models.user(row, targets, impersonation=impersonation, impersonator_id=impersonator_id)
    for name in _SERVER_ONLY:
        del model[name]
    return model
