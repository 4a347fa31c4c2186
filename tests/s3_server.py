"""An S3-compatible server on loopback for tests: moto's server in its own process, reached over
HTTP like any object store (a separate process, so its memory and GIL stay out of the tests'
measurements), plus the settings and a fresh bucket to point nib's S3 device at it."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import boto3

from live_server import free_port, wait_listening
from nib.tools.config import Settings

ACCESS_KEY = SECRET_KEY = "testing"  # moto accepts any credentials
REGION = "us-east-1"


@contextmanager
def moto_server() -> Iterator[str]:
    """Run ``moto.server`` on a free loopback port; yields its endpoint URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_listening(process, port, 30):
            raise RuntimeError("moto server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def s3_settings(endpoint: str, bucket: str) -> Settings:
    """Settings selecting the S3 device on ``endpoint``'s ``bucket``."""
    return Settings(
        storage_device="s3",
        s3_endpoint=endpoint,
        s3_region=REGION,
        s3_bucket=bucket,
        s3_access_key=ACCESS_KEY,
        s3_secret_key=SECRET_KEY,
    )


def s3_env(endpoint: str, bucket: str) -> dict[str, str]:
    """The NIB_* variables of a nib storing its files in ``endpoint``'s ``bucket``."""
    return {
        "NIB_STORAGE_DEVICE": "s3",
        "NIB_S3_ENDPOINT": endpoint,
        "NIB_S3_REGION": REGION,
        "NIB_S3_BUCKET": bucket,
        "NIB_S3_ACCESS_KEY": ACCESS_KEY,
        "NIB_S3_SECRET_KEY": SECRET_KEY,
    }


def new_bucket(endpoint: str):
    """Create a uniquely named bucket; returns its name and an admin client for inspecting it."""
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY
    )
    name = f"nib-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    return name, client
