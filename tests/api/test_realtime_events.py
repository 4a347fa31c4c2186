"""What every write announces on the realtime WebSocket (issue 13), against a live nib (SQLite and
PostgreSQL): a client subscribed as Appwrite's SDKs do (as the user to ``account``, as a team
member to ``teams``/``memberships``, as a reader to ``files``) receives, for each write made over
HTTP, one frame whose ``events`` are every name of the route's event (most specific first),
whose ``channels`` are where it is published, whose ``payload`` is the REST response (for deletes,
the deleted resource as its GET renders it) and whose ``timestamp`` is Appwrite's datetime; no
payload carries a secret or a password hash."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pyotp
from account_support import PASSWORD, Member, as_member, guest, member, sign_in
from appwrite.id import ID
from oauth2_support import OK, Browser, new_project, nib_fixture, query, set_provider, signed_in
from storage_support import multipart, new_bucket, png, send_chunk, storage_as_key
from teams_support import INVITE_URL, owned_team, teams_as, teams_as_key
from users_support import seed_authenticator, seed_identity, unique_email, unique_phone

from mail_support import link_params, one_time_code
from realtime_client import Subscriber

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
HIDDEN = ("secret", "password", "hash", "hashOptions")
APP = "http://localhost/app"  # the server's own host: a valid redirect URL for e-mail links


# -- expectations ---------------------------------------------------------------------------------


def user_names(user_id: str, action: str, attribute: str = "") -> list[str]:
    """An event on the user itself (``users.U.update.email``): with and without the attribute."""
    names = [f"users.{user_id}.{action}", f"users.*.{action}"]
    if attribute:
        names += [f"users.{user_id}.{action}.{attribute}", f"users.*.{action}.{attribute}"]
    return [*names, f"users.{user_id}", "users.*"]


def nested_names(kind: str, first: str, sub: str, second: str, action: str, attribute: str = "") -> list[str]:
    """An event on a sub-resource (``users.U.sessions.S.create``): each shape with both IDs, both
    ``*``, then one ``*`` each."""

    def four(tail: str) -> list[str]:
        pairs = ((first, second), ("*", "*"), (first, "*"), ("*", second))
        return [f"{kind}.{a}.{sub}.{b}{tail}" for a, b in pairs]

    names = four(f".{action}.{attribute}") if attribute else []
    names += four(f".{action}")
    if attribute:
        names += [f"{kind}.{first}.{action}.{attribute}", f"{kind}.*.{action}.{attribute}"]
    return [*names, *four(""), f"{kind}.{first}", f"{kind}.*"]


def account_channels(user_id: str, action: str = "") -> list[str]:
    channels = ["account", f"account.{user_id}"]
    return channels + ([f"account.{action}", f"account.{user_id}.{action}"] if action else [])


def heard(sub, user_id: str, kind: str, resource_id: str, action: str, payload: dict) -> None:
    """An event on one of the user's sub-resources (a session, target…) reached the account."""
    received(sub, nested_names("users", user_id, kind, resource_id, action), account_channels(user_id), payload)


def visible(model: dict) -> dict:
    """A REST model as an event carries it: without secrets and password hashes."""
    return {key: value for key, value in model.items() if key not in HIDDEN}


def received(sub: Subscriber, names: list[str], channels: list[str], payload: dict) -> dict:
    """The next frame is this event (and carries no secret)."""
    data = sub.event()
    assert data["events"] == names
    assert data["channels"] == channels
    assert data["payload"] == visible(payload)
    assert TIMESTAMP.fullmatch(data["timestamp"]), data["timestamp"]
    assert not set(HIDDEN) & set(data["payload"])
    return data


@contextmanager
def listening(server, who: Member | None, channels: list[str]) -> Iterator[Subscriber]:
    with Subscriber(server, channels, session=who.session if who else None) as sub:
        yield sub


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json() if response.content else {}


def with_session(server, session: str):
    return guest(server, **{"X-Appwrite-Session": session})


def as_guest(server, method: str, path: str, body: dict, status: int = 201) -> dict:
    """One request from a fresh guest (a sign-in leaves its cookies in a client)."""
    with guest(server) as anonymous:
        return ok(anonymous.request(method, path, json=body), status)


