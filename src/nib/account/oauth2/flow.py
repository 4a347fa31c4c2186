"""The OAuth2 sign-in: start (the provider's authorize URL), finish (code -> tokens -> user ->
session or token) and the refresh of an OAuth2 session. Plain values in, URLs and rows out.

Who signs in is signin.py's; a new user is made when nobody is found. A signed-in caller (an
anonymous user upgrading, or a user adding a provider) gets the identity, and the session it ran
under is replaced. Provider tokens are sealed at rest (users/provider_tokens.py).
"""

from __future__ import annotations

import functools
import json
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ...auth.tables import sessions
from ...data.db import Database
from ...data.instance import server_secret
from ...data.rows import Row
from ...tools import dates
from ...tools.config import Settings
from ...tools.errors import AppwriteError
from ...tools.ids import unique_id
from ...tools.validators import hostname_allowed, url_host
from ...users import service as user_service
from ...users.provider_tokens import opened, sealed
from ...users.service import update_columns
from ...users.sessions import insert_session, new_session
from . import config, id_tokens, signin
from .providers import USER_AGENT, Provider, ProviderConfig, ProviderError, ProviderUser, Tokens, adapter_class
from .state import State, StateError, pack, unpack

if TYPE_CHECKING:
    import httpx

TIMEOUT = 10.0  # seconds for each provider request
CALLBACK_PATH = "/v1/account/sessions/oauth2/callback/{provider}/{project}"
# The relay pages mobile SDKs wait behind (1.5's and the console's paths).
RELAY_SUCCESS = ("/auth/oauth2/success", "/console/auth/oauth2/success")
RELAY_FAILURE = ("/auth/oauth2/failure", "/console/auth/oauth2/failure")
FACTORS = ["email", "oauth2"]  # an OAuth2 sign-in counts as two factors, as in Appwrite
DISABLED = "This provider is disabled. Please enable the provider from your Appwrite console to continue."
UNCONFIGURED = (
    "This provider is disabled. Please configure the provider app ID and app secret key from your Appwrite "
    "console to continue."
)


@functools.cache
def _http() -> httpx.Client:
    """The process's one client for every provider request (imported on first sign-in)."""
    import httpx

    return httpx.Client(timeout=TIMEOUT, headers={"User-Agent": USER_AGENT}, follow_redirects=False)


@dataclass(frozen=True)
class Where:
    """Where a sign-in happens: the project, nib's public URL and the hosts redirects may go to."""

    project_id: str
    public_url: str
    allowed_hosts: tuple[str, ...]


def _adapter(db: Database, settings: Settings, where: Where, key: str, *, check_enabled: bool = True) -> Provider:
    """The provider's adapter with the project's settings: 412 when it is off or unconfigured,
    400 when nib has no adapter for it."""
    found = config.provider_settings(db, settings, where.project_id, key)
    if check_enabled and (found is None or not found.enabled):
        raise AppwriteError("project_provider_disabled", DISABLED)
    if found is None or not found.app_id or not found.secret:
        raise AppwriteError("project_provider_disabled", UNCONFIGURED)
    cls = supported(settings, key)
    if cls is None:
        raise AppwriteError("project_provider_unsupported")
    settings_of = ProviderConfig(
        app_id=found.app_id,
        secret=found.secret,
        callback_url=callback_url(where.public_url, key, where.project_id),
        origin=settings.oauth2_origin_map().get(key, ""),
        public_url=where.public_url,
    )
    return cls(config=settings_of, http=_http())


def callback_url(public_url: str, provider: str, project_id: str) -> str:
    """The redirect URI to register at the provider: the callback route under nib's public URL."""
    return public_url.rstrip("/") + CALLBACK_PATH.format(provider=provider, project=project_id)


def supported(settings: Settings, key: str) -> type[Provider] | None:
    """The adapter class of ``key`` where this server offers it."""
    cls = adapter_class(key)
    return None if cls is None or (cls.test_only and not settings.oauth2_mock) else cls


# -- start ----------------------------------------------------------------------------------------


def start(
    db: Database,
    settings: Settings,
    where: Where,
    *,
    provider: str,
    success: str,
    failure: str,
    scopes: list[str],
    token: bool,
) -> str:
    """The provider's authorize URL for a new sign-in (its signed state inside)."""
    adapter = _adapter(db, settings, where, provider)
    nonce = secrets.token_urlsafe(24)
    state = pack(
        server_secret(db, settings),
        project_id=where.project_id,
        provider=provider,
        success=success or where.public_url + RELAY_SUCCESS[0],
        failure=failure or where.public_url + RELAY_FAILURE[0],
        token=token,
        nonce=nonce,
    )
    adapter.nonce = nonce
    # An OpenID Connect provider's discovery document may be fetched for its authorize endpoint.
    return _talk(adapter, adapter.login_url, state, adapter.scopes(scopes))


# -- finish ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Callback:
    """What the provider sent back through the browser."""

    code: str
    state: str
    error: str
    error_description: str
    extra: dict[str, str]  # other parameters some providers send (Apple's `user`)


