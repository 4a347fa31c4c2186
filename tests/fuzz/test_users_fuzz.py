"""Bounded fuzzing of every Users route with malformed input.

For each Users route (``/v1/users…`` in ``nib.app.ROUTERS``, iterated, so new routes are fuzzed
automatically) hypothesis builds requests that MUST fail validation:

* the path points at the seeded user (and its target) while one or more body/query params are
  broken, or
* at least one path param is garbage (invalid UID, ``$``, unicode, 37+ chars, encoded ``..`` or
  ``/``, or a well-formed ID that does not exist).

Broken values are wrong JSON types, nulls/missing for required params, huge/empty/unicode/control
strings, over-long strings, PHP-array keys, overflowing numbers, invalid JSON bodies,
form-encoded bodies and ``queries[]`` junk. Whether a value is invalid is decided by Appwrite's
validator rules written out here (not by nib's validators), after modelling how the chosen
encoding transforms it (a form body turns ``123`` into the string ``"123"``).

Every response must be 4xx with an Appwrite error body, and the seeded user's data and the
users/targets/sessions/tokens row counts must be unchanged after each route's run.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote, urlencode

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

from nib.app import ROUTERS
from nib.auth import tables as auth_tables

ROUTES = [route for router in ROUTERS for route in router.routes if route.path.startswith("/v1/users")]
MISSING = object()

FUZZ_SETTINGS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,  # reproducible in CI
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


class RawJSON:
    """A literal JSON number text that overflows a double (PHP decodes it as INF)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJSON({self.text!r})"


OVERFLOW = [RawJSON("1e400"), RawJSON("-1e400"), RawJSON("1" + "0" * 400 + ".0")]


# -- Appwrite's validity rules, written independently of nib's validators ------------------------

_UID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,35}")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")  # PHP PCRE \d is ASCII-only
_LABEL = re.compile(r"[A-Za-z0-9]{1,36}")
_PHP_NUMERIC = re.compile(r"[ \t\n\r\v\f]*[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?[ \t\n\r\v\f]*")


def _is_uid(v: Any) -> bool:
    return isinstance(v, str) and _UID.fullmatch(v) is not None


def bad_uid(v: Any) -> bool:
    return not _is_uid(v)


def bad_custom_id(v: Any) -> bool:
    return v != "unique()" and not _is_uid(v)


def bad_text(maximum: int, minimum: int = 1) -> Callable[[Any], bool]:
    return lambda v: not isinstance(v, str) or not minimum <= len(v) <= maximum


def bad_email(allow_empty: bool = False) -> Callable[[Any], bool]:
    """Definitely not a FILTER_VALIDATE_EMAIL address (conservative: 'maybe valid' is not bad)."""

    def check(v: Any) -> bool:
        if not isinstance(v, str):
            return True
        if v == "":
            return not allow_empty
        if len(v) > 320 or "@" not in v or v.startswith("@") or v.endswith("@"):
            return True
        return any(ord(c) <= 32 or ord(c) >= 127 for c in v)

    return check


def bad_phone(allow_empty: bool = False) -> Callable[[Any], bool]:
    # Appwrite's preg_match has no D modifier, so one trailing "\n" is not definitely invalid.
    return lambda v: (
        not (allow_empty and v == "") and not (isinstance(v, str) and _PHONE.fullmatch(v.removesuffix("\n")))
    )


def bad_password(allow_empty: bool = False) -> Callable[[Any], bool]:
    return lambda v: not (allow_empty and v == "") and not (isinstance(v, str) and 8 <= len(v.encode()) <= 256)


def bad_strict_bool(v: Any) -> bool:
    return not isinstance(v, bool)


def bad_loose_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if type(v) is int and v in (0, 1):
        return False
    return not (isinstance(v, str) and v in ("true", "false", "1", "0", "True", "False"))


def bad_assoc(v: Any) -> bool:
    return not isinstance(v, dict) or _php_json_len(v) > 65535


