"""The pipeline's inline GETs (SQLite): a handler on the event loop runs once, and the blocking
work it leaves to its response (``PooledBodyResponse``: decoding a compressed or encrypted file)
runs in the worker pool, never on the loop."""

from __future__ import annotations

import threading

import httpx
import pytest

from nib.auth import projects
from nib.data.db import Database
from nib.data.db.migrate import upgrade
from nib.http.pipeline import Api
from nib.http.routing import Router
from nib.storage.file_responses import PooledBodyResponse
from nib.tools.config import Settings

router = Router()
calls: list[tuple[str, bool, bool]] = []  # (what, ctx.on_event_loop or None, ran on the event loop's thread)


def _on_loop() -> bool:
    return threading.current_thread() is threading.main_thread()


@router.get("/v1/decoded", scope=None)
def _decoded(ctx):
    calls.append(("handler", ctx.on_event_loop, _on_loop()))

    def decoding():
        calls.append(("body", None, _on_loop()))
        yield b"decoded "
        yield b"bytes"

    return PooledBodyResponse(decoding(), status_code=200, headers={"Content-Length": "13"})


@router.get("/v1/damaged", scope=None)
def _damaged(ctx):
    def decoding():
        raise ValueError("a damaged object")
        yield b""

    return PooledBodyResponse(decoding(), status_code=200, headers={"Content-Length": "13"})


@router.get("/v1/plain", scope=None)
def _plain(ctx):
    calls.append(("handler", ctx.on_event_loop, _on_loop()))
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
async def test_a_body_to_decode_is_produced_in_the_pool_and_the_request_runs_once(client):
    calls.clear()
    async with client:
        response = await client.get("/v1/decoded")
    assert response.status_code == 200 and response.content == b"decoded bytes"
    assert calls == [("handler", True, True), ("body", None, False)]


@pytest.mark.anyio
async def test_a_body_that_fails_to_decode_is_appwrites_500(client):
    async with client:
        response = await client.get("/v1/damaged")
    assert (response.status_code, response.json()["type"]) == (500, "general_unknown")


@pytest.mark.anyio
async def test_other_sqlite_gets_stay_on_the_event_loop(client):
    calls.clear()
    async with client:
        response = await client.get("/v1/plain")
    assert response.json() == {"inPool": False}
    assert calls == [("handler", True, True)]