def user_like(kind: str, resource: str, action: str, attribute: str = "") -> list[str]:
    """``user_names`` for another kind of resource (teams)."""
    return [name.replace("users", kind, 1) for name in user_names(resource, action, attribute)]


# -- users, through the Users API -----------------------------------------------------------------


def test_users_api_updates_reach_the_users_account(server, http):
    who = member(server)
    user_id = who.user["$id"]
    base = f"/users/{user_id}"
    writes = [
        ("PATCH", "/name", {"name": "Ada"}, "name"),
        ("PATCH", "/email", {"email": unique_email()}, "email"),
        ("PATCH", "/phone", {"number": unique_phone()}, "phone"),
        ("PATCH", "/password", {"password": "another-password-2"}, "password"),
        ("PUT", "/labels", {"labels": ["vip"]}, "labels"),
        ("PATCH", "/verification", {"emailVerification": True}, "verification"),
        ("PATCH", "/verification/phone", {"phoneVerification": True}, "verification"),
        ("PATCH", "/mfa", {"mfa": False}, "mfa"),
        ("PATCH", "/impersonator", {"impersonator": True}, "impersonator"),
    ]
    with listening(server, who, ["account"]) as sub:
        for method, path, body, attribute in writes:
            response = ok(http.request(method, base + path, json=body))
            received(
                sub, user_names(user_id, "update", attribute), account_channels(user_id, "update"), visible(response)
            )
        # The prefs are the payload; the user is named by the route, never by the prefs' keys.
        prefs = {"theme": "dark", "userId": "someone-else", "$id": "someone-else"}
        assert ok(http.patch(base + "/prefs", json={"prefs": prefs})) == prefs
        received(sub, user_names(user_id, "update", "prefs"), account_channels(user_id, "update"), prefs)


def test_the_newest_sdk_receives_only_its_action_channels_events(server, http):
    """Subscribed by message to ``account.update`` (bound to the user): a name change arrives,
    naming the subscription; a new session (no action of the account's own) does not."""
    who = member(server)
    user_id = who.user["$id"]
    with Subscriber(server, session=who.session) as sub:
        sub.subscribe({"subscriptionId": "changes", "channels": ["account.update"]})
        ok(http.post(f"/users/{user_id}/sessions"), 201)
        renamed = ok(http.patch(f"/users/{user_id}/name", json={"name": "Lin"}))
        data = received(sub, user_names(user_id, "update", "name"), account_channels(user_id, "update"), renamed)
        assert data["subscriptions"] == ["changes"]
        sub.quiet()


def test_another_users_events_do_not_reach_an_account(server, http):
    who, other = member(server), member(server)
    with listening(server, who, ["account"]) as sub:
        ok(http.patch(f"/users/{other.user['$id']}/name", json={"name": "Not yours"}))
        ok(http.patch(f"/users/{other.user['$id']}/prefs", json={"prefs": {"userId": who.user["$id"]}}))
        sub.quiet()


def test_users_api_sessions_and_tokens(server, http):
    who = member(server)
    user_id = who.user["$id"]
    with listening(server, who, ["account"]) as sub:
        session = ok(http.post(f"/users/{user_id}/sessions"), 201)
        assert session["secret"]
        heard(sub, user_id, "sessions", session["$id"], "create", visible(session))
        token = ok(http.post(f"/users/{user_id}/tokens"), 201)
        heard(sub, user_id, "tokens", token["$id"], "create", visible(token))
        listed = ok(http.get(f"/users/{user_id}/sessions"))["sessions"]
        deleted = next(s for s in listed if s["$id"] == session["$id"])
        assert http.delete(f"/users/{user_id}/sessions/{session['$id']}").status_code == 204
        heard(sub, user_id, "sessions", session["$id"], "delete", deleted)


def _target_and_identity_events(sub, user_id: str, create, update, delete, identities, delete_identity, seed) -> None:
    """A target created, updated and deleted, then an identity deleted, each announced on the
    user's account with its model (a delete: the resource as last rendered)."""

    target = ok(create(), 201)
    heard(sub, user_id, "targets", target["$id"], "create", target)
    updated = ok(update(target["$id"]))
    heard(sub, user_id, "targets", target["$id"], "update", updated)
    assert delete(target["$id"]).status_code == 204
    heard(sub, user_id, "targets", target["$id"], "delete", updated)
    identity_id = seed()
    identity = next(i for i in ok(identities())["identities"] if i["$id"] == identity_id)
    assert delete_identity(identity_id).status_code == 204
    heard(sub, user_id, "identities", identity_id, "delete", identity)