def _php_json_len(v: Any) -> int:
    try:
        text = json.dumps(v, ensure_ascii=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return 0
    return len(text) + text.count("/")


def bad_labels(v: Any) -> bool:
    if not isinstance(v, list) or len(v) > 1000:
        return True
    return not all(isinstance(item, str) and _LABEL.fullmatch(item) for item in v)


def bad_integer(v: Any) -> bool:
    return type(v) is not int


def bad_range(lo: int, hi: int) -> Callable[[Any], bool]:
    """Definitely outside Range(lo, hi); PHP-numeric forms whose fate is unclear count as not bad."""

    def check(v: Any) -> bool:
        if isinstance(v, bool) or isinstance(v, (list, dict, RawJSON)):
            return True
        if isinstance(v, int):
            return not lo <= v <= hi
        if isinstance(v, float):
            return not (math.isfinite(v) and v.is_integer() and lo <= v <= hi)
        if isinstance(v, str):
            if re.fullmatch(r"-?[0-9]+", v):
                return not lo <= int(v) <= hi
            if _PHP_NUMERIC.fullmatch(v):
                try:
                    number = float(v)
                except ValueError:
                    return True
                return not (number.is_integer() and lo <= number <= hi)
            return True
        return True

    return check


def bad_whitelist(values: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda v: not (isinstance(v, str) and v in values)


# Query strings that are invalid on every list endpoint (bad syntax or per-query checks).
BAD_QUERY_STRINGS = [
    "",
    "not json",
    "{",
    "123",
    '"limit"',
    "[]",
    "null",
    '{"method":"bogus","values":[1]}',
    '{"method":"select","values":["$id"]}',
    '{"method":"equal","attribute":"noSuchAttribute","values":["x"]}',
    '{"method":"equal","attribute":"$id","values":[]}',
    '{"method":"limit","values":[-1]}',
    '{"method":"limit","values":[0]}',
    '{"method":"limit","values":["ten"]}',
    '{"method":"offset","values":[-1]}',
    '{"method":"cursorAfter","values":["$bad"]}',
    '{"method":"cursorAfter","values":["' + "a" * 40 + '"]}',
    '{"method":"between","attribute":"$createdAt","values":["2020-01-01"]}',
    '{"method":"or","values":[{"method":"equal","attribute":"$id","values":["a"]}]}',
    '{"method":"notContains","attribute":"$id","values":["a"]}',
    '{"method":"limit","values":[NaN]}',
    '{"method":"\\u0000","values":[]}',
]
VALID_QUERY = '{"method":"limit","values":[1]}'


def bad_queries(v: Any) -> bool:
    if not isinstance(v, list):
        return True  # a string or a PHP dict (queries[x]=...) are not arrays of query strings
    return any(not isinstance(q, str) or q in BAD_QUERY_STRINGS or not q.lstrip().startswith("{") for q in v)


@dataclass
class Kind:
    bad: Callable[[Any], bool]
    valid: Any
    near_misses: list  # hand-picked invalid values for this kind


LONG = "x" * 300
HUGE = "y" * 70000


def param_kind(path: str, name: str) -> Kind | None:
    """The validity rule of a body/query param, as Appwrite's Users routes declare it."""
    update = path.startswith("/v1/users/{userId}/") and path.count("/") == 4  # PATCH /users/{id}/<field>
    if name in ("userId", "targetId"):
        return Kind(bad_custom_id, "unique()", ["", "_x", "-x", ".x", "$x", "a" * 37, "ünï", "a b", "a/b", "unique( )"])
    if name == "email":
        allow = update and path.endswith("/email")
        return Kind(bad_email(allow), "valid@example.com", ["plain", "a@", "@b.co", "a b@c.de", "ü@ü.de", "a@b.co\n"])
    if name in ("phone", "number"):
        allow = update and path.endswith("/phone")
        return Kind(
            bad_phone(allow),
            "+15550001111",
            ["12345678", "+0123456789", "+1", "+1234567890123456", "+1 555 0001", "+1٥٥٥٠٠٠١١١١"],
        )
    if name == "password":
        allow = update and path.endswith("/password")
        return Kind(bad_password(allow), "password123", ["short", "1234567", "p" * 257, "🍰" * 65])
    if name == "name":
        minimum = 0 if path.endswith("/{userId}/name") else 1
        return Kind(bad_text(128, minimum), "Fuzz", ["n" * 129, "🍰" * 129])
    if name in ("passwordSalt", "passwordSaltSeparator", "passwordSignerKey"):
        return Kind(bad_text(128), "c2FsdA==", ["", "s" * 129])
    if name in ("passwordCpu", "passwordMemory", "passwordParallel", "passwordLength"):
        return Kind(bad_integer, 8, ["16", "8", 1.5, 2.0, True])
    if name == "passwordVersion":
        return Kind(
            bad_whitelist(
                (
                    "sha1",
                    "sha224",
                    "sha256",
                    "sha384",
                    "sha512/224",
                    "sha512/256",
                    "sha512",
                    "sha3-224",
                    "sha3-256",
                    "sha3-384",
                    "sha3-512",
                )
            ),
            "sha512",
            ["SHA512", "md5", ""],
        )
    if name in ("status", "impersonator", "total"):
        return Kind(bad_loose_bool, False, ["yes", "no", 2, -1, "TRUE", 1.0, 0.0, "", "on"])
    if name in ("emailVerification", "phoneVerification", "mfa"):
        return Kind(bad_strict_bool, True, ["true", "false", 1, 0, "1", "", "yes"])
    if name == "labels":
        return Kind(
            bad_labels, ["fuzz"], ["label", ["invalid-label"], ["a" * 37], [["nested"]], [""], [1], ["ü"], ["a"] * 1001]
        )
    if name == "prefs":
        return Kind(
            bad_assoc, {"k": "v"}, ["{}", [], [1, 2], "bad-string", 0, True, {"big": "-" * 70000}, {"c": "🍰" * 6000}]
        )
    if name == "length":
        return Kind(bad_range(4, 128), 6, [3, 129, 0, -1, "3", "129", "six", 4.5, 1e300, "1e400", "٦"])
    if name == "expire":
        return Kind(bad_range(60, 31536000), 900, [59, 31536001, -60, "59", "never", 60.5, 2**63, 2**80, "٩٠٠"])
    if name == "sessionId":  # POST /users/{userId}/jwts: a session ID or "recent"
        return Kind(bad_uid, "recent", ["", "$s", "s" * 37, "_s", "ü"])
    if name == "duration":
        return Kind(bad_range(0, 3600), 900, [-1, 3601, "3601", "fifteen", 1.5, 2**63, "٩٠٠"])
    if name == "providerType":
        return Kind(bad_whitelist(("email", "sms", "push")), "push", ["EMAIL", "fax", "", "push "])
    if name == "identifier":
        return Kind(bad_text(255), "fuzz-identifier", ["", "i" * 256])
    if name == "providerId":
        return Kind(bad_uid, "provider1", ["", "$p", "p" * 37, "_p", "ü"])
    if name == "search":
        if path == "/v1/users/identities":
            return Kind(lambda v: v != "" and v is not MISSING, "", ["x", "a" * 300])
        return Kind(bad_text(256, 0), "", ["s" * 257])
    if name == "queries":
        return Kind(bad_queries, [VALID_QUERY], [[q] for q in BAD_QUERY_STRINGS] + ["notalist", [VALID_QUERY, "junk"]])
    return None


def fallback_kind(route, param) -> Kind:
    """A param this file does not know yet (a new route): ask the route's own validator."""

    def bad(value: Any) -> bool:
        try:
            param.validator(value)
        except Exception:
            return True
        return False

    return Kind(bad, MISSING, [])


# -- generic junk -------------------------------------------------------------------------------

SPECIAL_STRINGS = [
    "",
    " ",
    "\x00",
    "\n",
    "\t\r",
    "\x1b[31m",
    "\u202e",
    "\ufeff",
    "🍰" * 40,
    "ß" * 200,
    "null",
    "true",
    "false",
    "0",
    "1",
    "-1",
    "{}",
    "[]",
    "unique()",
    "$id",
    "../..",
    "%2F",
    "%00",
    "<script>",
    "' OR 1=1 --",
    "a" * 37,
    LONG,
    HUGE,
]


def pick(values: list) -> st.SearchStrategy:
    """Like sampled_from, without hypothesis building a (huge) repr of the values."""
    return st.integers(0, len(values) - 1).map(values.__getitem__)


text_no_surrogates = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text_no_surrogates,
    pick(SPECIAL_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text_no_surrogates, children, max_size=4),
    max_leaves=8,
)


def junk_for(kind: Kind) -> st.SearchStrategy:
    near = pick(kind.near_misses) if kind.near_misses else st.nothing()
    return st.one_of(near, near, json_values, pick(OVERFLOW))


# -- encodings: what the server will see -------------------------------------------------------


def _form_key(key: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9]", "", str(key))
    return "k" + cleaned[:20]


def _form_scalar(value: Any) -> Any:
    if value is None:
        return MISSING
    if isinstance(value, RawJSON):
        return value.text
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)  # nested containers become their JSON text


