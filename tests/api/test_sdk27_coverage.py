"""Every method of the newest Python SDK (appwrite 27.0.0) in Account, Users, Teams, Storage and
Tokens reaches a route of nib: called with plausible arguments built from its signature, it never
gets 404 ``general_route_not_found`` (any other answer, error or success, means the route exists).
The exception is the methods only Appwrite's cloud serves, which a self-hosted Appwrite answers
with exactly that 404, as nib does.

Account methods run as a signed-in user, the rest with an API key; their arguments are made up,
so most fail a business rule (unknown IDs, wrong secrets), which is fine here. Outcomes are
recorded at the HTTP level (``RecordingClient``): a method counts only if a request went out."""

from __future__ import annotations

import inspect
import typing
import uuid
from enum import Enum

import pytest
from account_support import member
from appwrite.client import Client
from appwrite.exception import AppwriteException
from appwrite.input_file import InputFile
from appwrite.services.account import Account
from appwrite.services.storage import Storage
from appwrite.services.teams import Teams
from appwrite.services.tokens import Tokens
from appwrite.services.users import Users
from storage_support import png
from users_support import unique_email, unique_phone

SERVICES = (Account, Users, Teams, Storage, Tokens)

# Served only by Appwrite's cloud; a self-hosted Appwrite has no such routes (404
# general_route_not_found): OAuth2 consents (Appwrite's OAuth2 authorization server) and team
# app installations (its Apps platform).
CLOUD_ONLY = frozenset(
    {
        "Account.list_consents",
        "Account.get_consent",
        "Account.delete_consent",
        "Account.list_consent_tokens",
        "Account.get_consent_token",
        "Account.delete_consent_token",
        "Teams.list_installations",
        "Teams.create_installation",
        "Teams.get_installation",
        "Teams.update_installation",
        "Teams.delete_installation",
    }
)
ROUTE_NOT_FOUND = "general_route_not_found"


class RecordingClient(Client):
    """The SDK's client, keeping the (status, error type) of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: list[tuple[int, str | None]] = []

    def call(self, method, path="", headers=None, params=None, response_type="json"):
        try:
            result = super().call(method, path, headers, params, response_type)
        except AppwriteException as error:
            self.outcomes.append((error.code, error.type))
            raise
        self.outcomes.append((200, None))
        return result


def _methods() -> list[tuple[str, type, str]]:
    """(``Service.method``, service class, method name) of every public method."""
    return [
        (f"{service.__name__}.{name}", service, name)
        for service in SERVICES
        for name, _ in inspect.getmembers(service, inspect.isfunction)
        if not name.startswith("_")
    ]


def _argument(name: str, annotation) -> object:
    """A plausible value for a required parameter, from its name and type."""
    if name == "file":
        return InputFile.from_bytes(png(), "coverage.png")
    if inspect.isclass(annotation) and issubclass(annotation, Enum):
        return next(iter(annotation))
    origin = typing.get_origin(annotation)
    if annotation is bool:
        return True
    if annotation is float:
        return 1
    if origin is list or annotation is list:
        return ["member"]
    if origin is dict or annotation is dict:
        return {}
    if name.endswith("_id"):
        return f"cov{uuid.uuid4().hex[:16]}"
    special = {
        "email": unique_email("cov"),
        "phone": unique_phone(),
        "number": unique_phone(),
        "identifier": unique_email("cov"),
        "password": "correct-horse-1",
        "url": "http://localhost/coverage",
        "otp": "123456",
        "secret": "0" * 64,
        "id_token": "header.payload.signature",
    }
    return special.get(name, "coverage")


def _call(client: RecordingClient, service: type, name: str) -> list[tuple[int, str | None]]:
    """Call ``service.name`` with made-up required arguments; the outcomes of its requests.
    Deprecated aliases are called too (older apps still use them), through the function under
    the SDK's decorator, which would force its warning out."""
    function = inspect.unwrap(getattr(service, name))
    hints = typing.get_type_hints(function)
    arguments = {
        parameter.name: _argument(parameter.name, hints.get(parameter.name))
        for parameter in list(inspect.signature(function).parameters.values())[1:]  # after self
        if parameter.default is inspect.Parameter.empty
    }
    client.outcomes.clear()
    try:
        function(service(client), **arguments)
    except AppwriteException:
        pass  # a refusal is an answer: recorded by the client when it came from the server
    return list(client.outcomes)


_ACCOUNT_ENDERS = {"Account.update_status", "Account.delete_sessions", "Account.delete_session"}


@pytest.fixture(scope="module")
def outcomes(server) -> dict[str, list[tuple[int, str | None]]]:
    """Each method's outcomes: Account methods signed in, the rest with the API key."""
    signed_in = member(server)
    as_user = RecordingClient().set_endpoint(server.endpoint).set_project(server.project)
    as_user.set_session(signed_in.session)
    as_key = RecordingClient().set_endpoint(server.endpoint).set_project(server.project).set_key(server.key)
    seen = {}
    # Account's state-changing methods (status, sessions) last, so earlier calls run signed in.
    for label, service, name in sorted(_methods(), key=lambda item: item[0] in _ACCOUNT_ENDERS):
        seen[label] = _call(as_user if service is Account else as_key, service, name)
    return seen


def test_every_self_hostable_method_reaches_a_route(outcomes):
    unsent = sorted(label for label, seen in outcomes.items() if not seen)
    fell_through = sorted(
        label
        for label, seen in outcomes.items()
        if label not in CLOUD_ONLY and any(kind == ROUTE_NOT_FOUND for _, kind in seen)
    )
    assert not unsent, f"the SDK sent no request for: {', '.join(unsent)}"
    assert not fell_through, f"{len(fell_through)} methods fell through to {ROUTE_NOT_FOUND}: {', '.join(fell_through)}"


def test_cloud_only_methods_answer_route_not_found_as_self_hosted_appwrite(outcomes):
    assert CLOUD_ONLY <= set(outcomes), "a cloud-only method left the SDK"
    answered = sorted(label for label in CLOUD_ONLY if outcomes[label] != [(404, ROUTE_NOT_FOUND)])
    assert not answered, f"cloud-only methods not answered 404 {ROUTE_NOT_FOUND}: {', '.join(answered)}"
