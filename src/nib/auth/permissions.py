"""Appwrite permissions: validating permission strings and deciding access.

A permission is ``<type>("<role>")``: type ``create read update delete`` (``write`` is accepted on
input and expanded), role one of ``any``, ``guests``, ``users[/verified|/unverified]``,
``user:ID[/verified|/unverified]``, ``team:ID[/ROLE]``, ``member:ID``, ``label:NAME``.
Parsing follows utopia-php/database 0.52 (``Permission::parse``, ``Validator\\Permissions``)
quirks included, so every message is Appwrite's.

A caller's roles are role strings (``auth.roles``), e.g. ``["any", "users", "user:U",
"user:U/verified", "users/verified", "team:T", "member:M", "team:T/owner", "label:L"]``.
``roles=None`` means a privileged caller (API key): every check here passes and no SQL filter
applies. A permission grants an action when its role string is exactly one of the caller's roles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..tools.errors import AppwriteError
from ..tools.validators import KEY_DESCRIPTION, Invalid, Validator, is_key, is_label

TYPES = ("create", "read", "update", "delete")  # Database::PERMISSIONS, in Appwrite's order
WRITE = "write"  # alias of create + update + delete
ALL_TYPES = (*TYPES, WRITE)  # what buckets accept
FILE_TYPES = ("read", "update", "delete", WRITE)  # files are never "created" by permission
MAX_PERMISSIONS = 100  # APP_LIMIT_ARRAY_PARAMS_SIZE

ROLE_NAMES = ("any", "guests", "users", "user", "team", "member", "label")
USER_DIMENSIONS = ("verified", "unverified")

_LABEL_DESCRIPTION = "Value must be a valid string between 1 and 36 chars containing only alphanumeric chars"


@dataclass(frozen=True)
class _RoleRule:
    identifier: bool  # allowed (and then required)
    dimension: bool
    dimensions: tuple[str, ...] | None = None  # None: any Key


_RULES = {
    "any": _RoleRule(identifier=False, dimension=False),
    "guests": _RoleRule(identifier=False, dimension=False),
    "users": _RoleRule(identifier=False, dimension=True, dimensions=USER_DIMENSIONS),
    "user": _RoleRule(identifier=True, dimension=True, dimensions=USER_DIMENSIONS),
    "team": _RoleRule(identifier=True, dimension=True),
    "member": _RoleRule(identifier=True, dimension=False),
    "label": _RoleRule(identifier=True, dimension=False),
}


def _empty(value: str) -> bool:
    """PHP's ``empty()`` on a string: ``"0"`` counts as empty, as in Appwrite."""
    return value in ("", "0")


@dataclass(frozen=True)
class Permission:
    """One parsed permission; ``str()`` gives the normalised ``read("user:U")`` form."""

    type: str
    role: str
    identifier: str = ""
    dimension: str = ""

    @property
    def role_string(self) -> str:
        """``user:U/verified`` etc. (Role::toString: empty parts are left out)."""
        text = self.role
        if not _empty(self.identifier):
            text += ":" + self.identifier
        if not _empty(self.dimension):
            text += "/" + self.dimension
        return text

    def __str__(self) -> str:
        return f'{self.type}("{self.role_string}")'


def parse(permission: str) -> Permission:
    """Split ``<type>("<role>")`` like Permission::parse; raises ``Invalid`` on a bad shape.

    The role is not checked against the role rules here (``validate`` does that). As in Appwrite,
    a second ``:`` part is dropped (``user:a:b`` is ``user:a``) and every ``")`` is removed.
    """
    parts = permission.split('("')
    if len(parts) != 2:
        raise Invalid(f'Invalid permission string format: "{permission}".')
    type_, rest = parts
    if type_ not in ALL_TYPES:
        raise Invalid(f'Invalid permission type: "{type_}".')
    full = rest.replace('")', "")
    role_parts = full.split(":")
    has_identifier = len(role_parts) > 1
    if "/" not in full:
        return Permission(type_, role_parts[0], role_parts[1] if has_identifier else "")
    dimension_parts = (role_parts[1] if has_identifier else full).split("/")
    if len(dimension_parts) != 2:
        raise Invalid("Only one dimension can be provided")
    if _empty(dimension_parts[1]):
        raise Invalid("Dimension must not be empty")
    if has_identifier:
        return Permission(type_, role_parts[0], dimension_parts[0], dimension_parts[1])
    return Permission(type_, dimension_parts[0], "", dimension_parts[1])


def _check_role(permission: Permission) -> None:
    """Roles::isValidRole: the role's identifier and dimension rules, first failure raised."""
    role, identifier, dimension = permission.role, permission.identifier, permission.dimension
    rule = _RULES.get(role)
    if rule is None:
        raise Invalid(f'Role "{role}" is not allowed. Must be one of: {", ".join(ROLE_NAMES)}.')
    if not rule.identifier and not _empty(identifier):
        raise Invalid(f'Role "{role}" can not have an ID value.')
    if rule.identifier and _empty(identifier):
        raise Invalid(f'Role "{role}" must have an ID value.')
    if rule.identifier:
        if role == "label":
            if not is_label(identifier):
                raise Invalid(f'Role "{role}" identifier value is invalid: {_LABEL_DESCRIPTION}')
        elif not is_key(identifier):
            raise Invalid(f'Role "{role}" identifier value is invalid: {KEY_DESCRIPTION}')
    if _empty(dimension):
        return
    if not rule.dimension:
        raise Invalid(f'Role "{role}" can not have a dimension value.')
    if rule.dimensions is not None and dimension not in rule.dimensions:
        raise Invalid(f'Role "{role}" dimension value is invalid. Must be one of: {", ".join(rule.dimensions)}.')
    if not is_key(dimension):
        raise Invalid(f'Role "{role}" dimension value is invalid: {KEY_DESCRIPTION}')