def formify(value: Any) -> Any:
    """The value a PHP-style form/query parser yields for how we encode ``value``."""
    if isinstance(value, list):
        items = [x for x in (_form_scalar(v) for v in value) if x is not MISSING]
        return items or MISSING
    if isinstance(value, dict):
        items = {}
        for k, v in value.items():
            scalar = _form_scalar(v)
            if scalar is not MISSING:
                items[_form_key(k)] = scalar
        return items or MISSING
    return _form_scalar(value)


def form_pairs(values: dict[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is MISSING:
            continue
        if isinstance(value, list):
            indexed = len(value) % 2 == 0  # both PHP list spellings: a[]=… and a[0]=…
            pairs += [(f"{name}[{i}]" if indexed else f"{name}[]", v) for i, v in enumerate(value)]
        elif isinstance(value, dict):
            pairs += [(f"{name}[{k}]", v) for k, v in value.items()]
        else:
            pairs.append((name, value))
    return pairs


def json_text(value: Any) -> str:
    if isinstance(value, RawJSON):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(str(k)) + ":" + json_text(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    return json.dumps(value)


BAD_JSON_BODIES = ["", "{", "[]", "[1,2]", "null", "42", '"string"', "{'single': 1}", '{"a":}', "\x00", "🍰"]
QUERY_JUNK = ["queries[]=junk", "queries[x][y]=1", "queries[][]=1", "zz[a][]=1", "search[]=x", "userId=x", "a%00=b"]

GARBAGE_IDS = [
    "",
    "$abc",
    "_abc",
    "-abc",
    ".abc",
    "..",
    ".",
    "a" * 37,
    "a" * 1000,
    "ünïcødé",
    "☃",
    "a b",
    "a%b",
    "a/b",
    "../..",
    "..%2F..",
    "%2F",
    "a\x00b",
    "a\nb",
    "doesnotexist",
    "nonexistent-id_0",
    "unique()",
    "null",
    "0",
]


def garbage_value(name: str) -> st.SearchStrategy:
    """A path value that cannot name an existing resource (never a literal route word)."""
    excluded = {"identities", "totp"}
    generated = st.one_of(pick(GARBAGE_IDS), text_no_surrogates, st.text("abcdef0123456789", min_size=1, max_size=36))
    return generated.filter(lambda v: v not in excluded)


def encode_path_value(value: str) -> str:
    # Dots too: clients would otherwise resolve "." and ".." segments before sending.
    return quote(value, safe="").replace(".", "%2E")


# -- seeding and snapshots ----------------------------------------------------------------------


@dataclass
class Seed:
    user_id: str
    target_id: str
    session_id: str


@pytest.fixture(scope="module")
def seed(server) -> Seed:
    user_id = "fz" + uuid.uuid4().hex[:16]
    phone = "+1" + str(uuid.uuid4().int)[:10]
    with server.http() as http:
        created = http.post(
            "/users",
            json={
                "userId": user_id,
                "email": f"{user_id}@example.com",
                "phone": phone,
                "password": "password123",
                "name": "Fuzz Seed",
            },
        )
        assert created.status_code == 201, created.text
        assert http.put(f"/users/{user_id}/labels", json={"labels": ["fuzz", "seed"]}).status_code == 200
        assert (
            http.patch(
                f"/users/{user_id}/prefs", json={"prefs": {"theme": "dark", "n": 1, "nested": {"a": [1]}}}
            ).status_code
            == 200
        )
        target = http.post(
            f"/users/{user_id}/targets",
            json={"targetId": "unique()", "providerType": "push", "identifier": f"push-{user_id}", "name": "Fuzz push"},
        )
        assert target.status_code == 201, target.text
        session = http.post(f"/users/{user_id}/sessions")
        assert session.status_code == 201, session.text
        assert http.post(f"/users/{user_id}/tokens", json={}).status_code == 201
        assert http.patch(f"/users/{user_id}/mfa/recovery-codes").status_code in (200, 201)
    return Seed(user_id, target.json()["$id"], session.json()["$id"])


COUNTED = [
    auth_tables.users,
    auth_tables.targets,
    auth_tables.sessions,
    auth_tables.tokens,
    auth_tables.identities,
    auth_tables.authenticators,
    auth_tables.memberships,
]


def snapshot(server, db, seed: Seed) -> dict:
    state: dict[str, Any] = {}
    with server.http() as http:
        for label, path in [
            ("user", f"/users/{seed.user_id}"),
            ("prefs", f"/users/{seed.user_id}/prefs"),
            ("targets", f"/users/{seed.user_id}/targets"),
            ("sessions", f"/users/{seed.user_id}/sessions"),
            ("recovery", f"/users/{seed.user_id}/mfa/recovery-codes"),
            ("factors", f"/users/{seed.user_id}/mfa/factors"),
            ("logs", f"/users/{seed.user_id}/logs"),
        ]:
            response = http.get(path)
            state[label] = (response.status_code, response.json())
    with db.read() as conn:
        for table in COUNTED:
            state[f"rows:{table.name}"] = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    return state


# -- request generation -------------------------------------------------------------------------


def path_names(route) -> list[str]:
    return re.findall(r"\{(\w+)\}", route.path)


def body_params(route) -> list:
    names = set(path_names(route))
    return [p for p in route.params if p.name not in names]


def kinds_of(route) -> dict[str, Kind]:
    return {p.name: param_kind(route.path, p.name) or fallback_kind(route, p) for p in body_params(route)}


@dataclass
class FuzzRequest:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    broken: str  # why it must fail

    def describe(self) -> str:
        body = (self.content or b"")[:500]
        url = self.url if len(self.url) <= 300 else self.url[:300] + "…"
        return f"{self.method} {url} headers={self.headers} body={body!r} ({self.broken})"

    __repr__ = describe


def seeded_path_value(seed: Seed, name: str) -> str:
    return {"userId": seed.user_id, "targetId": seed.target_id, "sessionId": seed.session_id, "type": "totp"}.get(
        name, "doesnotexist"
    )


@st.composite
def requests_for(draw, route_key: str, seed: Seed) -> FuzzRequest:
    route = next(r for r in ROUTES if route_id(r) == route_key)
    params = body_params(route)
    kinds = kinds_of(route)
    names = path_names(route)
    modes = []
    if params:
        modes.append("seeded")
    if names:
        modes.append("garbage")
    mode = draw(st.sampled_from(modes))

    # Path
    garbled: set[str] = set()
    if mode == "garbage":
        garbled = set(draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names), unique=True)))
    segments = {}
    for name in names:
        value = draw(garbage_value(name)) if name in garbled else seeded_path_value(seed, name)
        segments[name] = value
    path = route.path
    for name, value in segments.items():
        path = path.replace("{" + name + "}", encode_path_value(value))
    path = path.removeprefix("/v1")

    # Params: choose what to break (at least one param when the path is valid)
    is_get = route.method in ("GET", "HEAD")
    encoding = "query" if is_get else draw(st.sampled_from(["json", "json", "form", "badjson"]))
    required = [p for p in params if p.required]
    if encoding == "badjson" and not (required or garbled):
        encoding = "json"  # an unparsable body means "no params": only a break with a required param
    to_break = set()
    if params and encoding != "badjson":
        minimum = 1 if mode == "seeded" else 0
        to_break = set(draw(st.lists(st.sampled_from([p.name for p in params]), min_size=minimum, unique=True)))

    values: dict[str, Any] = {}
    for p in params:
        kind = kinds[p.name]
        if p.name in to_break:
            options = [junk_for(kind)]
            if p.required:
                options.append(st.just(MISSING))
                options.append(st.just(None))
            values[p.name] = draw(st.one_of(*options))
        elif kind.valid is MISSING or (not p.required and draw(st.booleans())):
            values[p.name] = MISSING
        else:
            values[p.name] = kind.valid

    # What the server will receive, and check that something is definitely invalid.
    if encoding in ("form", "query"):
        received = {k: (MISSING if v is MISSING else formify(v)) for k, v in values.items()}
    else:
        received = {k: (MISSING if v is None else v) for k, v in values.items()}
    reasons = []
    if encoding == "badjson":
        reasons = [f"unparsable body, required {[p.name for p in required]} missing"] if required else []
    else:
        for p in params:
            value = received[p.name]
            if value is MISSING:
                if p.required:
                    reasons.append(f"{p.name} missing")
            elif kinds[p.name].bad(value):
                reasons.append(f"{p.name}={value!r:.80}")
    if garbled:
        reasons.append("garbage path " + ", ".join(f"{n}={segments[n]!r:.60}" for n in sorted(garbled)))
    assume(reasons)

    headers: dict[str, str] = {}
    content: bytes | None = None
    query_junk = draw(st.lists(st.sampled_from(QUERY_JUNK), max_size=2))
    query = ""
    if encoding == "query":
        pairs = form_pairs({k: v for k, v in received.items()})
        query = urlencode(pairs)
        extra = [j for j in query_junk if j.startswith("zz") or j.startswith("a%00")]
        query = "&".join(x for x in [query, *extra] if x)
    else:
        query = "&".join(query_junk)  # ignored for params on body methods
        if encoding == "json":
            body = {k: v for k, v in values.items() if v is not MISSING}
            if draw(st.booleans()):
                body["zz" + draw(st.sampled_from(["", "[]", "[0]", "[a][b]"]))] = draw(
                    json_values
                )  # unknown keys are ignored
            content = json_text(body).encode()
            headers["Content-Type"] = draw(
                st.sampled_from(["application/json", "application/json; charset=UTF-8", "text/plain"])
            )
        elif encoding == "form":
            pairs = form_pairs({k: v for k, v in received.items()})
            content = urlencode(pairs).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            content = draw(st.sampled_from(BAD_JSON_BODIES)).encode()
            headers["Content-Type"] = "application/json"
    url = path + ("?" + query if query else "")
    return FuzzRequest(route.method, url, headers, content, "; ".join(reasons))