def test_users_api_targets_and_identities(server, http, db):
    who = member(server)
    user_id = who.user["$id"]
    base = f"/users/{user_id}/targets"
    with listening(server, who, ["account"]) as sub:
        _target_and_identity_events(
            sub,
            user_id,
            create=lambda: http.post(
                base, json={"targetId": ID.unique(), "providerType": "email", "identifier": unique_email()}
            ),
            update=lambda target_id: http.patch(f"{base}/{target_id}", json={"name": "Work"}),
            delete=lambda target_id: http.delete(f"{base}/{target_id}"),
            identities=lambda: http.get("/users/identities"),
            delete_identity=lambda identity_id: http.delete(f"/users/identities/{identity_id}"),
            seed=lambda: seed_identity(db, server.project, user_id, email=who.email),
        )


def test_users_api_mfa_events_carry_the_user_never_the_codes(server, http, db):
    who = member(server)
    user_id = who.user["$id"]
    base = f"/users/{user_id}"
    with listening(server, who, ["account"]) as sub:
        codes = ok(http.patch(f"{base}/mfa/recovery-codes"))["recoveryCodes"]
        data = received(
            sub, user_names(user_id, "create", "mfa"), account_channels(user_id, "create"), visible(ok(http.get(base)))
        )
        assert not any(code in str(data) for code in codes)
        codes = ok(http.put(f"{base}/mfa/recovery-codes"))["recoveryCodes"]
        data = received(
            sub, user_names(user_id, "update", "mfa"), account_channels(user_id, "update"), visible(ok(http.get(base)))
        )
        assert not any(code in str(data) for code in codes)
        seed_authenticator(db, server.project, user_id, verified=True)
        assert http.delete(f"{base}/mfa/authenticators/totp").status_code == 204
        # Nothing to name: the payload is empty, as Appwrite's.
        received(sub, user_names(user_id, "delete", "mfa"), account_channels(user_id, "delete"), {})


def test_deleting_one_of_two_sessions_reaches_the_other(server, http):
    who = member(server)
    user_id = who.user["$id"]
    gone, _ = sign_in(server, who.email)
    with listening(server, who, ["account"]) as sub:
        assert http.delete(f"/users/{user_id}/sessions/{gone['$id']}").status_code == 204
        heard(sub, user_id, "sessions", gone["$id"], "delete", {**gone, "current": False})


# -- users, through the Account API ---------------------------------------------------------------


def test_account_updates(server):
    who = member(server)
    user_id = who.user["$id"]
    password = who.password
    with listening(server, who, ["account"]) as sub, as_member(server, who) as http:
        for path, body, attribute in [
            ("/account/name", {"name": "Grace"}, "name"),
            ("/account/email", {"email": unique_email(), "password": password}, "email"),
            ("/account/phone", {"phone": unique_phone(), "password": password}, "phone"),
            ("/account/prefs", {"prefs": {"lang": "fr"}}, "prefs"),
            ("/account/password", {"password": "a-new-password-9", "oldPassword": password}, "password"),
        ]:
            response = ok(http.patch(path, json=body))
            received(sub, user_names(user_id, "update", attribute), account_channels(user_id, "update"), response)


def test_account_sessions(server):
    who = member(server)
    user_id = who.user["$id"]
    with listening(server, who, ["account"]) as sub:
        created = as_guest(server, "POST", "/account/sessions/email", {"email": who.email, "password": PASSWORD})
        heard(sub, user_id, "sessions", created["$id"], "create", created)
        with as_member(server, who) as http:
            extended = ok(http.patch("/account/sessions/current"))
            heard(sub, user_id, "sessions", who.session_id, "update", extended)
            before = ok(http.get(f"/account/sessions/{created['$id']}"))
            assert http.delete(f"/account/sessions/{created['$id']}").status_code == 204
            heard(sub, user_id, "sessions", created["$id"], "delete", before)


