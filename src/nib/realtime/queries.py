"""Queries on a subscription: which events' payloads it wants.

The newest SDKs send Appwrite's JSON queries with a subscription (``Query.equal("bucketId",
["b"])``…). Realtime evaluates a small set of them against each event's payload: comparisons,
null checks, ``and``/``or`` of those, and ``select(["*"])`` (everything, the default).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

ALLOWED = (
    "equal",
    "notEqual",
    "lessThan",
    "lessThanEqual",
    "greaterThan",
    "greaterThanEqual",
    "isNull",
    "isNotNull",
    "and",
    "or",
    "select",
)


class InvalidQuery(ValueError):
    """A query realtime cannot evaluate; the message says why."""


@dataclass(frozen=True)
class Query:
    method: str
    attribute: str
    values: tuple[Any, ...]


def _compare(test: Callable[[Any, Any], bool]) -> Callable[[Any, tuple[Any, ...]], bool]:
    def check(value: Any, values: tuple[Any, ...]) -> bool:
        if value is None or not values:
            return False
        try:
            return bool(test(value, values[0]))
        except TypeError:  # a number against a string: no match, as no document would match
            return False

    return check


_TESTS: dict[str, Callable[[Any, tuple[Any, ...]], bool]] = {
    "equal": lambda value, values: value in values,
    "notEqual": lambda value, values: value not in values,
    "lessThan": _compare(lambda a, b: a < b),
    "lessThanEqual": _compare(lambda a, b: a <= b),
    "greaterThan": _compare(lambda a, b: a > b),
    "greaterThanEqual": _compare(lambda a, b: a >= b),
    "isNull": lambda value, values: value is None,
    "isNotNull": lambda value, values: value is not None,
}


def parse(text: Any) -> Query:
    """One query string (Appwrite's JSON form) -> ``Query``; ``InvalidQuery`` otherwise."""
    if not isinstance(text, str):
        raise InvalidQuery("Query must be a string.")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidQuery(f"Invalid query: {text}") from None
    return _from_json(data)


def _from_json(data: Any) -> Query:
    if not isinstance(data, dict) or not isinstance(data.get("method"), str):
        raise InvalidQuery("Invalid query: method is missing.")
    method = data["method"]
    if method not in ALLOWED:
        raise InvalidQuery(
            f"Query method '{method}' is not supported in Realtime queries. Allowed: {', '.join(ALLOWED)}"
        )
    values = data.get("values", [])
    if not isinstance(values, list):
        raise InvalidQuery(f"Invalid query: values of {method} must be an array.")
    attribute = data.get("attribute", "")
    if not isinstance(attribute, str):
        raise InvalidQuery(f"Invalid query: attribute of {method} must be a string.")
    if method in ("and", "or"):
        if not values:
            raise InvalidQuery(f"Invalid query: {method} needs at least one query.")
        return Query(method, "", tuple(_from_json(item) for item in values))
    if method == "select":
        if values != ["*"]:
            raise InvalidQuery('Invalid query: only select(["*"]) is supported in Realtime queries.')
        return Query(method, "", ("*",))
    if not attribute:
        raise InvalidQuery(f"Invalid query: {method} needs an attribute.")
    return Query(method, attribute, tuple(values))


def matches(queries: Sequence[Query], payload: Mapping[str, Any]) -> bool:
    """Whether every query holds for ``payload`` (no queries: everything matches)."""
    return all(_holds(query, payload) for query in queries)


def _holds(query: Query, payload: Mapping[str, Any]) -> bool:
    if query.method == "select":
        return True
    if query.method == "and":
        return all(_holds(inner, payload) for inner in query.values)
    if query.method == "or":
        return any(_holds(inner, payload) for inner in query.values)
    return _TESTS[query.method](payload.get(query.attribute), query.values)
