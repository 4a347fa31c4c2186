"""The export format's writer and reader (operations/exchange.py), on plain files."""

from __future__ import annotations

import hashlib
import json
import tarfile

import pytest

from nib.operations.exchange import ExportReader, ExportWriter

PROJECT = {"$id": "p1", "name": "One"}


def _write(root, *, archive=False):
    writer = ExportWriter(root, project=PROJECT, kinds=["users", "files", "buckets"])
    writer.add("users", {"$id": "u1", "name": "Ann"})
    writer.add("users", {"$id": "u2", "name": "Bob"})
    writer.add("buckets", {"$id": "b1"})
    size, md5 = writer.write_object("b1", "f1", [b"hello ", b"world"])
    writer.add("files", {"$id": "f1", "bucketId": "b1", "signature": md5, "sizeOriginal": size})
    writer.finish(archive=archive)
    return size, md5


@pytest.mark.parametrize("form", ["directory", "tar"])
def test_round_trip(tmp_path, form):
    root = tmp_path / ("out.tar" if form == "tar" else "out")
    size, md5 = _write(root)
    assert (size, md5) == (11, hashlib.md5(b"hello world").hexdigest())
    if form == "tar":
        assert tarfile.open(root).getnames()[0] == "export.json"
        assert not (tmp_path / "out.tar.partial").exists()
    with ExportReader(root) as reader:
        assert reader.header["format"] == "nib-export" and reader.header["version"] == 1
        assert reader.header["project"] == PROJECT
        assert reader.header["kinds"] == ["users", "buckets", "files"]
        assert reader.header["counts"] == {"users": 2, "buckets": 1, "files": 1}
        assert [r["$id"] for r in reader.records("users")] == ["u1", "u2"]
        assert list(reader.records("teams")) == []
        assert b"".join(reader.object_chunks("b1", "f1")) == b"hello world"


def test_archive_flag_packs_a_directory_root(tmp_path):
    _write(tmp_path / "out", archive=True)
    assert not (tmp_path / "out").exists()
    with ExportReader(tmp_path / "out.tar") as reader:
        assert reader.header["counts"]["users"] == 2


def test_reopened_writer_starts_records_over_and_keeps_objects(tmp_path):
    root = tmp_path / "out"
    first = ExportWriter(root, project=PROJECT, kinds=["users", "files"])
    first.add("users", {"$id": "u1"})
    size, md5 = first.write_object("b1", "f1", [b"abc"])
    # interrupted here: no finish, so no header
    with pytest.raises(ValueError, match="not a finished nib export"):
        ExportReader(root)
    again = ExportWriter(root, project=PROJECT, kinds=["users", "files"])
    assert again.has_object("b1", "f1", size, md5)
    assert not again.has_object("b1", "f1", size, hashlib.md5(b"abd").hexdigest())
    assert not again.has_object("b1", "f2", size, md5)
    again.add("users", {"$id": "u1"})
    again.finish()
    with ExportReader(root) as reader:
        assert [r["$id"] for r in reader.records("users")] == ["u1"]


def test_reader_refuses_newer_versions_and_other_formats(tmp_path):
    root = tmp_path / "out"
    _write(root)
    header = json.loads((root / "export.json").read_text())
    (root / "export.json").write_text(json.dumps({**header, "version": 2}))
    with pytest.raises(ValueError, match="version 2, newer than this nib reads"):
        ExportReader(root)
    (root / "export.json").write_text(json.dumps({**header, "format": "something"}))
    with pytest.raises(ValueError, match="is not a nib export"):
        ExportReader(root)
    (tmp_path / "plain.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ValueError, match="neither a nib export directory nor a tar archive"):
        ExportReader(tmp_path / "plain.tar")
    with pytest.raises(ValueError, match="does not exist"):
        ExportReader(tmp_path / "missing")


def test_ids_must_be_keys(tmp_path):
    writer = ExportWriter(tmp_path / "out", project=PROJECT, kinds=["files"])
    with pytest.raises(ValueError, match="not a valid bucket or file ID"):
        writer.write_object("..", "f1", [b"x"])
    with pytest.raises(ValueError, match="not part of this export"):
        writer.add("users", {})


def test_writer_refuses_a_directory_of_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"holds files of no export \(notes.txt\)"):
        ExportWriter(tmp_path, project=PROJECT, kinds=["users"])
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "users.jsonl").exists()
    (tmp_path / "out.tar").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        ExportWriter(tmp_path / "out.tar", project=PROJECT, kinds=["users"])