def test_signing_out_names_the_callers_session_as_the_current_one(server):
    """From a second session, DELETE …/current names the caller's session with ``current: true``."""
    who = member(server)
    user_id = who.user["$id"]
    with listening(server, who, ["account"]) as sub:
        created, second = sign_in(server, who.email)
        assert created["current"] is True
        heard(sub, user_id, "sessions", created["$id"], "create", created)
        with with_session(server, second) as http:
            assert http.delete("/account/sessions/current").status_code == 204
        heard(sub, user_id, "sessions", created["$id"], "delete", created)


def test_token_sign_ins(server, http, smtp):
    """Tokens (server-made, magic URL, e-mail OTP) and the sessions they are exchanged for."""
    who = member(server)
    user_id = who.user["$id"]
    channels = account_channels(user_id)

    def token_created(token: dict) -> None:
        received(sub, nested_names("users", user_id, "tokens", token["$id"], "create"), channels, visible(token))

    def exchanged(method: str, path: str, secret: str) -> None:
        session = as_guest(server, method, path, {"userId": user_id, "secret": secret})
        received(sub, nested_names("users", user_id, "sessions", session["$id"], "create"), channels, session)

    with listening(server, who, ["account"]) as sub:
        token = ok(http.post(f"/users/{user_id}/tokens"), 201)
        token_created(token)
        exchanged("POST", "/account/sessions/token", token["secret"])

        by_link = {"userId": ID.unique(), "email": who.email, "url": APP}
        token_created(as_guest(server, "POST", "/account/tokens/magic-url", by_link))
        exchanged("PUT", "/account/sessions/magic-url", link_params(smtp.mailbox.wait_for(who.email))["secret"])
        # The pre-1.5 name of the magic-URL route announces the same.
        token_created(as_guest(server, "POST", "/account/sessions/magic-url", by_link))
        smtp.mailbox.wait_for(who.email)

        token_created(as_guest(server, "POST", "/account/tokens/email", {"userId": ID.unique(), "email": who.email}))
        exchanged("POST", "/account/sessions/token", one_time_code(smtp.mailbox.wait_for(who.email)))


def test_recovery_and_verification_tokens(server, smtp, http):
    who = member(server)
    user_id = who.user["$id"]
    with listening(server, who, ["account"]) as sub, as_member(server, who) as mine:
        created = as_guest(server, "POST", "/account/recovery", {"email": who.email, "url": APP})
        assert created["secret"] == ""
        heard(sub, user_id, "recovery", created["$id"], "create", created)
        params = link_params(smtp.mailbox.wait_for(who.email))
        body = {"userId": user_id, "secret": params["secret"], "password": "recovered-password-4"}
        done = as_guest(server, "PUT", "/account/recovery", body, 200)
        heard(sub, user_id, "recovery", done["$id"], "update", done)

        for create_path, confirm_path, body in [
            ("/account/verification", "/account/verification", {"url": APP}),
            ("/account/verifications/email/otp", "/account/verifications/email/otp", {}),
        ]:
            # Unverified (by the Users API, which announces it too): recovery verified the e-mail.
            user = ok(http.patch(f"/users/{user_id}/verification", json={"emailVerification": False}))
            received(sub, user_names(user_id, "update", "verification"), account_channels(user_id, "update"), user)
            created = ok(mine.post(create_path, json=body), 201)
            heard(sub, user_id, "verification", created["$id"], "create", created)
            mail = smtp.mailbox.wait_for(who.email)
            secret = link_params(mail)["secret"] if body else one_time_code(mail)
            done = ok(mine.put(confirm_path, json={"userId": user_id, "secret": secret}))
            heard(sub, user_id, "verification", done["$id"], "update", done)


def test_account_push_targets_and_identities(server, db):
    who = member(server)
    user_id = who.user["$id"]
    with listening(server, who, ["account"]) as sub, as_member(server, who) as http:
        _target_and_identity_events(
            sub,
            user_id,
            create=lambda: http.post(
                "/account/targets/push", json={"targetId": ID.unique(), "identifier": "fcm-token"}
            ),
            update=lambda target_id: http.put(f"/account/targets/{target_id}/push", json={"identifier": "fcm-token-2"}),
            delete=lambda target_id: http.delete(f"/account/targets/{target_id}/push"),
            identities=lambda: http.get("/account/identities"),
            delete_identity=lambda identity_id: http.delete(f"/account/identities/{identity_id}"),
            seed=lambda: seed_identity(db, server.project, user_id, email=who.email),
        )


