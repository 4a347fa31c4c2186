"""What happens to a file's bytes between upload and download, through the API: compression and
encryption at rest (buckets' settings, files up to 20 MB), antivirus scans with a real clamd,
image previews; on the local device and on S3 (``storage_server``)."""

from __future__ import annotations

import gzip

import pytest
import pyvips
from appwrite.exception import AppwriteException
from appwrite.id import ID
from appwrite.services.storage import Storage
from storage_support import (
    as_input,
    device_env,
    md5,
    mp4,
    new_bucket,
    png,
    storage_as_key,
    stored_objects,
    unique_id,
)

from clamav_support import HASHED_FILE, PATTERN

TEXT = b"nib keeps this text at rest compressed and encrypted, and serves it back as it was.\n" * 200


def _stored_bytes(server, bucket_id: str) -> bytes:
    (path,) = stored_objects(server, bucket_id)
    return path.read_bytes()


# -- compression and encryption -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compression", "encryption"), [("gzip", False), ("zstd", False), ("none", True), ("gzip", True), ("zstd", True)]
)
def test_stored_bytes_are_transformed_and_served_original(storage_server, storage_http, compression, encryption):
    storage = storage_as_key(storage_server)
    bucket_id = new_bucket(storage_server, compression=compression, encryption=encryption)
    created = storage.create_file(bucket_id, ID.unique(), as_input(TEXT, "notes.txt")).to_dict()
    assert (created["compression"], created["encryption"]) == (compression, encryption)
    assert (created["sizeOriginal"], created["signature"]) == (len(TEXT), md5(TEXT))
    stored = _stored_bytes(storage_server, bucket_id)
    assert created["sizeActual"] == len(stored) != len(TEXT)
    assert b"at rest compressed" not in stored  # neither plain nor merely framed
    if compression == "gzip" and not encryption:
        assert gzip.decompress(stored) == TEXT  # standard gzip on disk
    assert storage.get_file_download(bucket_id, created["$id"]) == TEXT
    ranged = storage_http.get(
        f"/storage/buckets/{bucket_id}/files/{created['$id']}/download", headers={"Range": "bytes=1000-1099"}
    )
    assert (ranged.status_code, ranged.content) == (206, TEXT[1000:1100])


def test_files_over_20_mb_are_stored_as_they_are(storage_server):
    storage = storage_as_key(storage_server)
    bucket_id = new_bucket(storage_server, compression="gzip", encryption=True)
    data = mp4(20_000_001)
    created = storage.create_file(bucket_id, ID.unique(), as_input(data, "big.mp4")).to_dict()
    assert (created["compression"], created["encryption"]) == ("none", False)
    assert created["sizeActual"] == created["sizeOriginal"] == len(data)
    assert created["signature"] == md5(data)


def test_tampered_object_is_not_served(storage_server, storage_http):
    storage = storage_as_key(storage_server)
    bucket_id = new_bucket(storage_server, encryption=True)
    file_id = storage.create_file(bucket_id, ID.unique(), as_input(TEXT, "notes.txt")).id
    (path,) = stored_objects(storage_server, bucket_id)
    damaged = bytearray(path.read_bytes())
    damaged[-20] ^= 0x01
    path.write_bytes(bytes(damaged))
    # One 64 KiB segment: its check fails before the first byte is sent, so the server answers
    # its error (a server-side data fault, logged) instead of any bytes of the file.
    response = storage_http.get(f"/storage/buckets/{bucket_id}/files/{file_id}/download")
    assert (response.status_code, response.json()["type"]) == (500, "general_unknown")


# -- antivirus ------------------------------------------------------------------------------------


def test_infected_files_are_refused_and_not_kept(storage_server, nib_with, clamd):
    nib = nib_with(**device_env(storage_server), **clamd.env())
    storage = Storage(nib.sdk())
    bucket_id = unique_id()
    storage.create_bucket(bucket_id, "Scanned", antivirus=True)
    clean = storage.create_file(bucket_id, ID.unique(), as_input(b"a clean file\n" * 100, "clean.txt"))
    assert clean.to_dict()["sizeOriginal"] == 1300
    for name, data in (("hashed.txt", HASHED_FILE), ("pattern.bin", b"x" * 70_000 + PATTERN + b"y" * 100)):
        with pytest.raises(AppwriteException) as refused:
            storage.create_file(bucket_id, ID.unique(), as_input(data, name))
        assert (refused.value.code, refused.value.type) == (403, "storage_invalid_file")
    assert storage.list_files(bucket_id).total == 1
    assert len(stored_objects(nib, bucket_id)) == 1
    unscanned = unique_id()
    storage.create_bucket(unscanned, "Not scanned", antivirus=False)
    kept = storage.create_file(unscanned, ID.unique(), as_input(HASHED_FILE, "hashed.txt")).to_dict()
    assert kept["sizeOriginal"] == len(HASHED_FILE)