def validate(value: Any, allowed_types: Sequence[str] = ALL_TYPES, max_items: int = MAX_PERMISSIONS) -> list[str]:
    """Validate a ``permissions`` param and return it normalised.

    Raises ``Invalid`` with Appwrite's message for the first bad entry. ``write`` expands to
    those of create/update/delete that ``allowed_types`` holds; duplicates are dropped, first
    occurrence kept. A JSON object counts as the list of its values (a PHP array).
    """
    if isinstance(value, dict):
        value = list(value.values())
    if not isinstance(value, list):
        raise Invalid("Permissions must be an array of strings.")
    if len(value) > max_items:
        raise Invalid(f"You can only provide up to {max_items} permissions.")
    prefixes = tuple(allowed_types)
    parsed = []
    for item in value:
        if not isinstance(item, str):
            raise Invalid("Every permission must be of type string.")
        if item == "*":
            raise Invalid('Wildcard permission "*" has been replaced. Use "any" instead.')
        if "role:" in item:
            raise Invalid(
                'Permissions using the "role:" prefix have been replaced. Use "users", "guests", or "any" instead.'
            )
        # Appwrite checks only the prefix here; parse() then rejects e.g. "readx(...)".
        if not item.startswith(prefixes):
            raise Invalid(f'Permission "{item}" is not allowed. Must be one of: {", ".join(allowed_types)}.')
        permission = parse(item)
        _check_role(permission)
        parsed.append(permission)
    return list(dict.fromkeys(_expand(parsed, allowed_types)))


def _expand(permissions: Iterable[Permission], allowed_types: Sequence[str]) -> Iterable[str]:
    """Permission::aggregate: ``write`` becomes its allowed sub-types, the rest normalised."""
    for permission in permissions:
        if permission.type != WRITE:
            yield str(permission)
            continue
        for sub_type in ("create", "update", "delete"):
            if sub_type in allowed_types:
                yield str(replace(permission, type=sub_type))


def validator(allowed_types: Sequence[str] = ALL_TYPES) -> Validator:
    """A route-param validator: ``Param("permissions", permissions.validator(FILE_TYPES))``.

    The pipeline reports failures as 400 ``Invalid `permissions` param: <message>``.
    """

    def check(value: Any) -> list[str]:
        return validate(value, allowed_types)

    return check


def _check_action(action: str) -> None:
    if action not in TYPES:
        raise ValueError(f"unknown permission action {action!r}")


def granting(roles: Iterable[str] | None, action: str) -> list[str] | None:
    """The normalised permission strings that grant ``action`` to a caller with ``roles``.

    For list queries: keep each resource's (normalised) permissions in a side table indexed on
    ``(project_id, permission, resource)`` and select rows with
    ``EXISTS (… WHERE permission IN :granting)`` — one index probe per role, whatever the table
    size (Appwrite's ``_perms`` tables). ``None`` (privileged caller) means "no filter".
    """
    _check_action(action)
    if roles is None:
        return None
    return [f'{action}("{role}")' for role in dict.fromkeys(roles)]


def allowed(roles: Iterable[str] | None, permissions: Iterable[str], action: str) -> bool:
    """May a caller holding ``roles`` do ``action`` to a resource with ``permissions``?

    ``action`` is one of create/read/update/delete; ``roles=None`` (API key) is always allowed.
    Stored permissions are normalised, but an unexpanded ``write("…")`` still grants
    create/update/delete.
    """
    _check_action(action)
    if roles is None:
        return True
    held = tuple(roles)
    types = (action,) if action == "read" else (action, WRITE)
    accepted = {f'{type_}("{role}")' for type_ in types for role in held}
    return any(permission in accepted for permission in permissions)


def check_self_assignment(roles: Iterable[str] | None, permissions: Iterable[str]) -> None:
    """A non-privileged caller may only grant roles it holds itself.

    Raises 401 ``user_unauthorized`` ``Permissions must be one of: (<roles>)``, listing ``roles``
    in the order given: pass them in Appwrite's order (``any``, ``users``, ``user:U``,
    ``user:U/<dimension>``, ``users/<dimension>``, then per membership ``team:T``, ``member:M``,
    ``team:T/<role>``…, then ``label:L``…; a guest: ``any``, ``guests``) for an identical message.
    ``permissions`` are validated strings; ``roles=None`` (API key) skips the check.
    """
    if roles is None:
        return
    held = list(dict.fromkeys(roles))
    held_set = set(held)
    for permission in permissions:
        if parse(permission).role_string not in held_set:
            raise AppwriteError("user_unauthorized", f"Permissions must be one of: ({', '.join(held)})")
