"""The path rules every device enforces, so a bad key fails the same way on disk and on S3."""

from __future__ import annotations


def check_path(path: str) -> str:
    """``path`` itself, or ``ValueError`` when it could leave the store's root or name the
    devices' own scratch entries (which start with a dot)."""
    # Paths are built by nib from validated IDs; anything else is a bug, not user input.
    segments = path.split("/")
    if not path or path.startswith(("/", ".")) or ".." in segments or "" in segments[:-1]:
        raise ValueError(f"bad storage path: {path!r}")
    return path


def check_prefix(prefix: str) -> str:
    """The directory-like ``prefix`` with exactly one trailing slash: ``"a/b"`` and ``"a/b/"``
    both cover ``a/b/...`` and never ``a/bc``. An empty prefix (the whole store) is refused."""
    return check_path(prefix.rstrip("/")) + "/"