def check_rejected(http, request: FuzzRequest) -> None:
    note(request.describe())
    response = http.request(request.method, request.url, content=request.content, headers=request.headers)
    summary = f"{request.describe()} -> {response.status_code} {response.text[:300]!r}"
    assert 400 <= response.status_code <= 499, summary
    assert response.headers.get("content-type", "").startswith("application/json"), summary
    body = response.json()
    assert isinstance(body, dict), summary
    assert isinstance(body.get("message"), str) and body["message"], summary
    assert body.get("code") == response.status_code, summary
    assert isinstance(body.get("type"), str) and body["type"], summary
    assert isinstance(body.get("version"), str) and body["version"], summary


def route_id(route) -> str:
    return f"{route.method} {route.path}"


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_malformed_requests_are_rejected_without_side_effects(server, db, seed, route):
    if not body_params(route) and not path_names(route):
        pytest.skip("route takes no params: nothing can be malformed")
    before = snapshot(server, db, seed)
    with server.http() as http:

        @FUZZ_SETTINGS
        @given(request=requests_for(route_id(route), seed))
        def fuzz(request: FuzzRequest) -> None:
            check_rejected(http, request)

        fuzz()
    after = snapshot(server, db, seed)
    assert after == before, f"{route_id(route)}: rejected requests changed stored data"


