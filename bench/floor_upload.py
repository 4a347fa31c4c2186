"""Floor for uploads: a bare ASGI app that streams each request body to a file of its own while
computing its md5.

Usage: python bench/floor_upload.py DIR PORT

``POST /write``: the body (multipart framing and all, unparsed) goes to a new file in DIR, md5
taken on the way, answered ``{"size": n, "md5": hex}``; a chunk of a chunked upload is one such
request, so each chunk lands in its own file (nothing is joined). ``POST /discard``: the body is
read and dropped, to show what the client alone can send. Served like ``nib serve``: uvicorn,
uvloop, nib's httptools protocol, 1 worker, no access log. No routing, auth, database, parsing or
thread pool: everything runs on the event loop.
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from pathlib import Path

import uvicorn


def make_app(directory: Path):
    async def app(scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        write = scope["path"] == "/write"
        md5, size = hashlib.md5(), 0
        out = open(directory / uuid.uuid4().hex, "wb") if write else None
        try:
            more = True
            while more:
                message = await receive()
                body = message.get("body", b"")
                more = message.get("more_body", False)
                size += len(body)
                if out is not None:
                    md5.update(body)
                    out.write(body)
        finally:
            if out is not None:
                out.close()
        payload = json.dumps({"size": size, "md5": md5.hexdigest()}).encode()
        await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})

    return app


if __name__ == "__main__":
    uvicorn.run(
        make_app(Path(sys.argv[1])),
        host="127.0.0.1",
        port=int(sys.argv[2]),
        loop="uvloop",
        http="nib.http.zerocopy:ZeroCopyHttpProtocol",
        access_log=False,
        log_level="warning",
    )
