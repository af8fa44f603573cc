"""The shared S3 test server (../shared/s3/start-s3.sh): start it, read its settings."""

from __future__ import annotations

import fcntl
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support import skip_or_fail

START_S3 = Path(__file__).resolve().parents[1].parent / "shared" / "s3" / "start-s3.sh"
S3_NAMES = ("S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


# Held by whoever runs start-s3.sh: scripts/test starts the server in the background (`flock -o`
# on this file: -o, or the servers start-s3.sh leaves running would inherit the lock and hold it
# for good) while the SQLite pass already runs, and a test that needs S3 waits here until that
# start has finished. start-s3.sh restarts a server it finds half up, so two starts at once could
# stop each other's. One path for the machine, as the server is one (start-s3.sh's S3_STATE_DIR).
START_LOCK = Path((os.environ.get("S3_STATE_DIR") or "/tmp/s3-swift") + ".lock")  # noqa: S108 (start-s3.sh's own default)
START_WAIT_S = 600


@contextmanager
def _start_lock() -> Iterator[None]:
    """START_LOCK held, waiting at most START_WAIT_S; without a lock file (not writable here) the
    start goes ahead as it did before the lock."""
    try:
        fd = os.open(START_LOCK, os.O_RDONLY | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        deadline = time.monotonic() + START_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    skip_or_fail(f"S3 server: {START_LOCK} still held after {START_WAIT_S} s")
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # the lock goes with it


def run_start_s3(*args: str) -> str:
    """`bash start-s3.sh ARGS`: its output; skips (fails under CI) when it cannot run."""
    if not START_S3.is_file():
        skip_or_fail(f"S3 server script not found: {START_S3}")
    try:
        with _start_lock():
            proc = subprocess.run(
                ["bash", str(START_S3), *args],
                capture_output=True,
                text=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
                check=False,
            )
    except subprocess.TimeoutExpired:
        skip_or_fail(f"S3 server: `bash {START_S3} {' '.join(args)}` did not finish in 600 s")
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-2000:]
        skip_or_fail(f"S3 server: `bash {START_S3} {' '.join(args)}` failed: {output}")
    return proc.stdout


def shared_s3_settings() -> dict[str, str]:
    """Start the shared S3 server if needed; its endpoint and credentials (`start-s3.sh env`)."""
    run_start_s3()
    found: dict[str, str] = {}
    for line in run_start_s3("env").splitlines():
        name, sep, value = line.removeprefix("export ").partition("=")
        if sep and name in S3_NAMES:
            found[name] = value.strip().strip("'\"")
    missing = [name for name in S3_NAMES if name not in found]
    if missing:
        skip_or_fail(f"S3 server: `start-s3.sh env` printed no {', '.join(missing)}")
    return found


def raw_client(env: dict[str, str]):
    """A plain boto3 client of the test server (to look behind S3Storage)."""
    return boto3.client(
        "s3",
        endpoint_url=env["S3_ENDPOINT_URL"],
        region_name=env["AWS_DEFAULT_REGION"],
        config=Config(s3={"addressing_style": "path"}),
    )


def drop_bucket(client, bucket: str) -> None:
    """Delete every key one by one (Swift's DeleteObjects wants Content-MD5), then the bucket."""
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in {"NoSuchBucket", "404"}:
            raise


@contextmanager
def s3_app_config(app_config: dict[str, Any], env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """app_config with PORTAL_STORAGE=s3 on a bucket of its own, dropped afterwards."""
    bucket = f"portal-test-{secrets.token_hex(6)}"
    try:
        yield {
            **app_config,
            "STORAGE_BACKEND": "s3",
            "S3_BUCKET": bucket,
            "S3_ENDPOINT_URL": env["S3_ENDPOINT_URL"],
            "S3_REGION": env["AWS_DEFAULT_REGION"],
        }
    finally:
        drop_bucket(raw_client(env), bucket)
