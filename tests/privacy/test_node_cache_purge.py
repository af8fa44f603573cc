"""Erasure clears every node's cache (issue 18), not only the node that runs it: two app
instances on one database, one S3 bucket and one Redis, each with a cache folder of its own.
The node that erases drops its copies at once; the other drops its copies at its next request,
from the purge list in Redis."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from portal import create_app, jobs
from portal.delivery import served_files
from portal.library.storage import node_cache
from tests.privacy.person import EMAIL, NAME, PHONE, path_of
from tests.s3_support import s3_app_config


@pytest.fixture
def app_config(app_config, s3_env, shared_redis_url, tmp_path):
    with s3_app_config(app_config, s3_env) as config:
        yield {
            **config,
            "REDIS_URL": shared_redis_url,
            "JOBS_INLINE": True,  # jobs run in the request, as in a one-machine deployment
            "INGEST_REDIS_PREFIX": f"portal-test-{uuid.uuid4().hex[:12]}",
            "RENDER_CACHE_PATH": str(tmp_path / "node-a-cache"),
        }


@pytest.fixture
def second_node(app_config, tmp_path):
    """Another app instance: same database, bucket and Redis; its own cache folder."""
    node = create_app({**app_config, "RENDER_CACHE_PATH": str(tmp_path / "node-b-cache")})
    yield node, tmp_path / "node-b-cache"
    with node.app_context():
        jobs.redis_connection().delete(node_cache._purge_list())


def naming_files(folder: Path) -> list[str]:
    """The files under folder whose bytes hold the person's name, e-mail or phone."""
    return [
        str(path)
        for path in folder.rglob("*")
        if path.is_file() and any(w.encode() in path.read_bytes() for w in (NAME, EMAIL, PHONE))
    ]


def test_erasure_clears_the_cache_of_every_node(
    app, client, api_headers, people, second_node, tmp_path
):
    admin, _rep, person, _other, sent = people
    node_b, cache_b = second_node
    cache_a = tmp_path / "node-a-cache"
    token = path_of(sent.url).split("/")[2]
    copy = served_files.resolve(token)
    keys = (copy.pdf_key(), copy.page_key(1))
    person_id = person.id

    # Node B serves the person's copy too: its disk holds its own copies.
    b_client = node_b.test_client()
    assert b_client.get(path_of(sent.url) + "/pages/1.png").status_code == 200
    assert b_client.get(path_of(sent.url) + "/download").status_code == 200
    for cache in (cache_a, cache_b):
        assert all((cache / key).is_file() for key in keys), cache

    response = client.post(f"/api/v1/customers/{person_id}/erase", headers=api_headers(admin))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert not any((cache_a / key).exists() for key in keys)  # the erasing node: at once
    assert naming_files(cache_a) == []
    assert all((cache_b / key).is_file() for key in keys)  # B has not looked yet

    # B's next request (any page) applies the purge list first; the link itself is gone.
    node_b.extensions.pop(node_cache._CHECKED, None)  # B's last look was under 5 s ago
    assert b_client.get(path_of(sent.url)).status_code == 410
    assert not any((cache_b / key).exists() for key in keys)
    assert naming_files(cache_b) == []

    # Applied once: B's position is kept in its cache folder, nothing is read again.
    with node_b.app_context():
        assert node_cache.apply_purges(force=True) == 0