def test_every_users_route_is_fuzzed():
    """New routes are picked up from the router; their params fall back to their own validators."""
    assert len(ROUTES) >= 35
    unknown = [f"{route_id(r)}:{p.name}" for r in ROUTES for p in body_params(r) if param_kind(r.path, p.name) is None]
    assert unknown == [], f"params fuzzed only via their own validator (add rules to param_kind): {unknown}"


# -- targeted regressions found by (or guarding) the fuzzer -------------------------------------

SUFFIXES = ["", "prefs", "sessions", "targets", "mfa%2Frecovery-codes", "logs"]


@pytest.mark.parametrize("route", [r for r in ROUTES if "{userId}" in r.path], ids=route_id)
def test_encoded_slash_in_user_id_is_rejected(server, db, seed, route):
    """A path param containing %2F must be validated as one (invalid) UID (Appwrite 1.5 answers
    400), never decoded into extra path segments that select another route."""
    before = snapshot(server, db, seed)
    with server.http() as http:
        for suffix in SUFFIXES:
            value = f"{seed.user_id}%2F{suffix}" if suffix else f"{seed.user_id}%2F"
            path = route.path.removeprefix("/v1").replace("{userId}", value)
            for name in path_names(route):
                path = path.replace("{" + name + "}", seeded_path_value(seed, name))
            response = http.request(route.method, path, content=b"{}", headers={"Content-Type": "application/json"})
            assert 400 <= response.status_code <= 499, (
                f"{route.method} {path} -> {response.status_code} {response.text[:200]}"
            )
    assert snapshot(server, db, seed) == before


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1" + "0" * 400 + ".0"])
def test_overflowing_json_number_is_not_treated_as_an_empty_body(server, db, seed, literal):
    """``{"length": 1e400}`` is valid JSON (PHP decodes INF, which Range rejects: 400); it must not
    be read as "no params", which would create a token with the defaults."""
    before = snapshot(server, db, seed)
    with server.http() as http:
        response = http.post(
            f"/users/{seed.user_id}/tokens",
            content=f'{{"length": {literal}}}'.encode(),
            headers={"Content-Type": "application/json"},
        )
    assert 400 <= response.status_code <= 499, f"{literal} -> {response.status_code} {response.text[:200]}"
    assert snapshot(server, db, seed) == before
