"""The access log of a live nib: one line per request (and per realtime connection) with the
request's ID, echoed as X-Request-Id; and no secret of any kind ever reaches the server's output:
passwords (right, wrong, new), session cookies and headers, JWTs, API keys, e-mailed token
secrets (also in a query string), file tokens, TOTP secrets."""

from __future__ import annotations

import base64
import json
import re

import httpx
import pyotp
import pytest
from account_support import fallback_session, guest
from storage_support import multipart, new_bucket, unique_id
from users_support import unique_email

from live_server import NibServer, start_server, stop_server
from mail_support import link_params
from realtime_client import Subscriber

PASSWORD = "Sign-up-Passw0rd-7f3a"
WRONG_PASSWORD = "Wrong-Passw0rd-c41d"
NEW_PASSWORD = "Recovered-Passw0rd-9b2e"
APP = "http://localhost/app"


class Recorder:
    """Requests sent with IDs of our own, what each should log, and every secret met."""

    def __init__(self, nib: NibServer) -> None:
        self.nib = nib
        self.expected: dict[str, dict] = {}
        self.responses: dict[str, httpx.Response] = {}
        self.secrets: dict[str, str] = {"password": PASSWORD, "wrong password": WRONG_PASSWORD}

    def send(self, name: str, method: str, path: str, expect: dict, **options) -> httpx.Response:
        """``path`` under /v1 with ``X-Request-Id: <name>``; ``expect``: the line's fields."""
        headers = {"X-Appwrite-Project": self.nib.project, "X-Request-Id": name, **options.pop("headers", {})}
        response = httpx.request(method, f"{self.nib.endpoint}{path}", headers=headers, timeout=30, **options)
        assert response.headers["X-Request-Id"] == name, response.headers
        self.expected[name] = {"method": method, "project": self.nib.project, "userId": "", "keyId": "", **expect}
        self.responses[name] = response
        return response


@pytest.fixture(scope="module")
def logged(tmp_path_factory, smtp):
    """A nib logging JSON, the requests made to it (a ``Recorder``), and its output once stopped."""
    nib = start_server(
        "sqlite",
        tmp_path_factory.mktemp("nib-access"),
        env={**smtp.env(), "NIB_LOG_FORMAT": "json", "NIB_RATE_LIMITS": "off"},
    )
    try:
        recorder = Recorder(nib)
        _traffic(recorder, smtp)
    finally:
        stop_server(nib)
    return recorder, nib.output


