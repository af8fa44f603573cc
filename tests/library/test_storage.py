"""One storage suite, run against every backend: LocalStorage and S3Storage on a real S3 server.

The S3 server is the shared Swift s3api one (`../shared/s3/start-s3.sh` beside the repository);
without it the s3 cases skip locally and fail in CI. Each run uses its own bucket, which
S3Storage creates itself, and deletes every key and the bucket afterwards.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from portal.config import load_config
from portal.library.storage import (
    InvalidKey,
    LocalStorage,
    ObjectNotFound,
    S3Storage,
    Storage,
    storage_from_config,
)
from tests.s3_support import drop_bucket, raw_client

ALL_BYTES = bytes(range(256))
INVALID_KEYS = [
    "",
    ".",
    "..",
    "../x",
    "/abs",
    "a//b",
    "a/../b",
    "a/./b",
    "./a",
    "a/",
    "a\n",
    "a b",
    "a\\b",
    "报价.pdf",
    "x" * 256,
    "a/" * 256 + "b",
]


# ---- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_bucket(s3_env: dict[str, str]) -> Iterator[str]:
    """A bucket name unique to this run; S3Storage creates it on first use."""
    bucket = f"portal-test-{secrets.token_hex(6)}"
    yield bucket
    drop_bucket(raw_client(s3_env), bucket)


def _s3_storage(env: dict[str, str], bucket: str) -> S3Storage:
    return S3Storage(
        bucket=bucket, endpoint_url=env["S3_ENDPOINT_URL"], region=env["AWS_DEFAULT_REGION"]
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """Each backend in turn, empty at the start of every test."""
    if request.param == "local":
        backend: Storage = LocalStorage(tmp_path / "storage")
    else:
        env = request.getfixturevalue("s3_env")
        backend = _s3_storage(env, request.getfixturevalue("s3_bucket"))
    assert backend.list() == [], "storage must start empty"
    yield backend
    backend.delete_prefix("")


# ---- the contract, on both backends --------------------------------------------------------


def test_round_trip_of_every_byte_value(storage: Storage) -> None:
    storage.put("blobs/all-bytes.bin", ALL_BYTES)
    assert storage.get("blobs/all-bytes.bin") == ALL_BYTES
    storage.put("blobs/empty.bin", b"")
    assert storage.get("blobs/empty.bin") == b""


def test_round_trip_of_a_5mb_blob(storage: Storage) -> None:
    blob = os.urandom(5 * 1024 * 1024 + 17)
    storage.put("blobs/big.bin", blob, "application/pdf")
    assert storage.get("blobs/big.bin") == blob


def test_cjk_utf8_content_round_trips(storage: Storage) -> None:
    text = "<h1>报价单 · 见積書 · 견적서</h1><p>价格 ¥1,000 — 总经理 🙂</p>"
    storage.put("templates/1/v1-quote.html", text.encode(), "text/html; charset=utf-8")
    assert storage.get("templates/1/v1-quote.html").decode("utf-8") == text


def test_overwrite_replaces_the_content(storage: Storage) -> None:
    storage.put("doc/a.pdf", b"first version, longer than the second")
    storage.put("doc/a.pdf", b"second")
    assert storage.get("doc/a.pdf") == b"second"
    assert storage.list("doc/") == ["doc/a.pdf"]


def test_exists(storage: Storage) -> None:
    assert not storage.exists("doc/a.pdf")
    storage.put("doc/a.pdf", b"x")
    assert storage.exists("doc/a.pdf")
    assert not storage.exists("doc"), "a prefix of keys is not an object"
    assert not storage.exists("doc/a")
    storage.delete("doc/a.pdf")
    assert not storage.exists("doc/a.pdf")


def test_get_of_a_missing_key_raises_object_not_found(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        storage.get("nothing/here.pdf")
    storage.put("doc/a.pdf", b"x")
    with pytest.raises(ObjectNotFound):
        storage.get("doc")  # a "folder" of keys is no object
    with pytest.raises(ObjectNotFound):
        storage.get("doc/a.pdf/deeper")
    with pytest.raises(KeyError):  # ObjectNotFound is a KeyError
        storage.get("nothing")


def test_delete_is_idempotent(storage: Storage) -> None:
    storage.put("doc/a.pdf", b"x")
    storage.delete("doc/a.pdf")
    storage.delete("doc/a.pdf")
    storage.delete("never/stored.pdf")
    storage.delete("doc/a.pdf/deeper")
    assert storage.list() == []
    with pytest.raises(ObjectNotFound):
        storage.get("doc/a.pdf")


def test_delete_of_a_prefix_of_keys_deletes_nothing(storage: Storage) -> None:
    storage.put("doc/a.pdf", b"x")
    storage.delete("doc")
    assert storage.get("doc/a.pdf") == b"x"


def test_list_is_a_sorted_plain_string_prefix(storage: Storage) -> None:
    keys = ["a/b/2", "a0", "a/bc/3", "b", "a/b/1", "a-b", "a.b", "a/c", "a/b/sub/4"]
    for key in keys:
        storage.put(key, key.encode())
    # sorted by code point, as S3 lists: '-' < '.' < '/' < '0'
    assert storage.list() == sorted(keys)
    assert storage.list() == [
        "a-b",
        "a.b",
        "a/b/1",
        "a/b/2",
        "a/b/sub/4",
        "a/bc/3",
        "a/c",
        "a0",
        "b",
    ]
    # the interface says "every key that starts with prefix": a string prefix, like S3
    assert storage.list("a/b") == ["a/b/1", "a/b/2", "a/b/sub/4", "a/bc/3"]
    assert storage.list("a/b/") == ["a/b/1", "a/b/2", "a/b/sub/4"]
    assert storage.list("a/b/1") == ["a/b/1"]
    assert storage.list("a/b/s") == ["a/b/sub/4"]
    assert storage.list("a") == [k for k in sorted(keys) if k != "b"]
    assert storage.list("c") == []
    assert storage.list("a/x/") == []


def test_list_of_a_prefix_no_key_can_have_is_empty(storage: Storage) -> None:
    storage.put("a/b", b"x")
    for prefix in ("../", "/", "a//", "a/./", "/a", "..", "报"):
        assert storage.list(prefix) == [], prefix


def test_delete_prefix(storage: Storage) -> None:
    for key in ("cache/1/a.pdf", "cache/1/b.pdf", "cache/12/c.pdf", "cache/2/d.pdf", "keep"):
        storage.put(key, b"x")
    assert storage.delete_prefix("cache/1/") == 2
    assert storage.list() == ["cache/12/c.pdf", "cache/2/d.pdf", "keep"]
    assert storage.delete_prefix("cache/") == 2
    assert storage.delete_prefix("cache/") == 0
    assert storage.list() == ["keep"]


def _key_id(key: str) -> str:
    return repr(key) if len(key) <= 20 else f"{key[:6]!r}...({len(key)} chars)"


@pytest.mark.parametrize("key", INVALID_KEYS, ids=_key_id)
def test_invalid_keys_are_rejected(storage: Storage, key: str) -> None:
    for call in (
        lambda: storage.put(key, b"x"),
        lambda: storage.get(key),
        lambda: storage.exists(key),
        lambda: storage.delete(key),
    ):
        with pytest.raises(InvalidKey):
            call()
    assert storage.list() == []


def test_valid_keys_are_accepted(storage: Storage) -> None:
    keys = ["a", "...", "a..b", ".hidden", "A-Z_0.9/x", "x" * 255, "/".join(["s"] * 200)]
    for key in keys:
        storage.put(key, key.encode())
    for key in keys:
        assert storage.get(key) == key.encode()
    assert storage.list() == sorted(keys)


def test_concurrent_puts_of_distinct_keys(storage: Storage) -> None:
    keys = [f"concurrent/{i:03d}.bin" for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: storage.put(key, key.encode() * 100), keys))
    assert storage.list("concurrent/") == keys
    with ThreadPoolExecutor(max_workers=8) as pool:
        contents = list(pool.map(storage.get, keys))
    assert contents == [key.encode() * 100 for key in keys]


def test_readers_never_see_a_half_written_overwrite(storage: Storage) -> None:
    versions = [bytes([i]) * 200_000 for i in range(6)]
    storage.put("doc/hot.pdf", versions[0])
    seen: list[bytes] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set() and len(seen) < 200:
            seen.append(storage.get("doc/hot.pdf"))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(lambda blob: storage.put("doc/hot.pdf", blob), versions[1:] * 2))
    finally:
        done.set()
        reader.join(timeout=60)
    assert seen
    assert all(blob in versions for blob in seen)
    assert storage.get("doc/hot.pdf") in versions


# ---- backend specifics ---------------------------------------------------------------------


def test_local_unfinished_uploads_are_not_listed(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("doc/a.pdf", b"x")
    (tmp_path / "doc" / "#upload-crashed").write_bytes(b"half")
    assert storage.list() == ["doc/a.pdf"]


def test_local_symlink_out_of_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    storage = LocalStorage(tmp_path / "root")
    (tmp_path / "root" / "link").symlink_to(outside)
    with pytest.raises(InvalidKey):
        storage.get("link/secret")


@pytest.mark.s3
def test_s3_bucket_is_created_on_first_use(s3_env: dict[str, str]) -> None:
    client = raw_client(s3_env)
    bucket = f"portal-test-new-{secrets.token_hex(6)}"
    with pytest.raises(ClientError) as missing:
        client.head_bucket(Bucket=bucket)
    assert missing.value.response["Error"]["Code"] in {"404", "NoSuchBucket", "NotFound"}
    try:
        storage = _s3_storage(s3_env, bucket)
        assert not storage.exists("first/key.bin")
        storage.put("first/key.bin", b"hello")
        client.head_bucket(Bucket=bucket)
        assert storage.get("first/key.bin") == b"hello"
    finally:
        drop_bucket(client, bucket)


@pytest.mark.s3
def test_s3_a_second_instance_sees_the_same_objects(s3_env: dict[str, str], s3_bucket: str) -> None:
    first = _s3_storage(s3_env, s3_bucket)
    second = _s3_storage(s3_env, s3_bucket)
    try:
        first.put("shared/a.bin", ALL_BYTES)
        assert second.exists("shared/a.bin")
        assert second.get("shared/a.bin") == ALL_BYTES
        assert second.list("shared/") == ["shared/a.bin"]
        second.put("shared/a.bin", b"changed by the second")
        assert first.get("shared/a.bin") == b"changed by the second"
        second.delete("shared/a.bin")
        assert not first.exists("shared/a.bin")
    finally:
        first.delete_prefix("shared/")


@pytest.mark.s3
def test_s3_keeps_the_content_type(s3_env: dict[str, str], s3_bucket: str) -> None:
    storage = _s3_storage(s3_env, s3_bucket)
    try:
        storage.put("typed/quote.html", "报价".encode(), "text/html; charset=utf-8")
        head = raw_client(s3_env).head_object(Bucket=s3_bucket, Key="typed/quote.html")
        assert head["ContentType"] == "text/html; charset=utf-8"
        assert head["ContentLength"] == len("报价".encode())
    finally:
        storage.delete_prefix("typed/")


@pytest.mark.s3
def test_s3_list_follows_every_page(
    s3_env: dict[str, str], s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = _s3_storage(s3_env, s3_bucket)
    keys = [f"paged/{i}" for i in range(5)]
    for key in keys:
        storage.put(key, b"")
    get_paginator = storage._client.get_paginator

    def two_per_page(name: str):  # a real server's page holds 1000 keys: make it hold 2
        paginator = get_paginator(name)
        paginate = paginator.paginate
        paginator.paginate = lambda **kw: paginate(PaginationConfig={"PageSize": 2}, **kw)
        return paginator

    requests: list[str] = []
    storage._client.meta.events.register(
        "before-call.s3.ListObjectsV2", lambda **_: requests.append("list")
    )
    monkeypatch.setattr(storage._client, "get_paginator", two_per_page)
    try:
        assert storage.list("paged/") == keys
        assert len(requests) == 3
    finally:
        for key in keys:
            storage.delete(key)


# ---- choosing the backend from configuration ------------------------------------------------


def test_storage_from_config_defaults_to_local(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    for name in ("PORTAL_STORAGE", "PORTAL_STORAGE_PATH"):
        monkeypatch.delenv(name, raising=False)
    storage = storage_from_config(load_config())
    assert isinstance(storage, LocalStorage)
    assert storage.root == (tmp_path / "instance" / "storage").resolve()


def test_storage_from_config_picks_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("PORTAL_STORAGE", "s3")
    monkeypatch.setenv("PORTAL_S3_BUCKET", "portal-config-test")
    monkeypatch.setenv("PORTAL_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    storage = storage_from_config(load_config())  # builds a client; no request is made
    assert isinstance(storage, S3Storage)
    assert storage.bucket == "portal-config-test"
    assert storage._client.meta.endpoint_url == "http://127.0.0.1:9"
    assert storage._client.meta.region_name == "eu-west-1"


def test_storage_from_config_accepts_any_case(tmp_path: Path) -> None:
    config = {"STORAGE_BACKEND": " Local ", "STORAGE_LOCAL_PATH": str(tmp_path)}
    assert isinstance(storage_from_config(config), LocalStorage)


def test_storage_from_config_rejects_an_unknown_backend(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("PORTAL_STORAGE", "ftp")
    with pytest.raises(ValueError, match=r"'ftp'.*PORTAL_STORAGE must be 'local' or 's3'"):
        storage_from_config(load_config())