@dataclass
class Finished:
    """How a sign-in ended: the URL to send the browser to; on success the user and the new
    session (or, for the token flow, token) and its secret."""

    location: str
    user: Row | None = None
    session: Row | None = None
    token: Row | None = None
    secret: str = ""


@dataclass(frozen=True)
class Caller:
    """The signed-in user who started the sign-in (linking), and the session it ran under."""

    user_id: str
    session_id: str


@dataclass(frozen=True)
class Visit:
    """The request a sign-in's session (or token) is made for."""

    duration: int
    ip: str
    client: dict
    user_agent: str


def finish(
    db: Database,
    settings: Settings,
    where: Where,
    *,
    provider: str,
    callback: Callback,
    caller: Caller | None,
    visit: Visit,
) -> Finished:
    """Finish a sign-in. A state that is missing, forged, expired or points elsewhere is refused
    with an error; every later failure sends the browser to the state's failure URL."""
    if supported(settings, provider) is None:
        raise AppwriteError("project_provider_unsupported")
    key = server_secret(db, settings)
    try:
        state = unpack(key, callback.state, project_id=where.project_id, provider=provider)
    except StateError as error:
        raise AppwriteError(
            "general_bad_request", f"Failed to parse login state params as passed from OAuth2 provider ({error})"
        ) from None
    if not _allowed(where, state.success, RELAY_SUCCESS):
        raise AppwriteError("project_invalid_success_url")
    if state.failure and not _allowed(where, state.failure, RELAY_FAILURE):
        raise AppwriteError("project_invalid_failure_url")
    try:
        return _sign_in(db, settings, where, state, provider, callback, caller, visit, key)
    except AppwriteError as error:
        if not state.failure:
            raise
        failure = state.failure
        if urlsplit(failure).path in RELAY_FAILURE:
            failure = with_query(failure, {"project": where.project_id})
        error_json = json.dumps({"message": error.message, "type": error.type, "code": error.code})
        return Finished(with_query(failure, {"error": error_json}))


def _allowed(where: Where, url: str, relay_paths: tuple[str, ...]) -> bool:
    """A redirect target on one of the project's hosts, or nib's own relay page."""
    host = url_host(url)
    if host is None:
        return False
    if hostname_allowed(host, where.allowed_hosts):
        return True
    public = urlsplit(where.public_url)
    parts = urlsplit(url)
    return (parts.scheme, parts.netloc) == (public.scheme, public.netloc) and parts.path in {
        public.path.rstrip("/") + path for path in relay_paths
    }


def with_query(url: str, extra: dict[str, str]) -> str:
    """``url`` with ``extra`` added to its query (keys already there are replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in extra]
    return urlunsplit(parts._replace(query=urlencode([*query, *extra.items()])))


def _provider_failed(adapter: Provider, error: Exception) -> AppwriteError:
    """A provider's refusal (or silence) as Appwrite's error: its status picks the type and is the
    code; the adapter words the message (a failed code exchange says so in front)."""
    if isinstance(error, ProviderError):
        status, message = error.status, error.message
    else:
        status = 424
        message = f"The {adapter.name} OAuth2 provider returned an unusable answer ({type(error).__name__}: {error})"
    kind = {400: "user_oauth2_bad_request", 401: "user_oauth2_unauthorized"}.get(status, "user_oauth2_provider_error")
    return AppwriteError(kind, message, status=status)


def _talk(adapter: Provider, step, *args):
    """One adapter step, its failures (HTTP, network, answers that make no sense) as Appwrite's errors."""
    import httpx

    try:
        return step(*args)
    except (ProviderError, httpx.HTTPError, ValueError, KeyError, TypeError) as error:
        raise _provider_failed(adapter, error) from None


def _sign_in(
    db: Database,
    settings: Settings,
    where: Where,
    state: State,
    provider: str,
    callback: Callback,
    caller: Caller | None,
    visit: Visit,
    key: str,
) -> Finished:
    adapter = _adapter(db, settings, where, provider)
    adapter.nonce, adapter.callback_params = state.nonce, callback.extra
    if callback.error:
        detail = callback.error + (f": {callback.error_description}" if callback.error_description else "")
        raise AppwriteError(
            "user_oauth2_provider_error", f"The {adapter.name} OAuth2 provider returned an error: {detail}"
        )
    if not callback.code:
        raise AppwriteError(
            "user_oauth2_provider_error",
            "Missing OAuth2 code. Please contact the Appwrite team for additional support.",
        )
    got: Tokens = _talk(adapter, adapter.exchange, callback.code)
    profile: ProviderUser = _talk(adapter, adapter.user, got)
    now = dates.now()
    access = {
        "provider_access_token": sealed(key, got.access_token),
        "provider_refresh_token": sealed(key, got.refresh_token),
        "provider_access_token_expiry": now + timedelta(seconds=got.expires_in),
    }
    return _settle(db, where, provider, profile, access, caller, visit, success=state.success, token=state.token)