def test_account_mfa_and_challenges(server):
    """The authenticator's secret and the recovery codes never travel: those events carry the account."""
    who = member(server)
    user_id = who.user["$id"]
    mfa = user_names(user_id, "update", "mfa"), account_channels(user_id, "update")
    with listening(server, who, ["account"]) as sub, as_member(server, who) as http:
        created = ok(http.post("/account/mfa/authenticators/totp"))
        data = received(sub, *mfa, ok(http.get("/account")))
        assert created["secret"] not in str(data)
        totp = pyotp.TOTP(created["secret"])
        verified = ok(http.put("/account/mfa/authenticators/totp", json={"otp": totp.now()}))
        received(sub, *mfa, verified)
        codes = ok(http.post("/account/mfa/recovery-codes"), 201)["recoveryCodes"]
        data = received(sub, *mfa, ok(http.get("/account")))
        assert not any(code in str(data) for code in codes)
        enabled = ok(http.patch("/account/mfa", json={"mfa": True}))
        received(sub, *mfa, enabled)

        for path in ("/account/mfa/challenge", "/account/mfa/challenges"):
            challenge = ok(http.post(path, json={"factor": "totp"}), 201)
            heard(sub, user_id, "challenges", challenge["$id"], "create", challenge)
        session = ok(http.put("/account/mfa/challenges", json={"challengeId": challenge["$id"], "otp": totp.now()}))
        assert session["$id"] == who.session_id
        heard(sub, user_id, "sessions", who.session_id, "create", session)

        regenerated = ok(http.patch("/account/mfa/recovery-codes"))["recoveryCodes"]
        data = received(sub, *mfa, ok(http.get("/account")))
        assert not any(code in str(data) for code in regenerated)
        disabled = ok(http.patch("/account/mfa", json={"mfa": False}))
        received(sub, *mfa, disabled)
        assert http.delete("/account/mfa/authenticators/totp").status_code == 204
        received(sub, user_names(user_id, "delete", "mfa"), account_channels(user_id, "delete"), {})


# -- teams and memberships ------------------------------------------------------------------------


def test_team_events_reach_its_members(server):
    owner = member(server, name="Owner")
    team_id = "team" + uuid.uuid4().hex[:16]
    with listening(server, owner, ["teams"]) as sub, as_member(server, owner) as http:
        # The creator is not a member until the team exists: its connection is checked again.
        team = ok(http.post("/teams", json={"teamId": team_id, "name": "Crew"}), 201)
        channels = ["teams", f"teams.{team_id}"]
        received(
            sub, user_like("teams", team_id, "create"), [*channels, "teams.create", f"teams.{team_id}.create"], team
        )
        renamed = ok(http.put(f"/teams/{team_id}", json={"name": "Crew 2"}))
        received(
            sub, user_like("teams", team_id, "update"), [*channels, "teams.update", f"teams.{team_id}.update"], renamed
        )
        prefs = {"colour": "red", "teamId": "another-team", "$id": "another-team"}
        assert ok(http.put(f"/teams/{team_id}/prefs", json={"prefs": prefs})) == prefs
        received(
            sub,
            user_like("teams", team_id, "update", "prefs"),
            [*channels, "teams.update", f"teams.{team_id}.update"],
            prefs,
        )


def test_team_events_do_not_reach_others(server):
    owner, team_id = owned_team(server)
    outsider = member(server)
    with listening(server, outsider, ["teams", "memberships"]) as sub:
        teams_as(server, owner).update_name(team_id, "Private")
        teams_as_key(server).create_membership(team_id, ["player"], user_id=member(server).user["$id"])
        sub.quiet()