def _traffic(rec: Recorder, smtp) -> None:
    nib = rec.nib
    key_id = nib.cli("keys", "list", "--project", nib.project).stdout.split()[0]
    rec.secrets["API key"] = nib.key
    email = unique_email("logged")
    signed_up = rec.send(
        "t-signup", "POST", "/account", {"route": "/v1/account", "status": 201},
        json={"userId": unique_id("u"), "email": email, "password": PASSWORD},
    )  # fmt: skip
    user_id = signed_up.json()["$id"]
    rec.send(
        "t-wrong-password", "POST", "/account/sessions/email", {"route": "/v1/account/sessions/email", "status": 401},
        json={"email": email, "password": WRONG_PASSWORD},
    )  # fmt: skip
    signed_in = rec.send(
        "t-signin", "POST", "/account/sessions/email", {"route": "/v1/account/sessions/email", "status": 201},
        json={"email": email, "password": PASSWORD},
    )  # fmt: skip
    session = fallback_session(signed_in, nib.project)
    rec.secrets["session"] = session
    rec.secrets["session secret"] = json.loads(base64.b64decode(session))["secret"]
    rec.secrets["session cookie"] = signed_in.cookies[f"a_session_{nib.project}"]
    me = {"route": "/v1/account", "status": 200, "userId": user_id}
    cookie = {"Cookie": f"a_session_{nib.project}={rec.secrets['session cookie']}"}
    rec.send("t-cookie", "GET", "/account", me, headers=cookie)
    as_user = {"X-Appwrite-Session": session}
    rec.send("t-session-header", "GET", "/account", me, headers=as_user)
    jwt = rec.send(
        "t-jwt-create", "POST", "/account/jwt", {"route": "/v1/account/jwt", "status": 201, "userId": user_id},
        headers=as_user,
    ).json()["jwt"]  # fmt: skip
    rec.secrets["JWT"] = jwt
    rec.send("t-jwt", "GET", "/account", me, headers={"X-Appwrite-JWT": jwt})
    as_key = {"X-Appwrite-Key": nib.key}
    rec.send(
        "t-key", "GET", f"/users/{user_id}", {"route": "/v1/users/{userId}", "status": 200, "keyId": key_id},
        headers=as_key,
    )  # fmt: skip

    # E-mailed secrets: verification (its secret also in the query string), magic URL, recovery.
    rec.send(
        "t-verification-create", "POST", "/account/verification",
        {"route": "/v1/account/verification", "status": 201, "userId": user_id}, headers=as_user, json={"url": APP},
    )  # fmt: skip
    verification = link_params(smtp.mailbox.wait_for(email))
    rec.secrets["verification secret"] = verification["secret"]
    rec.send(
        "t-verification", "PUT", f"/account/verification?userId={user_id}&secret={verification['secret']}",
        {"route": "/v1/account/verification", "status": 200, "userId": user_id},
        headers=as_user, json={"userId": user_id, "secret": verification["secret"]},
    )  # fmt: skip
    rec.send(
        "t-magic-create", "POST", "/account/tokens/magic-url", {"route": "/v1/account/tokens/magic-url", "status": 201},
        json={"userId": unique_id("u"), "email": email, "url": APP},
    )  # fmt: skip
    magic = link_params(smtp.mailbox.wait_for(email))
    rec.secrets["magic URL secret"] = magic["secret"]
    rec.send(
        "t-magic", "PUT", "/account/sessions/magic-url", {"route": "/v1/account/sessions/magic-url", "status": 201},
        json={"userId": user_id, "secret": magic["secret"]},
    )  # fmt: skip

    # A TOTP authenticator: its secret is in the response only.
    totp = rec.send(
        "t-totp-create", "POST", "/account/mfa/authenticators/totp",
        {"route": "/v1/account/mfa/authenticators/{type}", "status": 200, "userId": user_id}, headers=as_user,
    ).json()  # fmt: skip
    rec.secrets["TOTP secret"] = totp["secret"]
    rec.send(
        "t-totp", "PUT", "/account/mfa/authenticators/totp",
        {"route": "/v1/account/mfa/authenticators/{type}", "status": 200, "userId": user_id},
        headers=as_user, json={"otp": pyotp.TOTP(totp["secret"]).now()},
    )  # fmt: skip

    # A file token, read back in a query string.
    bucket_id = new_bucket(nib)
    file_id = unique_id("f")
    with nib.http() as http:
        assert http.post(f"/storage/buckets/{bucket_id}/files", **multipart(file_id, "a.txt", b"hi")).status_code == 201
        token = http.post(f"/tokens/buckets/{bucket_id}/files/{file_id}", json={})
    assert token.status_code == 201, token.text
    rec.secrets["file token"] = token.json()["secret"]
    rec.send(
        "t-file-token", "GET", f"/storage/buckets/{bucket_id}/files/{file_id}/view?token={token.json()['secret']}",
        {"route": "/v1/storage/buckets/{bucketId}/files/{fileId}/view", "status": 200},
    )  # fmt: skip

    # Realtime: the connection's line, written when it closes.
    with Subscriber(nib, ["account"], session=session, headers={"X-Request-Id": "t-realtime"}) as subscriber:
        assert subscriber.connected["data"]["user"]["$id"] == user_id
    rec.expected["t-realtime"] = {
        "method": "GET", "route": "/v1/realtime", "status": 101, "project": nib.project, "userId": user_id, "keyId": "",
    }  # fmt: skip

    # Recovery last: the new password signs every session out.
    with guest(nib) as http:
        assert http.post("/account/recovery", json={"email": email, "url": APP}).status_code == 201
    recovery = link_params(smtp.mailbox.wait_for(email))
    rec.secrets["recovery secret"] = recovery["secret"]
    rec.secrets["new password"] = NEW_PASSWORD
    rec.send(
        "t-recovery", "PUT", "/account/recovery", {"route": "/v1/account/recovery", "status": 200},
        json={"userId": user_id, "secret": recovery["secret"], "password": NEW_PASSWORD},
    )  # fmt: skip

    # Errors carry the ID too; an ID that is not a sane token is replaced by a new one.
    rec.send("t-unknown-route", "GET", "/nowhere", {"route": "unmatched", "status": 404})
    for name, bad in (("spaces", "not a token"), ("long", "x" * 129)):
        response = httpx.get(
            f"{nib.endpoint}/account", headers={"X-Appwrite-Project": nib.project, "X-Request-Id": bad}, timeout=30
        )
        assert response.status_code == 401
        generated = response.headers["X-Request-Id"]
        assert re.fullmatch(r"[0-9a-f]{32}", generated), generated
        rec.expected[generated] = {
            "method": "GET", "route": "/v1/account", "status": 401, "project": nib.project, "userId": "", "keyId": "",
        }  # fmt: skip


def _access_lines(output: list[str]) -> dict[str, dict]:
    entries = [json.loads(line) for line in output if line.strip()]
    lines: dict[str, dict] = {}
    for entry in entries:
        if entry["logger"] == "nib.access":
            assert entry["requestId"] not in lines, f"two lines for {entry['requestId']}"
            lines[entry["requestId"]] = entry
    return lines


def test_every_request_has_one_line_with_its_fields(logged):
    recorder, output = logged
    lines = _access_lines(output)  # every line of the output is JSON
    for request_id, expected in recorder.expected.items():
        line = lines[request_id]
        assert {name: line[name] for name in expected} == expected, line
        assert line["level"] == "info" and line["ip"] == "127.0.0.1"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
        assert isinstance(line["durationMs"], float | int) and line["durationMs"] >= 0
        response = recorder.responses.get(request_id)
        if response is not None:
            assert line["bytes"] == len(response.content), (line, response.content)


def test_no_secret_ever_reaches_the_log(logged):
    recorder, output = logged
    text = "\n".join(output)
    assert len(recorder.secrets) == 13
    for name, secret in recorder.secrets.items():
        assert len(secret) >= 12, name
        assert secret not in text, f"the {name} is in the log"
    assert "Traceback" not in text, text


def test_text_lines_and_switching_the_access_log_off(tmp_path):
    nib = start_server("sqlite", tmp_path / "text", env={"NIB_SMTP_HOST": ""})
    quiet = start_server("sqlite", tmp_path / "quiet", env={"NIB_SMTP_HOST": "", "NIB_ACCESS_LOG": "off"})
    try:
        for server in (nib, quiet):
            with server.http(**{"X-Request-Id": "text-1"}) as http:
                assert http.get("/users").status_code == 200
    finally:
        stop_server(nib)
        stop_server(quiet)
    key_id = nib.cli("keys", "list", "--project", "default").stdout.split()[0]
    pattern = (
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO nib\.access GET /v1/users 200 \d+B \d+\.\d\dms"
        rf" project=default user=- key={key_id} ip=127\.0\.0\.1 id=text-1"
    )
    assert [line for line in nib.output if re.fullmatch(pattern, line)], nib.output
    assert not [line for line in quiet.output if "nib.access" in line], quiet.output
