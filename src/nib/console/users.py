"""The console's users of a project: the paged, searchable list and one user's page.

Everything goes through the users domain's services (and teams' for memberships); filters are
Appwrite queries parsed against the Users API's own ``USER_LIST``, so the list is the API's list.
Parameters are checked with the validators the Users API declares for the same values.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import orjson
from starlette.responses import Response

from ..data.query import ParsedQueries, parse_queries
from ..http.routing import Param, optional, validate
from ..teams import memberships as membership_service
from ..teams.memberships import MEMBERSHIP_LIST
from ..tools import validators as v
from ..tools.errors import AppwriteError
from ..users import activity, mfa, passkeys, sessions
from ..users import service as users
from .pages import Page, PageRouter

router = PageRouter()

PAGE_SIZE = 25
ACTIVITY_SIZE = 25
# Offsets are clamped here: the pager never links further than the total (capped at 5000 when
# filtered), and reading deeper into a table costs more than a page is worth.
MAX_OFFSET = 1_000_000

_SEARCH = optional("search", v.text(256), default="")
_NEW_USER = [
    Param("userId", v.custom_id),
    optional("email", v.email),
    optional("phone", v.phone),
    optional("password", v.new_password),
    optional("name", v.text(128)),
]
_PROFILE = [
    Param("name", v.text(128, 0)),
    Param("email", v.email_or_empty),
    Param("number", v.phone_or_empty),
]
_LABELS = [Param("labels", v.labels)]
_PREFS = [Param("prefs", v.assoc)]
_PASSWORD = [Param("password", v.new_password)]


def _base(project_id: str, user_id: str = "") -> str:
    path = f"/projects/{quote(project_id, safe='')}/users"
    return f"{path}/{quote(user_id, safe='')}" if user_id else path


def _query(method: str, attribute: str, values: list[Any]) -> str:
    return orjson.dumps({"method": method, "attribute": attribute, "values": values}).decode()


def _day(text: str, field: str, *, later: int = 0) -> date:
    """The date ``text`` (YYYY-MM-DD), ``later`` days on."""
    try:
        return date.fromisoformat(text) + timedelta(days=later)
    except (ValueError, OverflowError):
        raise AppwriteError("general_argument_invalid", f"Invalid `{field}` param: Value must be a date.") from None


def _list_queries(page: Page, offset: int) -> tuple[ParsedQueries, dict[str, str]]:
    """The list's filters as Appwrite queries, parsed as the Users API parses them, and the
    filter values as given (for the form and the pager's links)."""
    given = {
        name: page.value(name).strip()
        for name in ("search", "status", "verified", "label", "created_from", "created_to")
    }
    raw = [_query("orderDesc", "", []), _query("limit", "", [PAGE_SIZE]), _query("offset", "", [offset])]
    if given["status"] in ("active", "blocked"):
        raw.append(_query("equal", "status", [given["status"] == "active"]))
    if given["verified"] in ("yes", "no"):
        raw.append(_query("equal", "emailVerification", [given["verified"] == "yes"]))
    if given["label"]:
        raw.append(_query("contains", "labels", [given["label"]]))
    if given["created_from"]:
        start = _day(given["created_from"], "created_from")
        raw.append(_query("greaterThanEqual", "$createdAt", [f"{start.isoformat()}T00:00:00.000+00:00"]))
    if given["created_to"]:
        # The whole last day is included: everything before the next midnight.
        end = _day(given["created_to"], "created_to", later=1)
        raw.append(_query("lessThan", "$createdAt", [f"{end.isoformat()}T00:00:00.000+00:00"]))
    return parse_queries(raw, users.USER_LIST), {k: value for k, value in given.items() if value}


def _offset(page: Page) -> int:
    text = page.value("offset", "0")
    return min(max(int(text), 0), MAX_OFFSET) if text.isdigit() else 0


@router.get("/projects/{project_id}/users")
def user_list(page: Page, project_id: str) -> Response:
    project = page.project(project_id)
    offset = _offset(page)
    queries, given = _list_queries(page, offset)
    search = validate([_SEARCH], {"search": given["search"]} if "search" in given else {})["search"]
    if not search and "label" in given and v.is_label(given["label"]):
        # A user's search text holds "label:<label>" for each label (users.service), so the
        # phrase narrows the rows to check through the full-text index; the `contains` filter
        # still decides. Without it, the capped total reads every user until 5000 match.
        search = f'"label:{given["label"]}"'
    total, rows = users.list_user_summaries(page.db, project_id=project_id, queries=queries, search=search or None)
    if not given:
        # Unfiltered, the exact count is at hand (a list's total stops at 5000).
        total = users.count_users(page.db, project_id=project_id)
    return page.render(
        "users.html",
        project=project,
        users=rows,
        total=total,
        offset=offset,
        limit=PAGE_SIZE,
        given=given,
        here_path=_base(project_id),
    )


@router.post("/projects/{project_id}/users", audit=("user.create", "user/{id}"))
def create(page: Page, project_id: str) -> Response:
    page.project(project_id)
    raw = {name: page.value(name).strip() for name in ("email", "phone", "name")}
    raw = {name: value for name, value in raw.items() if value}
    raw["userId"] = page.value("user_id").strip() or "unique()"
    if page.value("password"):
        raw["password"] = page.value("password")
    values = validate(_NEW_USER, raw)
    row, _ = users.create_user(
        page.db,
        project_id=project_id,
        user_id=values["userId"],
        email=values["email"],
        phone=values["phone"],
        password=values["password"],
        name=values["name"],
    )
    page.created_id = row["id"]
    return page.redirect(_base(project_id, row["id"]), "User created.")


@router.post("/projects/{project_id}/users/delete")
def delete_many(page: Page, project_id: str) -> Response:
    """Delete the selected users; each deletion is its own ``user.delete`` entry."""
    page.project(project_id)
    ids = list(dict.fromkeys(page.values("ids")))
    if not ids:
        return page.redirect(_base(project_id), "No user selected.", error=True)
    deleted = 0
    for user_id in ids:
        try:
            users.delete_user(page.db, project_id=project_id, user_id=user_id)
        except AppwriteError:
            continue  # gone meanwhile (or never there): nothing to delete
        page.record(project_id, "user.delete", f"user/{user_id}")
        deleted += 1
    return page.redirect(_base(project_id), f"{deleted} user{'s' if deleted != 1 else ''} deleted.")


# ---------------------------------------------------------------------------------------------
# One user


def _detail(page: Page, project_id: str, user_id: str, **extra: Any) -> Response:
    project = page.project(project_id)
    user, owned = users.get_user(page.db, project_id=project_id, user_id=user_id)
    everything = parse_queries([_query("limit", "", [100])], MEMBERSHIP_LIST)
    _, memberships = membership_service.list_user_memberships(
        page.db, project_id=project_id, user_id=user_id, queries=everything, search=None
    )
    _, identities = activity.list_identities(
        page.db,
        project_id=project_id,
        user_id=user_id,
        queries=parse_queries([_query("limit", "", [100])], activity.IDENTITY_LIST),
    )
    return page.render(
        "users_detail.html",
        project=project,
        user=user,
        targets=owned,
        sessions=sessions.list_sessions(page.db, project_id=project_id, user_id=user_id),
        factors=mfa.mfa_factors(page.db, project_id=project_id, user_id=user_id),
        passkeys=passkeys.list_passkeys(
            page.db,
            project_id=project_id,
            user_id=user_id,
            queries=parse_queries([_query("limit", "", [100])], passkeys.PASSKEY_LIST),
        )[1],
        identities=identities,
        memberships=memberships,
        activity=activity.user_activity(page.db, project_id=project_id, user_id=user_id, limit=ACTIVITY_SIZE),
        prefs_text=orjson.dumps(user["prefs"] or {}, option=orjson.OPT_INDENT_2).decode(),
        here_path=_base(project_id, user_id),
        **extra,
    )


@router.get("/projects/{project_id}/users/{user_id}")
def user_page(page: Page, project_id: str, user_id: str) -> Response:
    return _detail(page, project_id, user_id)


_UPDATE = ("user.update", "user/{user_id}")


@router.post("/projects/{project_id}/users/{user_id}/profile", audit=_UPDATE)
def update_profile(page: Page, project_id: str, user_id: str) -> Response:
    """Name, e-mail and phone: each that changed through its own service function."""
    page.project(project_id)
    values = validate(
        _PROFILE,
        {"name": page.value("name"), "email": page.value("email").strip(), "number": page.value("phone").strip()},
    )
    user, _ = users.get_user(page.db, project_id=project_id, user_id=user_id)
    # E-mail and phone first: they are what may be refused (taken), before the name is saved.
    if values["email"] != (user["email"] or ""):
        users.update_email(page.db, project_id=project_id, user_id=user_id, email=values["email"])
    if values["number"] != (user["phone"] or ""):
        users.update_phone(page.db, project_id=project_id, user_id=user_id, phone=values["number"])
    if values["name"] != user["name"]:
        users.update_user(page.db, project_id=project_id, user_id=user_id, name=values["name"])
    return page.redirect(_base(project_id, user_id), "Profile saved.")


@router.post("/projects/{project_id}/users/{user_id}/labels", audit=_UPDATE)
def update_labels(page: Page, project_id: str, user_id: str) -> Response:
    page.project(project_id)
    given = page.value("labels").replace(",", " ").split()
    values = validate(_LABELS, {"labels": given})
    users.update_user(page.db, project_id=project_id, user_id=user_id, labels=values["labels"])
    return page.redirect(_base(project_id, user_id), "Labels saved.")


@router.post("/projects/{project_id}/users/{user_id}/prefs", audit=_UPDATE)
def update_prefs(page: Page, project_id: str, user_id: str) -> Response:
    page.project(project_id)
    text = page.value("prefs").strip() or "{}"
    try:
        prefs = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise AppwriteError("general_argument_invalid", f"Invalid `prefs` param: not JSON ({error}).") from None
    values = validate(_PREFS, {"prefs": prefs})
    users.update_prefs(page.db, project_id=project_id, user_id=user_id, prefs=values["prefs"])
    return page.redirect(_base(project_id, user_id), "Preferences saved.")


@router.post("/projects/{project_id}/users/{user_id}/status", audit=_UPDATE)
def update_status(page: Page, project_id: str, user_id: str) -> Response:
    page.project(project_id)
    active = page.value("status") == "active"
    users.update_user(page.db, project_id=project_id, user_id=user_id, status=active)
    return page.redirect(_base(project_id, user_id), "User unblocked." if active else "User blocked.")


@router.post("/projects/{project_id}/users/{user_id}/verification", audit=("verification.update", "user/{user_id}"))
def update_verification(page: Page, project_id: str, user_id: str) -> Response:
    """The e-mail (``kind=email``) or phone (``kind=phone``) verification flag."""
    page.project(project_id)
    column = "phone_verification" if page.value("kind") == "phone" else "email_verification"
    verified = page.value("verified") == "on"
    users.update_user(page.db, project_id=project_id, user_id=user_id, **{column: verified})
    what = "Phone" if column == "phone_verification" else "E-mail"
    return page.redirect(_base(project_id, user_id), f"{what} marked {'verified' if verified else 'unverified'}.")


@router.post("/projects/{project_id}/users/{user_id}/password", audit=_UPDATE)
def update_password(page: Page, project_id: str, user_id: str) -> Response:
    page.project(project_id)
    values = validate(_PASSWORD, {"password": page.value("password")})
    users.update_password(page.db, project_id=project_id, user_id=user_id, password=values["password"])
    return page.redirect(_base(project_id, user_id), "Password set.")


@router.post("/projects/{project_id}/users/{user_id}/sessions/delete", audit=("session.delete", "user/{user_id}"))
def delete_sessions(page: Page, project_id: str, user_id: str) -> Response:
    page.project(project_id)
    gone = sessions.delete_sessions(page.db, project_id=project_id, user_id=user_id)
    return page.redirect(_base(project_id, user_id), f"{len(gone)} session{'s' if len(gone) != 1 else ''} revoked.")


@router.post(
    "/projects/{project_id}/users/{user_id}/sessions/{session_id}/delete",
    audit=("session.delete", "user/{user_id}"),
)
def delete_session(page: Page, project_id: str, user_id: str, session_id: str) -> Response:
    page.project(project_id)
    sessions.delete_session(page.db, project_id=project_id, user_id=user_id, session_id=session_id)
    return page.redirect(_base(project_id, user_id), "Session revoked.")


@router.post("/projects/{project_id}/users/{user_id}/mfa", audit=_UPDATE)
def update_mfa(page: Page, project_id: str, user_id: str) -> Response:
    page.project(project_id)
    enabled = page.value("mfa") == "on"
    users.update_user(page.db, project_id=project_id, user_id=user_id, mfa=enabled)
    return page.redirect(_base(project_id, user_id), "MFA enabled." if enabled else "MFA disabled.")


@router.post("/projects/{project_id}/users/{user_id}/mfa/totp/delete", audit=_UPDATE)
def delete_totp(page: Page, project_id: str, user_id: str) -> Response:
    page.project(project_id)
    mfa.delete_authenticator(page.db, project_id=project_id, user_id=user_id, type="totp")
    return page.redirect(_base(project_id, user_id), "TOTP authenticator deleted.")


@router.post("/projects/{project_id}/users/{user_id}/mfa/recovery-codes", audit=_UPDATE)
def recovery_codes(page: Page, project_id: str, user_id: str) -> Response:
    """New recovery codes (created when the user has none), shown on this answer only."""
    page.project(project_id)
    try:
        codes = mfa.regenerate_recovery_codes(page.db, project_id=project_id, user_id=user_id)
    except AppwriteError as error:
        if error.type != "user_recovery_codes_not_found":
            raise
        codes = mfa.create_recovery_codes(page.db, project_id=project_id, user_id=user_id)
    return _detail(page, project_id, user_id, recovery_codes=codes)


@router.post(
    "/projects/{project_id}/users/{user_id}/identities/{identity_id}/delete",
    audit=("identity.delete", "identity/{identity_id}"),
)
def delete_identity(page: Page, project_id: str, user_id: str, identity_id: str) -> Response:
    page.project(project_id)
    activity.delete_identity(page.db, project_id=project_id, identity_id=identity_id, user_id=user_id)
    return page.redirect(_base(project_id, user_id), "Identity deleted.")


@router.post("/projects/{project_id}/users/{user_id}/delete", audit=("user.delete", "user/{user_id}"))
def delete(page: Page, project_id: str, user_id: str) -> Response:
    page.project(project_id)
    row, _ = users.delete_user(page.db, project_id=project_id, user_id=user_id)
    return page.redirect(_base(project_id), f"User {row['name'] or row['id']} deleted.")
