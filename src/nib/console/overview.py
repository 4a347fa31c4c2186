"""A project's overview: its counts, sign-ups and sign-ins over the last 30 days, recent activity.

Every number comes from a maintained counter or an index range (users from ``totals``, sign-ups
over the users' registration index, sign-ins over the audit log's (project, event, time) index),
so the page costs the same for a project of ten users or a million.

Sign-ins are the audit log's ``session.create`` entries, not the ``sessions`` rows: a session
deleted at sign-out would otherwise vanish from the day it was created on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from starlette.responses import Response

from ..data import audit
from ..storage import buckets as storage_service
from ..teams import service as team_service
from ..users import service as user_service
from .pages import Page, PageRouter

router = PageRouter()

DAYS = 30
SIGN_IN_EVENT = "session.create"
RECENT = 20
# The chart's drawing box (SVG user units; CSS scales it to the page's width).
CHART_WIDTH = 600
CHART_HEIGHT = 160
CHART_TOP = 8  # room above the tallest bar


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # "2026-12-07: 3 sign-ups" (the bar's tooltip)


@dataclass(frozen=True)
class Chart:
    days: list[str]
    signups: list[int]
    signins: list[int]
    signup_bars: list[Bar]
    signin_bars: list[Bar]
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT


def last_days(today: date, count: int = DAYS) -> list[str]:
    """The ``count`` UTC days ending with ``today``, oldest first, as ``YYYY-MM-DD``."""
    return [(today - timedelta(days=count - 1 - i)).isoformat() for i in range(count)]


def chart(days: list[str], signups: dict[str, int], signins: dict[str, int]) -> Chart:
    """Two bars per day (sign-ups, sign-ins) scaled to the busiest day; a day without any keeps
    its (zero-height) bar, so every day has its place."""
    ups = [signups.get(day, 0) for day in days]
    ins = [signins.get(day, 0) for day in days]
    peak = max([*ups, *ins, 1])
    slot = CHART_WIDTH / len(days)
    width = slot * 0.4
    usable = CHART_HEIGHT - CHART_TOP

    def bar(i: int, value: int, offset: float, noun: str) -> Bar:
        height = round(usable * value / peak, 2)
        x = round(i * slot + slot * 0.1 + offset, 2)
        return Bar(x, round(CHART_HEIGHT - height, 2), round(width, 2), height, f"{days[i]}: {value} {noun}")

    return Chart(
        days,
        ups,
        ins,
        [bar(i, value, 0, "sign-ups") for i, value in enumerate(ups)],
        [bar(i, value, width, "sign-ins") for i, value in enumerate(ins)],
    )


def actor(entry: dict[str, Any]) -> str:
    """Who acted, as the activity table names them."""
    kind = entry["user_type"]
    if kind == "key":
        return f"API key {entry['key_id']}"
    who = entry["user_email"] or entry["user_name"] or entry["user_id"]
    if kind == "admin":
        return f"Administrator {who}"
    if kind == "user":
        return f"User {who}"
    return "Guest"


@router.get("/projects/{project_id}")
def overview(page: Page, project_id: str) -> Response:
    project = page.project(project_id)
    today = datetime.now(timezone.utc).date()
    days = last_days(today)
    since = datetime.combine(date.fromisoformat(days[0]), time(0), tzinfo=timezone.utc)
    signups = user_service.signups_per_day(page.db, project_id=project_id, since=since)
    signins = audit.per_day(page.db, project_id, SIGN_IN_EVENT, since)
    stored = storage_service.usage(page.db, project_id=project_id)
    counts = {
        "users": user_service.count_users(page.db, project_id=project_id),
        "teams": team_service.count_teams(page.db, project_id=project_id),
        **stored,
    }
    activity = [{**entry, "actor": actor(entry)} for entry in audit.latest(page.db, project_id, RECENT)]
    return page.render(
        "overview.html",
        project=project,
        counts=counts,
        chart=chart(days, signups, signins),
        activity=activity,
    )
