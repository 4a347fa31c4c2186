"""The ASGI application: every domain's router under one pipeline."""

from __future__ import annotations

from .account.email_routes import router as account_email_router
from .account.mfa_routes import router as account_mfa_router
from .account.oauth2.mock_routes import router as oauth2_mock_router
from .account.oauth2.routes import router as account_oauth2_router
from .account.passkey_routes import router as account_passkey_router
from .account.providers import router as account_providers_router
from .account.routes import router as account_router
from .console.web import console_app
from .data.db import Database
from .data.hooks import on_user_deleted
from .data.instance import deployment_tag
from .health.routes import router as health_router
from .http.observe import Observer
from .http.pipeline import Api
from .http.ratelimit import Limiter
from .realtime.socket import Realtime
from .storage.routes import router as storage_router
from .storage.token_routes import router as storage_token_router
from .teams.routes import router as teams_router
from .teams.service import remove_user_memberships
from .tools import logs, metrics
from .tools.config import Settings
from .users.activity_routes import router as users_activity_router
from .users.mfa_routes import router as users_mfa_router
from .users.passkey_routes import router as users_passkey_router
from .users.routes import router as users_router
from .users.session_routes import router as users_session_router
from .users.target_routes import router as users_target_router

# Every domain's routes, in the order the pipeline is given them (among routes with as many
# literal segments, the first registered wins: /users/identities/… before /users/{userId}/…).
ROUTERS = (
    health_router,
    users_router,
    users_activity_router,
    users_mfa_router,
    users_passkey_router,
    users_session_router,
    users_target_router,
    account_router,
    account_mfa_router,
    account_passkey_router,
    account_email_router,
    account_providers_router,
    account_oauth2_router,
    teams_router,
    storage_router,
    storage_token_router,
)


def create_app(settings: Settings | None = None) -> Api:
    """Build the app for one process (uvicorn calls this in every worker)."""
    settings = settings or Settings.from_env()
    # A deleted user leaves its teams in the same transaction (users cannot import teams).
    on_user_deleted(remove_user_memberships)
    db = Database(settings.resolved_database_url)
    # Appwrite's mock OAuth2 provider exists for test rigs only.
    routers = (*ROUTERS, oauth2_mock_router) if settings.oauth2_mock else ROUTERS
    # Deployments sharing one Redis keep their counters and events apart under this name.
    deployment = deployment_tag(db, settings) if settings.redis_url else ""
    # One set of abuse counters (and one Redis client) for the API and realtime's connections.
    limiter = Limiter.from_settings(settings, deployment)
    console = console_app(db, settings, limiter) if settings.console else None
    logs.configure(settings.log_format)
    # Nothing watches requests while neither the access log nor metrics are on.
    observer = (
        Observer(metrics.METRICS, access=settings.access_log, metrics_token=settings.metrics_token)
        if settings.access_log or metrics.METRICS.enabled
        else None
    )
    realtime = Realtime(db, settings, limiter, deployment)
    return Api(db, settings, routers, limiter=limiter, realtime=realtime, console=console, observer=observer)
