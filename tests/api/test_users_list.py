"""GET /users: queries (wire format, validation, semantics), the `search` param, pagination and
cursors, through the official SDK and raw HTTP (`queries[0]=` / `queries[]=`), on both backends.

Every test works on users whose emails carry a random marker, so assertions hold whatever
other tests create in the same server.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.query import Query
from appwrite.services.users import Users
from users_support import create_user, fresh_project, unique_email, unique_phone

DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00$")
USER_FIELDS = (
    "$id $createdAt $updatedAt name registration status labels passwordUpdate email phone "
    "emailVerification phoneVerification mfa prefs targets accessedAt"
).split()
TARGET_FIELDS = "$id $createdAt $updatedAt name userId providerType identifier expired".split()
PREFIX = "Invalid `queries` param: "
BULK = 30


def _phone() -> str:
    return "+1" + f"{uuid.uuid4().int % 10**12:012d}"


@dataclass
class Dataset:
    marker: str  # a substring of the emails of A..E (a whole word in A, B, C, E) and nothing else
    bulk_marker: str  # the same for the BULK extra users
    users: dict[str, dict]  # "A".."E" -> User JSON after creation and labels
    bulk: list[str]  # ids of the bulk users in creation order

    def id(self, key: str) -> str:
        return self.users[key]["$id"]

    def key_of(self, user_id: str) -> str:
        for key, user in self.users.items():
            if user["$id"] == user_id:
                return key
        raise AssertionError(f"{user_id} is not one of the dataset users")

    @property
    def mine(self) -> str:
        return Query.contains("email", self.marker)

    @property
    def vip(self) -> str:
        return f"vip{self.marker}"

    @property
    def gold(self) -> str:
        return f"gold{self.marker}"


@pytest.fixture(scope="module")
def data(server) -> Dataset:
    marker = "zq" + uuid.uuid4().hex[:10]
    bulk_marker = "zb" + uuid.uuid4().hex[:10]
    users = Users(server.sdk())
    specs = {
        "A": {"name": "Alpha", "email": f"alpha.{marker}@example.com", "phone": _phone()},
        "B": {"name": "Bravo", "email": f"bravo.{marker}@example.com"},
        "C": {"name": "Bravo", "email": f"charlie.{marker}@example.com", "phone": _phone()},
        "D": {
            "name": "Cristiano Ronaldo",
            # The marker is glued to the TLD so it is no separate word of this email.
            "email": f"cristiano.ronaldo@manchester-united.co.uk{marker}",
            "phone": _phone(),
        },
        "E": {"name": "Delta", "email": f"delta.{marker}@example.com", "password": "delta-password"},
    }
    created: dict[str, dict] = {}
    with server.http() as http:
        for key, body in specs.items():
            response = http.post("/users", json={"userId": ID.unique(), **body})
            assert response.status_code == 201, response.text
            created[key] = response.json()
            time.sleep(0.02)  # distinct millisecond timestamps for the $createdAt filters
        labels = {"B": [f"vip{marker}"], "C": [f"vip{marker}", f"gold{marker}"], "D": [f"gold{marker}"]}
        for key, wanted in labels.items():
            updated = users.update_labels(created[key]["$id"], wanted)
            assert updated.labels == wanted
            created[key] = http.get(f"/users/{created[key]['$id']}").json()
        bulk = []
        for i in range(BULK):
            body = {"userId": ID.unique(), "name": f"Bulk {i:02d}", "email": f"bulk{i:02d}.{bulk_marker}@example.com"}
            response = http.post("/users", json=body)
            assert response.status_code == 201, response.text
            bulk.append(response.json()["$id"])
    return Dataset(marker, bulk_marker, created, bulk)


def keys(data: Dataset, result) -> list[str]:
    """Dataset keys ("A".."E") of an SDK UserList, in order."""
    return [data.key_of(user.id) for user in result.users]


def raw_list(http, queries: list[str] = (), search: str | None = None, form: str = "indexed"):
    params = [(f"queries[{i}]" if form == "indexed" else "queries[]", q) for i, q in enumerate(queries)]
    if search is not None:
        params.append(("search", search))
    return http.get("/users", params=params)


def assert_user_list_shape(body: dict) -> None:
    assert set(body) >= {"total", "users"}
    assert isinstance(body["total"], int)
    for user in body["users"]:
        for key in USER_FIELDS + ["password", "hash", "hashOptions"]:
            assert key in user, f"missing {key}"
        for key in ("$createdAt", "$updatedAt", "registration"):
            assert DATETIME.match(user[key]), user[key]
        assert isinstance(user["prefs"], dict)
        for target in user["targets"]:
            for key in TARGET_FIELDS:
                assert key in target, f"target misses {key}"
            assert target["expired"] is False


def assert_query_error(excinfo, message: str, type_: str = "general_argument_invalid") -> None:
    error = excinfo.value
    assert (error.code, error.type) == (400, type_), error.message
    assert error.message == message


# --- default limit, total, response model ----------------------------------------------------


def test_default_limit_and_total(data, users) -> None:
    result = users.list([Query.contains("email", data.bulk_marker)])
    assert result.total == BULK
    assert [u.id for u in result.users] == data.bulk[:25]
    result = users.list([Query.contains("email", data.bulk_marker), Query.limit(100)])
    assert result.total == BULK
    assert [u.id for u in result.users] == data.bulk
    result = users.list([Query.contains("email", data.bulk_marker), Query.offset(25)])
    assert result.total == BULK
    assert [u.id for u in result.users] == data.bulk[25:]


def test_list_without_queries_returns_creation_order(data, http) -> None:
    response = http.get("/users", params={"queries[0]": Query.limit(5000)})
    assert response.status_code == 200
    body = response.json()
    assert_user_list_shape(body)
    listed = [u["$id"] for u in body["users"]]
    mine = [data.id(k) for k in "ABCDE"] + data.bulk
    assert [i for i in listed if i in set(mine)] == mine
    assert body["total"] >= len(mine)


def test_listed_users_match_get(data, http) -> None:
    body = raw_list(http, [data.mine]).json()
    assert_user_list_shape(body)
    assert body["total"] == 5
    assert '"prefs":{}' in raw_list(http, [data.mine]).text.replace(" ", "")
    for user in body["users"]:
        single = http.get(f"/users/{user['$id']}").json()
        assert user == single
    d = next(u for u in body["users"] if u["$id"] == data.id("D"))
    assert d["labels"] == [data.gold]
    assert sorted(t["providerType"] for t in d["targets"]) == ["email", "sms"]
    e = next(u for u in body["users"] if u["$id"] == data.id("E"))
    assert e["password"].startswith("$argon2id$") and e["phone"] == "" and e["labels"] == []


def test_sdk_parses_every_listed_user(data, users) -> None:
    result = users.list([data.mine])
    assert result.total == 5
    assert keys(data, result) == list("ABCDE")
    b = result.users[1]
    assert b.email == f"bravo.{data.marker}@example.com"
    assert b.labels == [data.vip]
    assert b.phone == ""
    assert b.password is None
    assert b.passwordupdate == ""
    assert [t.providertype for t in b.targets] == ["email"]


# --- filters ---------------------------------------------------------------------------------


FILTERS = {
    "equal": (lambda d: [Query.equal("name", "Bravo")], "BC"),
    "equal-many": (lambda d: [Query.equal("name", ["Alpha", "Delta"])], "AE"),
    "equal-id": (lambda d: [Query.equal("$id", d.id("C"))], "C"),
    "equal-email": (lambda d: [Query.equal("email", d.users["D"]["email"])], "D"),
    "equal-phone": (lambda d: [Query.equal("phone", d.users["A"]["phone"])], "A"),
    "notEqual": (lambda d: [Query.not_equal("name", "Bravo")], "ADE"),
    "lessThan-createdAt": (lambda d: [Query.less_than("$createdAt", d.users["C"]["$createdAt"])], "AB"),
    "lessThanEqual-createdAt": (lambda d: [Query.less_than_equal("$createdAt", d.users["C"]["$createdAt"])], "ABC"),
    "greaterThan-createdAt": (lambda d: [Query.greater_than("$createdAt", d.users["C"]["$createdAt"])], "DE"),
    "greaterThanEqual-createdAt": (
        lambda d: [Query.greater_than_equal("$createdAt", d.users["C"]["$createdAt"])],
        "CDE",
    ),
    "between-createdAt": (
        lambda d: [Query.between("$createdAt", d.users["B"]["$createdAt"], d.users["D"]["$createdAt"])],
        "BCD",
    ),
    "lessThan-registration": (lambda d: [Query.less_than("registration", d.users["B"]["registration"])], "A"),
    "startsWith-name": (lambda d: [Query.starts_with("name", "Cris")], "D"),
    "startsWith-email": (lambda d: [Query.starts_with("email", "bravo.")], "B"),
    "endsWith-email": (lambda d: [Query.ends_with("email", f"-united.co.uk{d.marker}")], "D"),
    "endsWith-name": (lambda d: [Query.ends_with("name", "ta")], "E"),
    "contains-string": (lambda d: [Query.contains("name", "avo")], "BC"),
    "contains-label": (lambda d: [Query.contains("labels", d.vip)], "BC"),
    "contains-labels-any": (lambda d: [Query.contains("labels", [d.gold, d.vip])], "BCD"),
    "isNull-phone": (lambda d: [Query.is_null("phone")], "BE"),
    "isNotNull-phone": (lambda d: [Query.is_not_null("phone")], "ACD"),
    "isNull-passwordUpdate": (lambda d: [Query.is_null("passwordUpdate")], "ABCD"),
    "isNotNull-passwordUpdate": (lambda d: [Query.is_not_null("passwordUpdate")], "E"),
    "equal-status-true": (lambda d: [Query.equal("status", True)], "ABCDE"),
    "equal-status-false": (lambda d: [Query.equal("status", False)], ""),
    "equal-emailVerification": (lambda d: [Query.equal("emailVerification", True)], ""),
    "equal-phoneVerification": (lambda d: [Query.equal("phoneVerification", False)], "ABCDE"),
    "search-method": (lambda d: [Query.search("name", "Ronaldo")], "D"),
    "or": (lambda d: [Query.or_queries([Query.equal("name", "Alpha"), Query.equal("name", "Delta")])], "AE"),
    "or-mixed": (lambda d: [Query.or_queries([Query.is_null("phone"), Query.starts_with("name", "Cris")])], "BDE"),
    "and": (lambda d: [Query.and_queries([Query.contains("name", "avo"), Query.is_not_null("phone")])], "C"),
    "nested": (
        lambda d: [
            Query.or_queries(
                [
                    Query.and_queries([Query.equal("name", "Bravo"), Query.is_null("phone")]),
                    Query.contains("labels", d.gold),
                ]
            )
        ],
        "BCD",
    ),
    "several-filters": (lambda d: [Query.contains("labels", d.gold), Query.not_equal("name", "Bravo")], "D"),
}


@pytest.mark.parametrize("case", list(FILTERS), ids=list(FILTERS))
def test_filter_sdk(data, users, case: str) -> None:
    build, expected = FILTERS[case]
    result = users.list([data.mine, *build(data)])
    assert keys(data, result) == list(expected)
    assert result.total == len(expected)


@pytest.mark.parametrize("case", ["equal-many", "between-createdAt", "contains-labels-any", "or", "nested"])
@pytest.mark.parametrize("form", ["indexed", "brackets"])
def test_filter_raw_http(data, http, case: str, form: str) -> None:
    build, expected = FILTERS[case]
    response = raw_list(http, [data.mine, *build(data)], form=form)
    assert response.status_code == 200, response.text
    body = response.json()
    assert_user_list_shape(body)
    assert [data.key_of(u["$id"]) for u in body["users"]] == list(expected)
    assert body["total"] == len(expected)


def test_label_filter_needs_no_marker(data, users) -> None:
    result = users.list([Query.contains("labels", [data.vip, data.gold])])
    assert keys(data, result) == list("BCD")


def test_datetime_filter_accepts_other_offsets(data, users) -> None:
    """Datetime values compare instants: the same moment written at +02:00 selects the same rows."""
    from datetime import datetime, timedelta, timezone

    moment = datetime.fromisoformat(data.users["C"]["$createdAt"]).astimezone(timezone(timedelta(hours=2)))
    result = users.list([data.mine, Query.less_than("$createdAt", moment.isoformat(timespec="milliseconds"))])
    assert keys(data, result) == list("AB")


# --- order, limit, offset --------------------------------------------------------------------


ORDERS = {
    "asc-name": ([Query.order_asc("name")], "ABCDE"),
    "desc-name": ([Query.order_desc("name")], "EDBCA"),  # ties keep creation order
    "asc-email": ([Query.order_asc("email")], "ABCDE"),
    "desc-createdAt": ([Query.order_desc("$createdAt")], "EDCBA"),
    "desc-natural": ([Query.order_desc("")], "EDCBA"),
    "asc-natural": ([Query.order_asc("")], "ABCDE"),
    "name-then-createdAt-desc": ([Query.order_asc("name"), Query.order_desc("$createdAt")], "ACBDE"),
    "asc-name-limit-offset": ([Query.order_asc("name"), Query.limit(2), Query.offset(1)], "BC"),
    "limit": ([Query.limit(2)], "AB"),
    "limit-offset": ([Query.limit(2), Query.offset(2)], "CD"),
    "offset-last": ([Query.offset(4)], "E"),
    "offset-past-end": ([Query.offset(5)], ""),
    "first-limit-wins": ([Query.limit(1), Query.limit(3)], "A"),
    "first-offset-wins": ([Query.offset(3), Query.offset(0)], "DE"),
}


@pytest.mark.parametrize("case", list(ORDERS), ids=list(ORDERS))
def test_order_and_pagination(data, users, case: str) -> None:
    queries, expected = ORDERS[case]
    result = users.list([data.mine, *queries])
    assert keys(data, result) == list(expected)
    assert result.total == 5  # total ignores limit, offset and order


def test_order_raw_http(data, http) -> None:
    response = raw_list(http, [data.mine, Query.order_desc("name"), Query.limit(3)])
    body = response.json()
    assert [data.key_of(u["$id"]) for u in body["users"]] == list("EDB")
    assert body["total"] == 5


# --- cursors ---------------------------------------------------------------------------------


CURSORS = {
    "after-first": (lambda d: [Query.cursor_after(d.id("A"))], "BCDE"),
    "after-first-limit": (lambda d: [Query.cursor_after(d.id("A")), Query.limit(2)], "BC"),
    "after-last": (lambda d: [Query.cursor_after(d.id("E"))], ""),
    "before-third": (lambda d: [Query.cursor_before(d.id("C"))], "AB"),
    "before-last-limit": (lambda d: [Query.cursor_before(d.id("E")), Query.limit(2)], "CD"),
    "before-first": (lambda d: [Query.cursor_before(d.id("A"))], ""),
    "after-desc-name": (lambda d: [Query.order_desc("name"), Query.cursor_after(d.id("B"))], "CA"),
    "before-desc-name": (lambda d: [Query.order_desc("name"), Query.cursor_before(d.id("B"))], "ED"),
    "before-desc-name-tie": (lambda d: [Query.order_desc("name"), Query.cursor_before(d.id("C"))], "EDB"),
    "after-asc-name-tie": (lambda d: [Query.order_asc("name"), Query.cursor_after(d.id("B"))], "CDE"),
    "after-with-filter": (lambda d: [Query.is_not_null("phone"), Query.cursor_after(d.id("A"))], "CD"),
    "after-offset": (lambda d: [Query.cursor_after(d.id("A")), Query.offset(1)], "CDE"),
}


@pytest.mark.parametrize("case", list(CURSORS), ids=list(CURSORS))
def test_cursor(data, users, case: str) -> None:
    build, expected = CURSORS[case]
    queries = build(data)
    result = users.list([data.mine, *queries])
    assert keys(data, result) == list(expected)
    filtered = any('"isNotNull"' in q for q in queries)
    assert result.total == (3 if filtered else 5)  # the cursor does not change total


def test_cursor_pages_through_bulk(data, users) -> None:
    seen, cursor = [], None
    while True:
        queries = [Query.contains("email", data.bulk_marker), Query.limit(7)]
        if cursor:
            queries.append(Query.cursor_after(cursor))
        page = users.list(queries)
        assert page.total == BULK
        if not page.users:
            break
        seen += [u.id for u in page.users]
        cursor = page.users[-1].id
    assert seen == data.bulk


def test_cursor_raw_http(data, http) -> None:
    body = raw_list(http, [data.mine, Query.cursor_before(data.id("D")), Query.limit(2)], form="brackets").json()
    assert [data.key_of(u["$id"]) for u in body["users"]] == list("BC")


def test_cursor_not_found(users) -> None:
    with pytest.raises(AppwriteException) as excinfo:
        users.list([Query.cursor_after("doesnotexist123")])
    assert_query_error(excinfo, "User 'doesnotexist123' for the 'cursor' value not found.", "general_cursor_not_found")
    with pytest.raises(AppwriteException) as excinfo:
        users.list([Query.cursor_before("doesnotexist456")])
    assert_query_error(excinfo, "User 'doesnotexist456' for the 'cursor' value not found.", "general_cursor_not_found")


def test_invalid_cursor_value(users) -> None:
    with pytest.raises(AppwriteException) as excinfo:
        users.list([Query.cursor_after("-bad")])
    assert_query_error(
        excinfo,
        PREFIX + "Invalid query: Invalid cursor: UID must contain at most 36 chars. Valid chars are a-z, A-Z, "
        "0-9, and underscore. Can't start with a leading underscore",
    )


# --- query errors ----------------------------------------------------------------------------


QUERY_ERRORS = {
    "unknown-attribute": ([Query.equal("unknown", "x")], "Invalid query: Attribute not found in schema: unknown"),
    "password-not-queryable": ([Query.equal("password", "x")], "Invalid query: Attribute not found in schema: password"),
    "order-unknown": ([Query.order_asc("hash")], "Invalid query: Attribute not found in schema: hash"),
    "select": ([Query.select(["name"])], "Invalid query method: select"),
    "bad-json": (["{not json"], "Invalid query: Invalid query: Syntax error"),
    "not-object": (['"equal"'], "Invalid query: Invalid query. Must be an array, got string"),
    "unknown-method": (['{"method":"cursorAsc","values":["x"]}'], "Invalid query: Invalid query method: cursorAsc"),
    "equal-on-array": (
        [Query.equal("labels", "x")],
        'Invalid query: Cannot query equal on attribute "labels" because it is an array.',
    ),
    "bool-as-string": ([Query.equal("status", "true")], 'Invalid query: Query value is invalid for attribute "status"'),
    "bad-datetime": ([Query.less_than("$createdAt", "yesterday")], 'Invalid query: Query value is invalid for attribute "$createdAt"'),
    "string-as-int": ([Query.equal("name", 5)], 'Invalid query: Query value is invalid for attribute "name"'),
    "lessThan-two-values": (
        ['{"method":"lessThan","attribute":"name","values":["a","b"]}'],
        "Invalid query: LessThan queries require exactly one value.",
    ),
    "between-one-value": (
        ['{"method":"between","attribute":"name","values":["a"]}'],
        "Invalid query: Between queries require exactly two values.",
    ),
    "equal-no-values": (
        ['{"method":"equal","attribute":"name","values":[]}'],
        "Invalid query: Equal queries require at least one value.",
    ),
    "or-single": (
        [Query.or_queries([Query.equal("name", "a")])],
        "Invalid query: Or queries require at least two queries",
    ),
    "and-with-limit": (
        [Query.and_queries([Query.equal("name", "a"), Query.limit(1)])],
        "Invalid query: And queries can only contain filter queries",
    ),
    "limit-zero": (
        [Query.limit(0)],
        "Invalid query: Invalid limit: Value must be a valid range between 1 and 9,223,372,036,854,775,807",
    ),
    "offset-negative": (
        [Query.offset(-1)],
        "Invalid query: Invalid offset: Value must be a valid range between 0 and 9,223,372,036,854,775,807",
    ),
    "too-many-values": (
        [Query.equal("name", [f"n{i}" for i in range(101)])],
        "Invalid query: Query on attribute has greater than 100 values: name",
    ),
    "contains-on-bool": (
        [Query.contains("status", True)],
        'Invalid query: Cannot query contains on attribute "status" because it is not an array or string.',
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(QUERY_ERRORS), ids=list(QUERY_ERRORS))
def test_query_errors(users, case: str) -> None:
    queries, message = QUERY_ERRORS[case]
    with pytest.raises(AppwriteException) as excinfo:
        users.list(queries)
    assert_query_error(excinfo, PREFIX + message)


@pytest.mark.parametrize("form", ["indexed", "brackets"])
def test_query_errors_raw_http(http, form: str) -> None:
    response = raw_list(http, [Query.limit(1), Query.equal("nope", "x")], form=form)
    assert response.status_code == 400
    body = response.json()
    assert body == {
        "message": PREFIX + "Invalid query: Attribute not found in schema: nope",
        "code": 400,
        "type": "general_argument_invalid",
        "version": body["version"],
    }
    response = raw_list(http, ["[broken"], form=form)
    assert response.status_code == 400
    assert response.json()["message"] == PREFIX + "Invalid query: Invalid query: Syntax error"
    response = raw_list(http, [Query.select(["$id"])], form=form)
    assert response.json()["message"] == PREFIX + "Invalid query method: select"


def test_indexed_queries_are_ordered_by_index(data, http) -> None:
    """`queries[i]` builds a list ordered by i (numerically), whatever the order in the URL;
    only the first limit counts."""
    params = [("queries[10]", Query.limit(3)), ("queries[2]", Query.limit(1)), ("queries[0]", data.mine)]
    body = http.get("/users", params=params).json()
    assert [data.key_of(u["$id"]) for u in body["users"]] == ["A"]
    assert body["total"] == 5


def test_queries_not_an_array(http) -> None:
    response = http.get("/users", params={"queries": json.dumps({"method": "limit", "values": [1]})})
    assert response.status_code == 400
    assert response.json()["type"] == "general_argument_invalid"
    assert response.json()["message"] == PREFIX + "Queries must be an array"


# --- search param ----------------------------------------------------------------------------


SEARCHES = {
    "email-domain-word": (lambda d: "manchester", "D"),
    "email-tail": (lambda d: "united.co.uk", "D"),
    "prefix-last-word": (lambda d: "man", "D"),
    "whole-email": (lambda d: d.users["D"]["email"], "D"),
    "email-local-part": (lambda d: "cristiano.ronaldo", "D"),
    "name-word": (lambda d: "Ronaldo", "D"),
    "name-word-lowercase": (lambda d: "ronaldo", "D"),
    "quoted-email": (lambda d: f'"{d.users["D"]["email"]}"', "D"),
    "quoted-name": (lambda d: '"Cristiano Ronaldo"', "D"),
    "quoted-wrong-order": (lambda d: '"Ronaldo Cristiano"', ""),
    "phone": (lambda d: d.users["C"]["phone"], "C"),
    "user-id": (lambda d: d.id("B"), "B"),
    "label-word": (lambda d: d.vip, "BC"),
    "any-word": (lambda d: "Alpha Delta", "AE"),
    "prefix-only-last": (lambda d: "Alp Delta", "E"),
    "operator-only": (lambda d: ">", ""),
    "unknown": (lambda d: "unknown", ""),
}


@pytest.mark.parametrize("case", list(SEARCHES), ids=list(SEARCHES))
def test_search_param(data, users, case: str) -> None:
    term, expected = SEARCHES[case]
    result = users.list([data.mine], search=term(data))
    assert keys(data, result) == list(expected)
    assert result.total == len(expected)


def test_search_marker_alone(data, users, http) -> None:
    """The marker is a whole word of four emails only (in D's it is part of `uk<marker>`)."""
    result = users.list(search=data.marker)
    assert keys(data, result) == list("ABCE")
    assert result.total == 4
    body = http.get("/users", params={"search": data.marker}).json()
    assert_user_list_shape(body)
    assert [data.key_of(u["$id"]) for u in body["users"]] == list("ABCE")
    # A prefix of D's last word finds it (last word = prefix).
    assert keys(data, users.list([data.mine], search="co.uk")) == ["D"]


def test_search_label_syntax(data, users) -> None:
    """`label:<l>` words are in the search text; the term's words are OR-ed."""
    result = users.list([data.mine], search=f"label:{data.gold}")
    found = set(keys(data, result))
    assert {"C", "D"} <= found
    assert not found & {"A", "E"}


def test_search_operator_only_is_empty_200(http) -> None:
    response = http.get("/users", params={"search": ">"})
    assert response.status_code == 200
    assert response.json() == {"total": 0, "users": []}


def test_search_with_queries_and_pagination(data, users, http) -> None:
    result = users.list([Query.limit(1), Query.offset(1)], search=data.marker)
    assert keys(data, result) == ["B"]
    assert result.total == 4
    result = users.list([Query.order_desc("name"), Query.limit(2)], search=data.marker)
    assert keys(data, result) == list("EB")
    body = raw_list(http, [Query.is_null("phone")], search=data.marker).json()
    assert [data.key_of(u["$id"]) for u in body["users"]] == list("BE")
    assert body["total"] == 2


def test_search_too_long(http) -> None:
    response = http.get("/users", params={"search": "x" * 257})
    assert response.status_code == 400
    assert response.json()["type"] == "general_argument_invalid"
    # Appwrite validates `search` as Text(256), whose minimum length is the default 1.
    assert response.json()["message"] == (
        "Invalid `search` param: Value must be a valid string and at least 1 chars and no longer than 256 chars"
    )


def test_search_follows_updates(data, users, http) -> None:
    """The search text is recomputed on writes: a renamed user is found by its new name only."""
    word = "renamed" + uuid.uuid4().hex[:8]
    user = users.create(ID.unique(), email=f"rename.{uuid.uuid4().hex[:8]}@example.com", name="Before Name")
    assert users.list(search=word).total == 0
    users.update_name(user.id, f"After {word}")
    assert [u.id for u in users.list(search=word).users] == [user.id]
    label = "lbl" + uuid.uuid4().hex[:10]
    users.update_labels(user.id, [label])
    assert [u.id for u in users.list(search=label).users] == [user.id]


# --- the total of a project's whole list (a counter kept by the database) ----------------------


def test_total_of_unfiltered_list_follows_concurrent_creates_and_deletes(server) -> None:
    project, key = fresh_project(server)

    def listed(queries: list[str] = ()) -> dict:
        with server.http(key=key, project=project) as http:
            response = raw_list(http, list(queries))
        assert response.status_code == 200, response.text
        return response.json()

    def create(_: int) -> str:
        with server.http(key=key, project=project) as http:
            return create_user(http)["$id"]

    def delete(user_id: str) -> None:
        with server.http(key=key, project=project) as http:
            assert http.delete(f"/users/{user_id}").status_code == 204

    # A project that never had a user; an offset past the end makes nib ask for the total.
    assert listed([Query.offset(5)]) == {"total": 0, "users": []}
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = list(pool.map(create, range(12)))
        deleting = pool.map(delete, first[:5])
        second = list(pool.map(create, range(6)))
        list(deleting)
    kept = set(first[5:] + second)
    body = listed([Query.limit(1)])
    assert body["total"] == len(kept) == 13
    assert {u["$id"] for u in listed([Query.limit(100)])["users"]} == kept
    # The same count as the statement that counts matching rows (any filter takes that path).
    assert listed([Query.is_not_null("$id"), Query.limit(1)])["total"] == 13
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(delete, kept))
    assert listed([Query.offset(5)]) == {"total": 0, "users": []}


