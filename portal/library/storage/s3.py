from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from portal.library.storage.base import ObjectNotFound, Storage, check_key

_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3Storage(Storage):
    """Blobs in one S3 bucket (AWS or any S3-compatible server), created when missing.

    Credentials come from the standard AWS_* variables. Path-style addressing works with
    servers that have no wildcard DNS (MinIO, Swift s3api, Ceph).
    """

    presigns = True

    def __init__(self, bucket: str, endpoint_url: str | None = None, region: str = "us-east-1"):
        self.bucket = bucket
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",  # presigned URLs carry X-Amz-Expires
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
                # Swift's s3api knows no additional-checksum headers.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        self._region = region
        self._bucket_ready = False
        self._lock = threading.Lock()

    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._lock:
            if self._bucket_ready:
                return
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if exc.response["Error"]["Code"] not in _MISSING | {"NoSuchBucket"}:
                    raise
                kwargs: dict[str, Any] = {"Bucket": self.bucket}
                if self._region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self._region}
                try:
                    self._client.create_bucket(**kwargs)
                except ClientError as create_exc:
                    code = create_exc.response["Error"]["Code"]
                    if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                        raise
            self._bucket_ready = True

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        check_key(key)  # before any request: a bad key never reaches the server
        self._ensure_bucket()
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        check_key(key)
        self._ensure_bucket()
        try:
            obj = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _MISSING:
                raise ObjectNotFound(key) from None
            raise
        return obj["Body"].read()

    def exists(self, key: str) -> bool:
        check_key(key)
        self._ensure_bucket()
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in _MISSING:
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        # One key at a time: Swift's DeleteObjects wants a Content-MD5 that boto3 no longer sends.
        check_key(key)
        self._ensure_bucket()
        self._client.delete_object(Bucket=self.bucket, Key=key)

    def presigned_url(
        self, key: str, seconds: int, *, disposition: str, content_type: str, cache_control: str
    ) -> str:
        """A GET URL for key, good for `seconds`, that answers with these headers (S3's
        response-content-* overrides): what PORTAL_DOWNLOADS=presigned redirects a customer to
        (portal.delivery.sending). Signed here, no request to the server."""
        check_key(key)
        return self._client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseContentType": content_type,
                "ResponseCacheControl": cache_control,
                "ResponseContentDisposition": disposition,
            },
            ExpiresIn=seconds,
        )

    def list(self, prefix: str = "") -> list[str]:
        self._ensure_bucket()
        keys: list[str] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return sorted(keys)
