"""Floor for GET /v1/users/{id}: a minimal Starlette app doing ONE indexed SQLite lookup.

Usage: python bench/floor_starlette.py DB_PATH PORT [WORKERS] [SERVER]

Reads nib's own SQLite file (never writes to it) and answers GET /v1/users/{userId} with the
same User JSON nib returns (same keys, same values, orjson). The one statement is a lookup on
the (project_id, id) unique index, LEFT JOINed to the user's targets on their user_id index so
the document is complete. SERVER is ``granian`` (the default when it is installed: the floor
issue 17 names, Rust HTTP with asyncio workers) or ``uvicorn`` (served like nib: uvloop,
httptools); WORKERS (default 1) processes, no access log.
No auth, validation, thread pool or ORM: this is the floor nib's GET user is compared to.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

SQL = """
SELECT u.id, u.created_at, u.updated_at, u.name, u.password, u.hash, u.hash_options, u.registration,
       u.status, u.labels, u.password_update, u.email, u.phone, u.email_verification,
       u.phone_verification, u.mfa, u.prefs, u.accessed_at, u.impersonator,
       t.id, t.created_at, t.updated_at, t.name, t.provider_id, t.provider_type, t.identifier, t.expired
FROM users AS u LEFT JOIN targets AS t ON t.project_id = u.project_id AND t.user_id = u.id
WHERE u.project_id = ? AND u.id = ?
ORDER BY t.seq
"""


def fmt(value: str | None) -> str:
    """SQLite's stored ``YYYY-MM-DD HH:MM:SS.ffffff`` (naive UTC) as Appwrite's ISO string."""
    if not value:
        return ""
    return f"{value[:10]}T{value[11:19]}.{(value[20:23] or '000').ljust(3, '0')}+00:00"


def make_app(db_path: str) -> Starlette:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, check_same_thread=False)
    JSON = {"Content-Type": "application/json; charset=UTF-8"}

    async def get_user(request):
        rows = conn.execute(SQL, ("default", request.path_params["user_id"])).fetchall()
        if not rows:
            return Response(b'{"message":"User with the requested ID could not be found.","code":404}', 404, JSON)
        u = rows[0]
        targets = [
            {
                "$id": r[19],
                "$createdAt": fmt(r[20]),
                "$updatedAt": fmt(r[21]),
                "name": r[22],
                "userId": u[0],
                "providerId": r[23],
                "providerType": r[24],
                "identifier": r[25],
                "expired": bool(r[26]),
            }
            for r in rows
            if r[19] is not None
        ]
        body = {
            "$id": u[0],
            "$createdAt": fmt(u[1]),
            "$updatedAt": fmt(u[2]),
            "name": u[3],
            "password": u[4],
            "hash": u[5],
            "hashOptions": orjson.loads(u[6]),
            "registration": fmt(u[7]),
            "status": bool(u[8]),
            "labels": orjson.loads(u[9]),
            "passwordUpdate": fmt(u[10]),
            "email": u[11] or "",
            "phone": u[12] or "",
            "emailVerification": bool(u[13]),
            "phoneVerification": bool(u[14]),
            "mfa": bool(u[15]),
            "prefs": orjson.loads(u[16]) if u[16] else {},
            "targets": targets,
            "accessedAt": fmt(u[17]),
            "impersonator": bool(u[18]),
            "impersonatorUserId": None,
        }
        return Response(orjson.dumps(body), 200, JSON)

    return Starlette(routes=[Route("/v1/users/{user_id}", get_user)])


def app() -> Starlette:
    """The app of each worker (uvicorn imports it by name when it runs more than one)."""
    return make_app(os.environ["FLOOR_DB"])


def default_server() -> str:
    try:
        import granian  # noqa: F401
    except ImportError:
        return "uvicorn"
    return "granian"


if __name__ == "__main__":
    os.environ["FLOOR_DB"], port = sys.argv[1], int(sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if (sys.argv[4] if len(sys.argv) > 4 else default_server()) == "granian":
        from granian import Granian

        Granian(
            "floor_starlette:app",
            address="127.0.0.1",
            port=port,
            interface="asgi",
            workers=workers,
            factory=True,
            working_dir=Path(__file__).parent,
            log_level="warning",
        ).serve()
    else:
        uvicorn.run(
            "floor_starlette:app",
            factory=True,
            app_dir=str(Path(__file__).parent),
            host="127.0.0.1",
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
        )
