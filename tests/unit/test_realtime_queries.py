"""Queries on realtime subscriptions, evaluated against event payloads."""

from __future__ import annotations

import json

import pytest

from nib.realtime import queries


def q(method: str, attribute: str = "", values=None) -> str:
    return json.dumps({"method": method, "attribute": attribute, "values": values or []})


FILE = {"$id": "f1", "name": "a.png", "sizeOriginal": 2048, "mimeType": "image/png", "chunksTotal": 1, "gone": None}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (q("equal", "name", ["b.png", "a.png"]), True),
        (q("equal", "name", ["b.png"]), False),
        (q("notEqual", "name", ["a.png"]), False),
        (q("lessThan", "sizeOriginal", [4096]), True),
        (q("lessThanEqual", "sizeOriginal", [2048]), True),
        (q("greaterThan", "sizeOriginal", [2048]), False),
        (q("greaterThanEqual", "sizeOriginal", [2048]), True),
        (q("greaterThan", "name", [5]), False),  # a string against a number matches nothing
        (q("isNull", "gone"), True),
        (q("isNull", "missing"), True),
        (q("isNotNull", "name"), True),
        (q("select", values=["*"]), True),
        (
            json.dumps(
                {
                    "method": "and",
                    "values": [
                        json.loads(q("equal", "name", ["a.png"])),
                        json.loads(q("lessThan", "sizeOriginal", [10])),
                    ],
                }
            ),
            False,
        ),
        (
            json.dumps(
                {
                    "method": "or",
                    "values": [json.loads(q("equal", "name", ["x"])), json.loads(q("equal", "$id", ["f1"]))],
                }
            ),
            True,
        ),
    ],
)
def test_queries_hold_or_not_for_a_payload(query, expected):
    assert queries.matches([queries.parse(query)], FILE) is expected


def test_no_queries_match_everything():
    assert queries.matches([], FILE) is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (q("search", "name", ["a"]), "Query method 'search' is not supported in Realtime queries."),
        (q("select", values=["name"]), 'Invalid query: only select(["*"]) is supported in Realtime queries.'),
        ("not json", "Invalid query: not json"),
        (q("equal", "", ["a"]), "Invalid query: equal needs an attribute."),
        (json.dumps({"method": "and", "values": []}), "Invalid query: and needs at least one query."),
    ],
)
def test_queries_realtime_cannot_evaluate_are_refused(text, message):
    with pytest.raises(queries.InvalidQuery) as refused:
        queries.parse(text)
    assert str(refused.value).startswith(message)
