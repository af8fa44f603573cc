"""The shared S3 test server (../shared/s3/start-s3.sh): start it, read its settings."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from bench import s3_server
from tests.support import skip_or_fail

S3_NAMES = ("S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


def run_start_s3(*args: str) -> str:
    """`bash start-s3.sh ARGS` under the machine's start lock (bench.s3_server): its output;
    skips (fails under CI) when it cannot run."""
    try:
        return s3_server.run_start_s3(*args)
    except s3_server.S3ServerError as exc:
        skip_or_fail(str(exc))


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