def test_membership_events(server, smtp, http):
    owner, team_id = owned_team(server)

    def expected(membership: dict, action: str, attribute: str = "") -> tuple[list[str], list[str], dict]:
        membership_id = membership["$id"]
        channels = ["memberships", f"memberships.{membership_id}"]
        channels += [f"memberships.{action}", f"memberships.{membership_id}.{action}"]
        return nested_names("teams", team_id, "memberships", membership_id, action, attribute), channels, membership

    with listening(server, owner, ["memberships"]) as sub:
        joined = member(server)
        added = ok(
            http.post(f"/teams/{team_id}/memberships", json={"userId": joined.user["$id"], "roles": ["player"]}), 201
        )
        received(sub, *expected(added, "create"))
        changed = ok(http.patch(f"/teams/{team_id}/memberships/{added['$id']}", json={"roles": ["coach"]}))
        received(sub, *expected(changed, "update"))

        email = unique_email()
        body = {"email": email, "roles": ["player"], "url": INVITE_URL}
        with as_member(server, owner) as mine:  # a key's invitation is confirmed at once
            invited = ok(mine.post(f"/teams/{team_id}/memberships", json=body), 201)
        assert invited["confirm"] is False
        received(sub, *expected(invited, "create"))
        params = link_params(smtp.mailbox.wait_for(email))
        with guest(server) as anonymous:
            accepted = ok(
                anonymous.patch(
                    f"/teams/{team_id}/memberships/{params['membershipId']}/status",
                    json={"userId": params["userId"], "secret": params["secret"]},
                )
            )
        received(sub, *expected(accepted, "update", "status"))

        before = ok(http.get(f"/teams/{team_id}/memberships/{added['$id']}"))
        assert http.delete(f"/teams/{team_id}/memberships/{added['$id']}").status_code == 204
        received(sub, *expected(before, "delete"))


def test_an_accepted_invitation_reaches_the_new_member_at_once(server, smtp):
    """The invitee's open connection is checked again: it receives its own acceptance."""
    owner, team_id = owned_team(server)
    invitee = member(server)
    with listening(server, invitee, ["memberships"]) as sub:
        invited = teams_as(server, owner).create_membership(team_id, ["player"], email=invitee.email, url=INVITE_URL)
        params = link_params(smtp.mailbox.wait_for(invitee.email))
        with as_member(server, invitee) as http:
            accepted = ok(
                http.patch(
                    f"/teams/{team_id}/memberships/{invited.id}/status",
                    json={"userId": params["userId"], "secret": params["secret"]},
                )
            )
        data = sub.event()
        assert data["events"][0] == f"teams.{team_id}.memberships.{invited.id}.update.status"
        assert data["payload"] == accepted


# -- files ------------------------------------------------------------------------------------------


def _file_channels(bucket_id: str, file_id: str, action: str) -> list[str]:
    channels = ["files", f"buckets.{bucket_id}.files", f"buckets.{bucket_id}.files.{file_id}"]
    return channels + [f"{channel}.{action}" for channel in channels]


def _file_event(bucket_id: str, file_id: str, action: str, payload: dict) -> tuple[list[str], list[str], dict]:
    return (
        nested_names("buckets", bucket_id, "files", file_id, action),
        _file_channels(bucket_id, file_id, action),
        payload,
    )


def test_file_events_reach_the_buckets_readers(server, http):
    bucket_id = new_bucket(server, permissions=['read("any")', 'create("any")'])
    with listening(server, None, ["files"]) as sub:
        file_id = ID.unique()
        created = ok(http.post(f"/storage/buckets/{bucket_id}/files", **multipart(file_id, "a.png", png())), 201)
        file_id = created["$id"]
        received(sub, *_file_event(bucket_id, file_id, "create", created))
        renamed = ok(http.put(f"/storage/buckets/{bucket_id}/files/{file_id}", json={"name": "b.png"}))
        received(sub, *_file_event(bucket_id, file_id, "update", renamed))
        assert http.delete(f"/storage/buckets/{bucket_id}/files/{file_id}").status_code == 204
        received(sub, *_file_event(bucket_id, file_id, "delete", renamed))


def test_every_chunk_of_an_upload_announces_the_file(server, http):
    bucket_id = new_bucket(server, permissions=['read("users")'])
    reader = member(server)
    data = png() + bytes(5 * 1024 * 1024)  # two chunks: 5 MiB and the rest
    chunk = 5 * 1024 * 1024
    file_id = "f" + uuid.uuid4().hex[:16]
    with listening(server, reader, [f"buckets.{bucket_id}.files"]) as sub:
        first = ok(send_chunk(http, bucket_id, file_id, "big.bin", data[:chunk], 0, total=len(data)), 201)
        assert first["chunksUploaded"] == 1
        received(sub, *_file_event(bucket_id, file_id, "create", first))
        last = ok(send_chunk(http, bucket_id, file_id, "big.bin", data[chunk:], chunk, total=len(data)), 201)
        assert last["chunksUploaded"] == 2
        received(sub, *_file_event(bucket_id, file_id, "create", last))


