"""The ASGI application: every domain's router under one pipeline."""

from __future__ import annotations

from .account.email_routes import router as account_email_router
from .account.mfa_routes import router as account_mfa_router
from .account.providers import router as account_providers_router
from .account.routes import router as account_router
from .data.db import Database
from .health import router as health_router
from .http.pipeline import Api
from .storage.routes import router as storage_router
from .teams.routes import router as teams_router
from .tools.config import Settings
from .users.routes import router as users_router

# Every domain's routes, in the order the pipeline is given them.
ROUTERS = (
    health_router,
    users_router,
    account_router,
    account_mfa_router,
    account_email_router,
    account_providers_router,
    teams_router,
    storage_router,
)


def create_app(settings: Settings | None = None) -> Api:
    """Build the app for one process (uvicorn calls this in every worker)."""
    settings = settings or Settings.from_env()
    db = Database(settings.resolved_database_url)
    return Api(db, settings, ROUTERS)