def test_unreachable_clamd_is_reported_and_nothing_is_kept(storage_server, nib_with):
    nib = nib_with(
        **device_env(storage_server), NIB_CLAMAV_HOST="127.0.0.1", NIB_CLAMAV_PORT="9"
    )  # nothing listens on port 9
    storage = Storage(nib.sdk())
    bucket_id = unique_id()
    storage.create_bucket(bucket_id, "Scanned", antivirus=True)
    with pytest.raises(AppwriteException) as failed:
        storage.create_file(bucket_id, ID.unique(), as_input(b"anything", "a.txt"))
    assert (failed.value.code, failed.value.type) == (503, "general_server_error")
    assert storage.list_files(bucket_id).total == 0
    assert stored_objects(nib, bucket_id) == []


# -- previews -------------------------------------------------------------------------------------


def _image(width: int, height: int, suffix: str = ".png") -> bytes:
    return (
        pyvips.Image.black(width, height, bands=3)
        .draw_rect([255, 0, 0], 0, 0, width // 2, height, fill=True)
        .write_to_buffer(suffix)
    )


def test_previews_through_the_sdk(storage_server, storage_http):
    storage = storage_as_key(storage_server)
    bucket_id = new_bucket(storage_server)  # encrypted at rest: the preview decodes first
    file_id = storage.create_file(bucket_id, ID.unique(), as_input(_image(1200, 1200), "logo.png")).id
    rotated = storage.get_file_preview(
        bucket_id, file_id, width=300, height=100, border_radius=50, opacity=0.5, output="png", rotation=45
    )
    image = pyvips.Image.new_from_buffer(rotated, "")
    assert (image.width, image.height) == (284, 284)  # Appwrite's own test vector
    path = f"/storage/buckets/{bucket_id}/files/{file_id}/preview"
    bordered = storage_http.get(
        path, params={"width": 200, "height": 80, "borderWidth": 5, "borderColor": "ff0000", "output": "jpg"}
    )
    assert bordered.headers["content-type"] == "image/jpeg"
    image = pyvips.Image.new_from_buffer(bordered.content, "")
    assert (image.width, image.height) == (210, 90)
    assert "expires" in bordered.headers
    again = storage_http.get(
        path, params={"width": 200, "height": 80, "borderWidth": 5, "borderColor": "ff0000", "output": "jpg"}
    )
    assert again.content == bordered.content  # the cached render
    invalid = storage_http.get(path, params={"width": 5000})
    assert (invalid.status_code, invalid.json()["type"]) == (400, "general_argument_invalid")


def test_non_images_preview_as_an_icon_and_deleted_files_have_none(storage_server, storage_http):
    storage = storage_as_key(storage_server)
    bucket_id = new_bucket(storage_server)
    file_id = storage.create_file(bucket_id, ID.unique(), as_input(TEXT, "notes.txt")).id
    icon = storage_http.get(
        f"/storage/buckets/{bucket_id}/files/{file_id}/preview", params={"width": 64, "output": "png"}
    )
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/png")
    assert pyvips.Image.new_from_buffer(icon.content, "").width == 64
    storage.delete_file(bucket_id, file_id)
    gone = storage_http.get(f"/storage/buckets/{bucket_id}/files/{file_id}/preview")
    assert (gone.status_code, gone.json()["type"]) == (404, "storage_file_not_found")
    assert stored_objects(storage_server, bucket_id) == []  # the cached preview went with the file


def test_corrupt_image_is_a_clean_error(storage_server, storage_http):
    storage = storage_as_key(storage_server)
    bucket_id = new_bucket(storage_server, encryption=False)
    data = png()[:-20]  # truncated: named image/png by its header
    file_id = storage.create_file(bucket_id, ID.unique(), as_input(data, "broken.png")).id
    broken = storage_http.get(f"/storage/buckets/{bucket_id}/files/{file_id}/preview", params={"width": 10})
    assert (broken.status_code, broken.json()["type"]) == (400, "storage_file_type_unsupported")
