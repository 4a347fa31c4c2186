"""The pipeline's inline GETs (SQLite) and ``RunInPool``: a handler that finds blocking work while
on the event loop is run again in the worker pool, and its answer is the pool run's."""

from __future__ import annotations

import threading

import httpx
import pytest

from nib.auth import projects
from nib.data.db import Database
from nib.data.db.migrate import upgrade
from nib.http.pipeline import Api, RunInPool
from nib.http.routing import Router
from nib.tools.config import Settings

router = Router()
calls: list[tuple[bool, bool]] = []  # (ctx.on_event_loop, ran on the event loop's thread)


@router.get("/v1/decoded", scope=None)
def _decoded(ctx):
    calls.append((ctx.on_event_loop, threading.current_thread() is threading.main_thread()))
    if ctx.on_event_loop:
        raise RunInPool
    return {"inPool": True}


@router.get("/v1/plain", scope=None)
def _plain(ctx):
    calls.append((ctx.on_event_loop, threading.current_thread() is threading.main_thread()))
    return {"inPool": not ctx.on_event_loop}


@pytest.fixture
def client(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'nib.db'}", pool_size=2)
    upgrade(db)
    key = projects.bootstrap(db)["secret"]
    api = Api(db, Settings(data_dir=tmp_path, rate_limits=False), [router])
    headers = {"X-Appwrite-Project": "default", "X-Appwrite-Key": key}
    yield httpx.AsyncClient(transport=httpx.ASGITransport(app=api), base_url="http://localhost", headers=headers)
    db.dispose()


@pytest.mark.anyio
async def test_a_handler_that_raises_run_in_pool_runs_again_in_the_pool(client):
    calls.clear()
    async with client:
        response = await client.get("/v1/decoded")
    assert response.status_code == 200 and response.json() == {"inPool": True}
    assert calls == [(True, True), (False, False)]


@pytest.mark.anyio
async def test_other_sqlite_gets_stay_on_the_event_loop(client):
    calls.clear()
    async with client:
        response = await client.get("/v1/plain")
    assert response.json() == {"inPool": False}
    assert calls == [(True, True)]