def test_file_security_events_reach_the_files_own_readers_only(server, http):
    """A bucket with fileSecurity and no read role of its own: a file's events reach the roles its
    own permissions let read it (not ``update``/``delete`` ones), nobody else."""
    bucket_id = new_bucket(server, permissions=[], file_security=True)
    reader, writer, stranger = member(server), member(server), member(server)
    permissions = [f'read("user:{reader.user["$id"]}")', f'update("user:{writer.user["$id"]}")']
    with (
        listening(server, reader, ["files"]) as allowed,
        listening(server, writer, ["files"]) as updater,
        listening(server, stranger, ["files"]) as other,
    ):
        file_id = ID.unique()
        created = ok(
            http.post(f"/storage/buckets/{bucket_id}/files", **multipart(file_id, "a.png", png(), permissions)), 201
        )
        received(allowed, *_file_event(bucket_id, created["$id"], "create", created))
        # Granting the stranger read access makes the update reach it too.
        widened = [*permissions, f'read("user:{stranger.user["$id"]}")']
        updated = ok(http.put(f"/storage/buckets/{bucket_id}/files/{created['$id']}", json={"permissions": widened}))
        received(allowed, *_file_event(bucket_id, created["$id"], "update", updated))
        received(other, *_file_event(bucket_id, created["$id"], "update", updated))
        updater.quiet()


def test_bucket_events_are_not_delivered(server):
    with listening(server, None, ["files"]) as sub:
        bucket_id = new_bucket(server, permissions=['read("any")'])
        storage_as_key(server).update_bucket(bucket_id, "Renamed", permissions=['read("any")'])
        storage_as_key(server).delete_bucket(bucket_id)
        sub.quiet()


# -- OAuth2 sign-in (a nib with the mock provider) ------------------------------------------------

oauth_nib = nib_fixture()


def _mock_sign_in(nib, project: str, **params: str) -> Browser:
    browser = Browser(nib)
    browser.start("mock", project, **params)
    return browser


def test_oauth2_sign_ins_announce_their_session_or_token(oauth_nib):
    """The redirect's answer is a 301: the event carries the session as the Account API renders
    it, or (token flow) the token, never its secret."""
    nib = oauth_nib
    project = new_project(nib)
    set_provider(nib, project, "mock", "1", "123456")
    first = _mock_sign_in(nib, project, success=OK)
    with signed_in(nib, project, first.session_cookie(project)) as me:
        user_id = ok(me.get("/account"))["$id"]
    with Subscriber(nib, ["account"], project=project, session=first.session_cookie(project)) as sub:
        second = _mock_sign_in(nib, project, success=OK)
        with signed_in(nib, project, second.session_cookie(project)) as me:
            session = ok(me.get("/account/sessions/current"))
        assert session["provider"] == "mock" and session["providerAccessToken"] == "123456"
        heard(sub, user_id, "sessions", session["$id"], "create", session)

        landed = _mock_sign_in(nib, project, flow="tokens", success=OK).last.headers["location"]
        secret = query(landed)["secret"]
        data = sub.event()
        token_id = data["payload"]["$id"]
        assert data["events"] == nested_names("users", user_id, "tokens", token_id, "create")
        assert data["channels"] == account_channels(user_id)
        assert set(data["payload"]) == {"$id", "$createdAt", "userId", "expire", "phrase"}
        assert (data["payload"]["userId"], data["payload"]["phrase"]) == (user_id, "")
        assert TIMESTAMP.fullmatch(data["payload"]["expire"]) and secret not in str(data)
        with guest(nib, **{"X-Appwrite-Project": project}) as anonymous:
            exchanged = ok(anonymous.post("/account/sessions/token", json={"userId": user_id, "secret": secret}), 201)
        heard(sub, user_id, "sessions", exchanged["$id"], "create", exchanged)