def test_listed_users_equal_the_same_users_read_one_by_one(http):
    """A page's users (rendered by the database, users/rendered.py) are exactly what GET returns
    (rendered in Python) for every field: empty and null values, imported hashes, prefs,
    labels, verification flags, blocked users, and targets added, renamed and deleted."""
    quirky = 'Zoë "Q" \\ O\'Brien\t🍰'
    plain = create_user(http, email=unique_email("same"), phone=unique_phone(), password="password123", name=quirky)
    bare = create_user(http, email=None, phone=None)  # no email, phone, password or name
    imported = http.post(
        "/users/scrypt",
        json={
            "userId": ID.unique(), "email": unique_email("scrypt"), "password": "c2VjcmV0", "passwordSalt": "c2FsdA==",
            "passwordCpu": 16384, "passwordMemory": 8, "passwordParallel": 1, "passwordLength": 64,
        },
    ).json()  # fmt: skip
    uid = plain["$id"]
    prefs = {"theme": "dark", "nested": {"list": [1, 2.5, None, True], "text": quirky}, "empty": {}}
    assert http.patch(f"/users/{uid}/prefs", json={"prefs": prefs}).status_code == 200
    assert http.put(f"/users/{uid}/labels", json={"labels": ["vip", "beta"]}).status_code == 200
    assert http.patch(f"/users/{uid}/verification", json={"emailVerification": True}).status_code == 200
    assert http.patch(f"/users/{imported['$id']}/status", json={"status": False}).status_code == 200
    push = http.post(
        f"/users/{uid}/targets",
        json={"targetId": ID.unique(), "providerType": "push", "identifier": f"token-{uid}", "providerId": "fcm"},
    ).json()
    assert http.patch(f"/users/{uid}/targets/{push['$id']}", json={"name": quirky}).status_code == 200
    sms = next(t for t in plain["targets"] if t["providerType"] == "sms")
    assert http.delete(f"/users/{uid}/targets/{sms['$id']}").status_code == 204

    ids = [plain["$id"], bare["$id"], imported["$id"]]
    listed = http.get("/users", params={"queries[0]": Query.equal("$id", ids)}).json()
    singles = [http.get(f"/users/{user_id}").json() for user_id in ids]
    assert listed == {"total": 3, "users": singles}
    first = singles[0]
    assert (first["name"], first["prefs"], first["labels"]) == (quirky, prefs, ["vip", "beta"])
    assert [(t["providerType"], t["name"], t["providerId"]) for t in first["targets"]] == [
        ("email", "", None),
        ("push", quirky, "fcm"),
    ]
    assert (singles[1]["email"], singles[1]["password"], singles[1]["targets"]) == ("", None, [])
    assert singles[2]["hash"] == "scrypt" and singles[2]["hashOptions"]["costCpu"] == 16384
    assert singles[2]["status"] is False
