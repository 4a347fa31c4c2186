"""HTTP of the health checks. ``GET /v1/health`` is public (load balancers probe it without a
project); the ``/v1/health/*`` routes need ``health.read``, which every API key has, as in
Appwrite. Checks of other servers run in the worker pool (``blocking``), never on the event loop.

``db``, ``cache`` and ``pubsub`` answer both generations of the model at once: Appwrite 1.5's
healthStatus (``name``, ``ping``, ``status``) and 1.8's healthStatusList (``total``,
``statuses``), so a 1.5-era app reading ``status`` and the newest SDK parsing a list both work.
``/v1/health/time`` is not served: Appwrite asks an NTP server on the internet, and nib never
leaves its machine on its own; a difference of 0 would claim a check that was never made.
"""

from __future__ import annotations

from dataclasses import asdict

from ..http.context import Context
from ..http.routing import Router
from . import checks

router = Router()


def _both_models(status: checks.Status) -> dict:
    one = asdict(status)
    return {**one, "total": 1, "statuses": [one]}


@router.get("/v1/health", scope=None, public=True)
def health(ctx: Context) -> dict:
    return asdict(checks.database(ctx.db))


@router.get("/v1/health/db", scope="health.read")
def db(ctx: Context) -> dict:
    return _both_models(checks.database(ctx.db))


@router.get("/v1/health/cache", scope="health.read", blocking=True)
def cache(ctx: Context) -> dict:
    return _both_models(checks.cache(ctx.settings))


@router.get("/v1/health/pubsub", scope="health.read", blocking=True)
def pubsub(ctx: Context) -> dict:
    return _both_models(checks.pubsub(ctx.settings))


@router.get("/v1/health/storage/local", scope="health.read")
def storage_local(ctx: Context) -> dict:
    return asdict(checks.storage_local(ctx.settings))


@router.get("/v1/health/storage", scope="health.read", blocking=True)
def storage(ctx: Context) -> dict:
    return asdict(checks.storage(ctx.settings))


@router.get("/v1/health/anti-virus", scope="health.read", blocking=True)
def anti_virus(ctx: Context) -> dict:
    return checks.antivirus_status(ctx.settings)
