"""Who a file's events reach: ``storage.files.read_roles``."""

from __future__ import annotations

from nib.storage.files import read_roles

FILE = ['read("user:a/verified")', 'update("user:b")', 'delete("team:t/owner")', 'read("team:t/owner")']


def test_without_file_security_only_the_buckets_read_roles():
    bucket = {"permissions": ['create("users")', 'read("any")', 'read("label:vip")'], "file_security": False}
    assert read_roles(bucket, FILE) == ["any", "label:vip"]


def test_with_file_security_the_files_own_read_roles_too_once_each():
    bucket = {"permissions": ['read("team:t/owner")', 'update("users")'], "file_security": True}
    assert read_roles(bucket, FILE) == ["team:t/owner", "user:a/verified"]


def test_nobody_when_nothing_grants_read():
    assert read_roles({"permissions": ['create("any")'], "file_security": True}, ['update("any")']) == []