def _settle(
    db: Database,
    where: Where,
    provider: str,
    profile: ProviderUser,
    access: dict[str, Any],
    caller: Caller | None,
    visit: Visit,
    *,
    success: str = "",
    token: bool = False,
    unverified: str = "user_already_exists",
) -> Finished:
    """Who the provider account's user is (signin.py; a new user when nobody), its identity, and
    the session or ``oauth2`` token; the caller's session is replaced. ``unverified``: the error
    when the e-mail belongs to someone else and the provider does not vouch for it."""
    if not profile.id:
        raise AppwriteError("user_missing_id")
    profile = replace(profile, email=profile.email.strip().lower())
    done = Finished(success)

    def complete(conn: Connection, user_id: str) -> None:
        user = signin.link(conn, where.project_id, user_id, provider, profile, access)
        if caller is not None:
            conn.execute(
                sessions.delete().where(sessions.c.project_id == where.project_id, sessions.c.id == caller.session_id)
            )
        done.user = user
        if token:
            done.token, done.secret = signin.insert_token(
                conn, where.project_id, user_id, provider, visit.duration, visit.ip, visit.user_agent
            )
            done.location = with_query(success, {"secret": done.secret, "userId": user_id})
            return
        row, done.secret = new_session(
            project_id=where.project_id,
            user_id=user_id,
            provider=provider,
            factors=FACTORS,
            duration=visit.duration,
            ip=visit.ip,
            client=visit.client,
            provider_uid=profile.id,
        )
        row.update(access)
        insert_session(conn, row)
        done.session = row

    try:
        with db.write() as conn:
            user_id = signin.existing_user(
                conn, where.project_id, provider, profile, caller.user_id if caller else None, unverified
            )
            if user_id is not None:
                complete(conn, user_id)
                return done
    except IntegrityError:
        # The same provider account signed in to another user at this very moment.
        raise AppwriteError("user_already_exists") from None
    if not profile.email:
        raise AppwriteError("user_unauthorized", "OAuth provider failed to return email.")
    new_id = unique_id()

    def first_sign_in(conn: Connection) -> None:
        # The e-mail is as verified as the provider says (a new user's starts unverified).
        if profile.verified:
            update_columns(conn, where.project_id, new_id, {"email_verification": True})
        complete(conn, new_id)

    user_service.create_user(
        db,
        project_id=where.project_id,
        user_id=new_id,
        email=profile.email,
        name=profile.name,
        accessed=True,
        limited=True,
        then=first_sign_in,
    )
    return done


# -- native sign-in with an ID token --------------------------------------------------------------


def id_token_session(
    db: Database,
    settings: Settings,
    where: Where,
    *,
    provider: str,
    id_token: str,
    nonce: str,
    access_token: str,
    access_token_expiry: int,
    name: str,
    caller: Caller | None,
    visit: Visit,
) -> Finished:
    """A session from an ID token an app obtained natively (Google, Apple): checked against the
    provider's published keys with the project's app ID or native client IDs as audience, then the same user
    resolution as the browser flow (an unverified e-mail of someone else: 400)."""
    if provider not in id_tokens.PROFILES:
        raise AppwriteError("project_provider_unsupported", "This provider does not support ID token sign-in.")
    found = config.provider_settings(db, settings, where.project_id, provider)
    if found is None or not found.enabled:
        raise AppwriteError("project_provider_disabled", DISABLED)
    audiences = config.id_token_audiences(found)
    if not audiences:
        raise AppwriteError(
            "project_provider_disabled",
            "Configure a client ID or native client IDs for this provider to accept ID tokens.",
        )
    claims = id_tokens.verify(
        provider,
        id_token,
        audiences=audiences,
        nonce=nonce,
        http=_http(),
        origin=settings.oauth2_origin_map().get(provider, ""),
    )
    profile = ProviderUser(id=claims.sub, email=claims.email, name=claims.name or name, verified=claims.verified)
    access: dict[str, Any] = {}
    if access_token:
        access = {
            "provider_access_token": sealed(server_secret(db, settings), access_token),
            "provider_access_token_expiry": dates.now() + timedelta(seconds=access_token_expiry),
        }
    return _settle(db, where, provider, profile, access, caller, visit, unverified="general_bad_request")


# -- refresh --------------------------------------------------------------------------------------


def refreshed(db: Database, settings: Settings, where: Where, session: Row) -> dict[str, Any]:
    """The provider columns of an OAuth2 session after a refresh through its provider; none when
    it has no refresh token or nib no adapter for its provider (it is then only extended)."""
    if not session["provider_refresh_token"] or supported(settings, session["provider"]) is None:
        return {}
    key = server_secret(db, settings)
    refresh_token = opened(db, settings, session)["provider_refresh_token"]
    adapter = _adapter(db, settings, where, session["provider"], check_enabled=False)
    got: Tokens = _talk(adapter, adapter.refresh, refresh_token)
    return {
        "provider_access_token": sealed(key, got.access_token),
        "provider_refresh_token": sealed(key, got.refresh_token or refresh_token),
        "provider_access_token_expiry": dates.now() + timedelta(seconds=got.expires_in),
    }
