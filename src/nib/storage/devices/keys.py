"""The path rules every device enforces, so a bad key fails the same way on disk and on S3."""

from __future__ import annotations


def check_path(path: str) -> str:
    """``path`` itself, or ``ValueError`` when it is absolute or has an empty segment or one that
    starts with a dot: ``..`` could leave the store's root, and dot names are the devices' own
    scratch entries (``.parts``, ``.tmp-*``)."""
    # Paths are built by nib from validated IDs; anything else is a bug, not user input.
    if any(not segment or segment.startswith(".") for segment in path.split("/")):
        raise ValueError(f"bad storage path: {path!r}")
    return path


def check_prefix(prefix: str) -> str:
    """The directory-like ``prefix`` with exactly one trailing slash: ``"a/b"`` and ``"a/b/"``
    both cover ``a/b/...`` and never ``a/bc``. An empty prefix (the whole store) is refused."""
    return check_path(prefix.rstrip("/")) + "/"
