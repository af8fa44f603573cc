"""Issue 16, item 2: nginx in front of gunicorn (deploy/nginx/portal.conf, run as a subprocess
with its own ports, pid and logs), PORTAL_DOWNLOADS=presigned on S3 (the shared test server).

One deployment for the module (it costs a few seconds): a file this node has a copy of goes out
through X-Accel-Redirect, with the app's headers and exactly one doc.downloaded; a revoked link
is refused; the internal location cannot be asked for from outside; a file the node has no
copy of is a redirect to a presigned S3 URL that serves the bytes and stops working after its
few seconds.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.documents import noise_pdf
from portal.delivery.sending import content_disposition
from portal.delivery.viewer import download_filename
from tests.deploy.portal_nginx import REP, Deployment, deployment
from tests.multinode.cluster import Browser, drop_bucket, s3_storage_env
from tests.s3_support import shared_s3_settings
from tests.support import wait_until

# PostgreSQL pass only: the topology under test (nginx in front of gunicorn) is production's,
# and it does not change with the database; on SQLite it would repeat the same 45 s.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.long(seconds=15),
    pytest.mark.xdist_group("nginx"),  # one deployment for the module (run)
]

PDF = noise_pdf(pages=1)  # about 200 kB that do not compress
PRESIGNED_SECONDS = 2


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    settings = shared_s3_settings()
    bucket = f"portal-nginx-{secrets.token_hex(5)}"
    try:
        with deployment(
            tmp_path_factory.mktemp("nginx"),
            PDF,
            storage=s3_storage_env(settings, bucket),
            PORTAL_DOWNLOADS="presigned",
            PORTAL_DOWNLOADS_PRESIGNED_SECONDS=str(PRESIGNED_SECONDS),
        ) as deployed:
            yield deployed
    finally:
        drop_bucket(settings, bucket)


def cache_root(run: Deployment) -> Path:
    return Path(run.env["PORTAL_RENDER_CACHE_PATH"])


def cached_copies(run: Deployment) -> list[Path]:
    cache = cache_root(run)
    return [path for path in cache.rglob("*") if path.is_file() and not path.name.startswith(".")]


def put_in_cache(run: Deployment, path: str) -> None:
    """Give the node its copy of the download (presigned mode does not fetch it): its key is
    the presigned URL's path after the bucket."""
    answer = Browser().get(run.base + path)
    if answer.status == 200:
        return  # an earlier test's copy of the same file (one template, one stored PDF)
    assert answer.status == 302, (answer.status, answer.data[:300])
    key = urlsplit(answer.headers["Location"]).path.lstrip("/").split("/", 1)[1]
    target = cache_root(run) / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(PDF)


def test_a_tracked_download_through_nginx_is_the_file_with_the_apps_headers(run):
    _delivery, path = run.send()
    put_in_cache(run, path)
    before = run.downloads()

    answer = Browser().get(run.base + path)

    assert answer.status == 200, (answer.status, answer.data[:300], run.proxy.error_log())
    assert answer.data == PDF
    headers = answer.headers
    assert "X-Accel-Redirect" not in headers
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == content_disposition(
        download_filename("产品手册"), True
    )
    assert headers["Content-Length"] == str(len(PDF))
    assert headers["Cache-Control"] == "private, no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Robots-Tag"] == "noindex, nofollow"
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
    assert headers.get("Content-Encoding") is None
    assert run.downloads() == before + 1

    ranged = Browser().get(run.base + path, headers={"Range": "bytes=0-99"})
    assert ranged.status == 206 and ranged.data == PDF[:100]  # nginx serves ranges to phones


def test_the_internal_location_is_not_reachable_from_outside(run):
    _delivery, path = run.send()
    put_in_cache(run, path)
    copies = cached_copies(run)
    root = cache_root(run)
    for copy in copies[:3]:
        relative = copy.relative_to(root).as_posix()
        assert Browser().get(f"{run.base}/_accel/cache/{relative}").status == 404
    assert Browser().get(f"{run.base}/_accel/storage/").status == 404


def test_a_revoked_link_is_refused_through_nginx(run):
    delivery, path = run.send()
    assert Browser().get(run.base + path).status in (200, 302)
    before = run.downloads()

    run.api(REP, "POST", f"/api/v1/deliveries/{delivery}/revoke", json={})

    # the link cache: within a second (polled with room for a loaded machine)
    wait_until(lambda: Browser().get(run.base + path).status == 410, 15, "the refusal")
    assert run.downloads() == before


def test_without_a_local_copy_presigned_mode_redirects_to_s3_for_a_few_seconds(run):
    _delivery, path = run.send()
    for copy in cached_copies(run):
        copy.unlink()
    before = run.downloads()

    answer = Browser().get(run.base + path)

    assert answer.status == 302, (answer.status, answer.data[:300])
    assert "no-store" in answer.headers["Cache-Control"]
    location = answer.headers["Location"]
    assert location.startswith(run.env["PORTAL_S3_ENDPOINT_URL"])
    assert parse_qs(urlsplit(location).query)["X-Amz-Expires"] == [str(PRESIGNED_SECONDS)]
    assert run.downloads() == before + 1
    assert not cached_copies(run)  # the node neither fetched nor kept it

    fetched = Browser().get(location)
    assert fetched.status == 200, fetched.data[:300]
    assert fetched.data == PDF
    assert fetched.headers["Content-Type"] == "application/pdf"
    assert "attachment" in fetched.headers["Content-Disposition"]

    wait_until(lambda: Browser().get(location).status == 403, 30, "the presigned URL to expire")
