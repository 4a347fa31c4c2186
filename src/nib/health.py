"""GET /v1/health: liveness with the database reachable."""

from __future__ import annotations

import time

from .http.context import Context
from .http.routing import Router
from .tools.errors import AppwriteError

router = Router()


@router.get("/v1/health", scope=None, public=True)
def health(ctx: Context) -> dict:
    started = time.perf_counter()
    if not ctx.db.ping():
        raise AppwriteError("general_server_error", "Database is not available", status=503)
    return {"name": "database", "ping": round((time.perf_counter() - started) * 1000), "status": "pass"}
