"""A realtime WebSocket client for the tests: what an SDK does on ``/v1/realtime``, frame by frame.

``Subscriber(server, channels=[...], session=...)`` connects as the 1.5-era SDKs do (channels in
the URL, the session in the cookie); ``channels=None`` connects as the newest SDKs do (project
only) and ``subscribe`` sends their message. Frames are read with ``next`` / ``event``;
``quiet`` asserts that nothing arrives for a while.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect


def realtime_url(endpoint: str, project: str, channels: list[str] | None = None, **query: str) -> str:
    base = endpoint.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/realtime"
    parts = [f"project={quote(project)}"]
    parts += [f"channels[]={quote(channel)}" for channel in channels or ()]
    parts += [f"{name}={quote(value)}" for name, value in query.items()]
    return base + "?" + "&".join(parts)


def open_socket(url: str, **options) -> ClientConnection:
    """A client connection to ``url`` (closed by the caller)."""
    return connect(url, open_timeout=10, max_size=2**24, **options).__enter__()


class Subscriber:
    """One realtime connection; ``connected`` is the server's first frame."""

    def __init__(
        self,
        server=None,
        channels: list[str] | None = None,
        *,
        session: str | None = None,
        project: str | None = None,
        origin: str | None = None,
        headers: dict[str, str] | None = None,
        expect_connected: bool = True,
        endpoint: str | None = None,
        url: str | None = None,
        **query: str,
    ) -> None:
        """``url``: connect there as is (hand-made query strings)."""
        project = project or (server.project if server else "")
        extra = dict(headers or {})
        if session:
            extra["Cookie"] = f"a_session_{project}={session}"
        self.socket = open_socket(
            url or realtime_url(endpoint or server.endpoint, project, channels, **query),
            origin=origin,
            additional_headers=extra,
        )
        self.connected: dict | None = self.next() if expect_connected else None
        if expect_connected:
            assert self.connected["type"] == "connected", self.connected

    def next(self, timeout: float = 10) -> dict:
        return json.loads(self.socket.recv(timeout=timeout))

    def send(self, kind: str, data=None) -> None:
        message = {"type": kind} if data is None else {"type": kind, "data": data}
        self.socket.send(json.dumps(message))

    def request(self, kind: str, data=None, timeout: float = 10) -> dict:
        """Send a message and return the server's answer to it (the next frame)."""
        self.send(kind, data)
        return self.next(timeout)

    def subscribe(self, *items: dict) -> dict:
        answer = self.request("subscribe", list(items))
        assert answer["type"] == "response" and answer["data"]["to"] == "subscribe", answer
        return answer

    def event(self, timeout: float = 10) -> dict:
        """The next frame, which must be an event: its ``data``."""
        frame = self.next(timeout)
        assert frame["type"] == "event", frame
        return frame["data"]

    def event_named(self, name: str, timeout: float = 10) -> dict:
        """Skip events until one whose ``events`` names ``name`` (chunked uploads announce each chunk)."""
        while True:
            data = self.event(timeout)
            if name in data["events"]:
                return data

    def quiet(self, seconds: float = 0.7) -> None:
        """Nothing arrives within ``seconds``."""
        try:
            frame = self.socket.recv(timeout=seconds)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected frame: {frame}")

    def closed_with(self, timeout: float = 10) -> tuple[int | None, list[dict]]:
        """Read until the server closes: (close code, frames received before)."""
        frames = []
        try:
            while True:
                frames.append(json.loads(self.socket.recv(timeout=timeout)))
        except ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else None), frames

    def close(self) -> None:
        self.socket.close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
