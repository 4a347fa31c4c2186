"""Unit tests for nib.auth.permissions: the access table (roles x permissions -> allowed), every
validation message of permission strings through the param pipeline, normalisation, and the
self-assignment rule (a caller may grant only its own roles)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nib.auth import permissions as perms
from nib.http.routing import Param, validate
from nib.tools.errors import AppwriteError
from nib.tools.validators import Invalid

# Callers, with their roles in Appwrite's order; KEY is an API key.
CALLERS: dict[str, list[str] | None] = {
    "guest": ["any", "guests"],
    "user": ["any", "users", "user:U", "user:U/unverified", "users/unverified"],
    "verified": ["any", "users", "user:V", "user:V/verified", "users/verified"],
    "owner": [
        "any",
        "users",
        "user:O",
        "user:O/verified",
        "users/verified",
        "team:T",
        "member:M",
        "team:T/owner",
        "label:vip",
    ],
    "player": [
        "any",
        "users",
        "user:P",
        "user:P/unverified",
        "users/unverified",
        "team:T",
        "member:N",
        "team:T/player",
    ],
    "key": None,
}

USERS = {"user", "verified", "owner", "player"}

# (permissions of a resource, action) -> the callers allowed.
ACCESS_TABLE = [
    (['read("any")'], "read", set(CALLERS)),
    (['read("guests")'], "read", {"guest", "key"}),
    (['read("users")'], "read", USERS | {"key"}),
    (['read("users/verified")'], "read", {"verified", "owner", "key"}),
    (['read("users/unverified")'], "read", {"user", "player", "key"}),
    (['read("user:U")'], "read", {"user", "key"}),
    (['read("user:U/verified")'], "read", {"key"}),
    (['read("user:U/unverified")'], "read", {"user", "key"}),
    (['read("user:V/verified")'], "read", {"verified", "key"}),
    (['read("user:V/unverified")'], "read", {"key"}),
    (['read("team:T")'], "read", {"owner", "player", "key"}),
    (['read("team:T/owner")'], "read", {"owner", "key"}),
    (['read("team:T/player")'], "read", {"player", "key"}),
    (['read("team:X")'], "read", {"key"}),
    (['read("member:M")'], "read", {"owner", "key"}),
    (['read("member:N")'], "read", {"player", "key"}),
    (['read("label:vip")'], "read", {"owner", "key"}),
    (['read("label:VIP")'], "read", {"key"}),
    (['create("any")'], "create", set(CALLERS)),
    (['create("users")'], "create", USERS | {"key"}),
    (['create("guests")'], "create", {"guest", "key"}),
    (['update("team:T/owner")'], "update", {"owner", "key"}),
    (['update("team:T/owner")'], "delete", {"key"}),
    (['update("team:T/owner")'], "read", {"key"}),
    (['delete("user:U")'], "delete", {"user", "key"}),
    (['delete("member:N")'], "delete", {"player", "key"}),
    (['update("users/verified")'], "update", {"verified", "owner", "key"}),
    # An unexpanded write grants create, update and delete, never read.
    (['write("user:U")'], "create", {"user", "key"}),
    (['write("user:U")'], "update", {"user", "key"}),
    (['write("user:U")'], "delete", {"user", "key"}),
    (['write("user:U")'], "read", {"key"}),
    (['write("team:T")'], "update", {"owner", "player", "key"}),
    # The expanded form grants exactly the same.
    (perms.validate(['write("team:T/owner")']), "create", {"owner", "key"}),
    (perms.validate(['write("team:T/owner")']), "delete", {"owner", "key"}),
    ([], "read", {"key"}),
    (['read("user:U")', 'read("team:T/owner")'], "read", {"user", "owner", "key"}),
    (['read("user:U")', 'update("team:T")'], "update", {"owner", "player", "key"}),
]


@pytest.mark.parametrize(("permissions", "action", "granted"), ACCESS_TABLE)
@pytest.mark.parametrize("caller", list(CALLERS))
def test_access_table(caller, permissions, action, granted):
    assert perms.allowed(CALLERS[caller], permissions, action) is (caller in granted)


def test_allowed_accepts_roles_as_any_iterable():
    assert perms.allowed(iter(CALLERS["user"]), ['update("user:U")'], "update")
    assert perms.allowed(set(CALLERS["player"]), ['delete("team:T")'], "delete")


@pytest.mark.parametrize("action", ["write", "admin", ""])
def test_unknown_action_is_a_programming_error(action):
    with pytest.raises(ValueError):
        perms.allowed(CALLERS["user"], ['read("any")'], action)
    with pytest.raises(ValueError):
        perms.granting(None, action)


def test_granting_lists_the_filter_values():
    assert perms.granting(["any", "users", "user:U"], "read") == ['read("any")', 'read("users")', 'read("user:U")']
    assert perms.granting(["any", "guests", "any"], "delete") == ['delete("any")', 'delete("guests")']
    assert perms.granting(None, "read") is None


BUCKET = perms.ALL_TYPES
FILE = perms.FILE_TYPES
KEY_MESSAGE = (
    "Parameter must contain at most 36 chars. Valid chars are a-z, A-Z, 0-9, period, hyphen, "
    "and underscore. Can't start with a special char"
)
ROLES_MESSAGE = "Must be one of: any, guests, users, user, team, member, label."

# (value, accepted types, Appwrite's message)
INVALID = [
    ('read("any")', BUCKET, "Permissions must be an array of strings."),
    (5, BUCKET, "Permissions must be an array of strings."),
    (True, FILE, "Permissions must be an array of strings."),
    (['read("any")'] * 101, BUCKET, "You can only provide up to 100 permissions."),
    ([1], BUCKET, "Every permission must be of type string."),
    ([['read("any")']], BUCKET, "Every permission must be of type string."),
    ([False], BUCKET, "Every permission must be of type string."),
    (['read("any")', None], BUCKET, "Every permission must be of type string."),
    (["*"], BUCKET, 'Wildcard permission "*" has been replaced. Use "any" instead.'),
    (
        ['read("role:all")'],
        BUCKET,
        'Permissions using the "role:" prefix have been replaced. Use "users", "guests", or "any" instead.',
    ),
    (
        ['update("role:member")'],
        FILE,
        'Permissions using the "role:" prefix have been replaced. Use "users", "guests", or "any" instead.',
    ),
    (
        ['create("any")'],
        FILE,
        'Permission "create("any")" is not allowed. Must be one of: read, update, delete, write.',
    ),
    (
        ["user1234"],
        BUCKET,
        'Permission "user1234" is not allowed. Must be one of: create, read, update, delete, write.',
    ),
    ([""], BUCKET, 'Permission "" is not allowed. Must be one of: create, read, update, delete, write.'),
    (
        [' read("any")'],
        BUCKET,
        'Permission " read("any")" is not allowed. Must be one of: create, read, update, delete, write.',
    ),
    (["read(any)"], BUCKET, 'Invalid permission string format: "read(any)".'),
    (["read"], BUCKET, 'Invalid permission string format: "read".'),
    (['read("a")("b")'], BUCKET, 'Invalid permission string format: "read("a")("b")".'),
    (['read(("any")'], BUCKET, 'Invalid permission type: "read(".'),
    (['readx("any")'], BUCKET, 'Invalid permission type: "readx".'),
    (['read("anyy")'], BUCKET, f'Role "anyy" is not allowed. {ROLES_MESSAGE}'),
    (['read("memer:123abc")'], BUCKET, f'Role "memer" is not allowed. {ROLES_MESSAGE}'),
    (['read("")'], BUCKET, f'Role "" is not allowed. {ROLES_MESSAGE}'),
    (['read("any"'], BUCKET, f'Role "any"" is not allowed. {ROLES_MESSAGE}'),
    (['read("any:x")'], BUCKET, 'Role "any" can not have an ID value.'),
    (['read("guests:x")'], BUCKET, 'Role "guests" can not have an ID value.'),
    (['read("users:x")'], BUCKET, 'Role "users" can not have an ID value.'),
    (['read("user")'], BUCKET, 'Role "user" must have an ID value.'),
    (['read("user:")'], BUCKET, 'Role "user" must have an ID value.'),
    (['read("user:0")'], BUCKET, 'Role "user" must have an ID value.'),  # PHP empty("0")
    (['read("user/verified")'], BUCKET, 'Role "user" must have an ID value.'),
    (['read("team:")'], BUCKET, 'Role "team" must have an ID value.'),
    (['read("team/abcd")'], BUCKET, 'Role "team" must have an ID value.'),
    (['read("member:")'], BUCKET, 'Role "member" must have an ID value.'),
    (['read("label")'], BUCKET, 'Role "label" must have an ID value.'),
    (['read("users/admin")'], BUCKET, 'Role "users" dimension value is invalid. Must be one of: verified, unverified.'),
    (['read("user:U/admin")'], BUCKET, 'Role "user" dimension value is invalid. Must be one of: verified, unverified.'),
    (
        ['read("label:in-valid")'],
        BUCKET,
        'Role "label" identifier value is invalid: '
        "Value must be a valid string between 1 and 36 chars containing only alphanumeric chars",
    ),
    (
        ['read("label:' + "a" * 37 + '")'],
        BUCKET,
        'Role "label" identifier value is invalid: '
        "Value must be a valid string between 1 and 36 chars containing only alphanumeric chars",
    ),
    (['read("user:_1234")'], BUCKET, f'Role "user" identifier value is invalid: {KEY_MESSAGE}'),
    (['read("user:12$4")'], BUCKET, f'Role "user" identifier value is invalid: {KEY_MESSAGE}'),
    (['read("team:-1234")'], BUCKET, f'Role "team" identifier value is invalid: {KEY_MESSAGE}'),
    (['read("member:.1234")'], BUCKET, f'Role "member" identifier value is invalid: {KEY_MESSAGE}'),
    (['read("team:' + "a" * 37 + '/efgh")'], BUCKET, f'Role "team" identifier value is invalid: {KEY_MESSAGE}'),
    (['read("team:abcd/ef*gh")'], BUCKET, f'Role "team" dimension value is invalid: {KEY_MESSAGE}'),
    (['read("team:abcd/' + "a" * 37 + '")'], BUCKET, f'Role "team" dimension value is invalid: {KEY_MESSAGE}'),
    (['read("users/un/verified")'], BUCKET, "Only one dimension can be provided"),
    (['read("team:abcd//efgh")'], BUCKET, "Only one dimension can be provided"),
    (['read("team:abcd/e/fgh")'], BUCKET, "Only one dimension can be provided"),
    (['read("users/")'], BUCKET, "Dimension must not be empty"),
    (['read("team:abcd/")'], BUCKET, "Dimension must not be empty"),
    (['read("team:abcd/0")'], BUCKET, "Dimension must not be empty"),
    (['read("any/verified")'], BUCKET, 'Role "any" can not have a dimension value.'),
    (['read("member:M/x")'], BUCKET, 'Role "member" can not have a dimension value.'),
    (['read("label:vip/x")'], BUCKET, 'Role "label" can not have a dimension value.'),
    # The first bad entry is reported.
    (['read("any")', 'read("user:")', "*"], BUCKET, 'Role "user" must have an ID value.'),
]


@pytest.mark.parametrize(("value", "types", "message"), INVALID)
def test_invalid_permissions_param(value, types, message):
    with pytest.raises(AppwriteError) as error:
        validate([Param("permissions", perms.validator(types))], {"permissions": value})
    assert error.value.status == 400
    assert error.value.type == "general_argument_invalid"
    assert error.value.message == f"Invalid `permissions` param: {message}"


VALID = [
    ([], BUCKET, []),
    (['read("any")'] * 100, BUCKET, ['read("any")']),
    (['write("any")'], BUCKET, ['create("any")', 'update("any")', 'delete("any")']),
    (['write("any")'], FILE, ['update("any")', 'delete("any")']),
    (
        [
            'read("any")',
            'read("user:123")',
            'read("user:123")',
            'write("user:123")',
            'update("user:123")',
            'delete("user:123")',
        ],
        BUCKET,
        ['read("any")', 'read("user:123")', 'create("user:123")', 'update("user:123")', 'delete("user:123")'],
    ),
    (['update("team:T/owner")', 'write("team:T/owner")'], FILE, ['update("team:T/owner")', 'delete("team:T/owner")']),
    (
        [
            'read("guests")',
            'create("users/verified")',
            'read("user:u1/unverified")',
            'read("member:m.1")',
            'delete("label:vip")',
            'update("team:t_1/some-role")',
        ],
        BUCKET,
        [
            'read("guests")',
            'create("users/verified")',
            'read("user:u1/unverified")',
            'read("member:m.1")',
            'delete("label:vip")',
            'update("team:t_1/some-role")',
        ],
    ),
    # Appwrite's parser quirks, kept: extra ':' parts dropped, a "0" identifier is empty.
    (['read("user:a:b")'], BUCKET, ['read("user:a")']),
    (['read("any:0")'], BUCKET, ['read("any")']),
    (['read("any:")'], BUCKET, ['read("any")']),
    (['read("users:/verified")'], BUCKET, ['read("users/verified")']),
    (['read("any")")'], BUCKET, ['read("any")']),
    # A JSON object is a PHP array too.
    ({"a": 'read("any")', "b": 'write("user:U")'}, FILE, ['read("any")', 'update("user:U")', 'delete("user:U")']),
]


@pytest.mark.parametrize(("value", "types", "expected"), VALID)
def test_valid_permissions_are_normalised(value, types, expected):
    assert validate([Param("permissions", perms.validator(types))], {"permissions": value}) == {"permissions": expected}


def test_parse_splits_type_and_role():
    assert perms.parse('update("team:T/owner")') == perms.Permission("update", "team", "T", "owner")
    assert perms.parse('read("users/verified")') == perms.Permission("read", "users", "", "verified")
    assert perms.parse('write("label:vip")').role_string == "label:vip"
    with pytest.raises(Invalid, match="Invalid permission string format"):
        perms.parse("read")


USER = CALLERS["user"]


@pytest.mark.parametrize(
    "permissions",
    [
        [],
        ['read("any")', 'read("user:U")', 'update("users")', 'delete("user:U/unverified")', 'read("users/unverified")'],
    ],
)
def test_self_assignment_accepts_own_roles(permissions):
    perms.check_self_assignment(USER, permissions)


@pytest.mark.parametrize(
    ("roles", "permissions", "listed"),
    [
        (USER, ['read("user:notme")'], "any, users, user:U, user:U/unverified, users/unverified"),
        (USER, ['read("any")', 'update("users/verified")'], "any, users, user:U, user:U/unverified, users/unverified"),
        (CALLERS["guest"], ['read("users")'], "any, guests"),
        (CALLERS["owner"], ['delete("team:T/admin")'], ", ".join(CALLERS["owner"])),
    ],
)
def test_self_assignment_refuses_foreign_roles(roles, permissions, listed):
    with pytest.raises(AppwriteError) as error:
        perms.check_self_assignment(roles, permissions)
    assert (error.value.status, error.value.type) == (401, "user_unauthorized")
    assert error.value.message == f"Permissions must be one of: ({listed})"


def test_self_assignment_is_skipped_for_keys():
    perms.check_self_assignment(None, ['read("user:anyone")', 'delete("team:X/owner")'])


_KEYS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,35}\Z").filter(lambda s: s != "0")
_LABELS = st.from_regex(r"\A[A-Za-z0-9]{1,36}\Z").filter(lambda s: s != "0")
_USER_DIMENSION = st.sampled_from(["", *perms.USER_DIMENSIONS])
_ROLES = st.one_of(
    st.builds(perms.Permission, st.sampled_from(perms.TYPES), st.sampled_from(["any", "guests"])),
    st.builds(perms.Permission, st.sampled_from(perms.TYPES), st.just("users"), st.just(""), _USER_DIMENSION),
    st.builds(perms.Permission, st.sampled_from(perms.TYPES), st.just("user"), _KEYS, _USER_DIMENSION),
    st.builds(perms.Permission, st.sampled_from(perms.TYPES), st.just("team"), _KEYS, st.just("") | _KEYS),
    st.builds(perms.Permission, st.sampled_from(perms.TYPES), st.just("member"), _KEYS),
    st.builds(perms.Permission, st.sampled_from(perms.TYPES), st.just("label"), _LABELS),
)


@given(_ROLES)
def test_format_then_parse_round_trips(permission):
    text = str(permission)
    assert perms.parse(text) == permission
    assert perms.validate([text]) == [text]


@given(st.lists(st.text() | st.sampled_from(['read("any")', 'write("user:U")', 'update("team:T/x")']), max_size=5))
def test_validate_is_idempotent_or_refuses(values):
    try:
        normalised = perms.validate(values)
    except Invalid:
        return
    assert perms.validate(normalised) == normalised
