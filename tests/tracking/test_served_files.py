"""The tracked download and page images: one lookup, live link checks, the file from local
disk (a read-through cache for S3), `doc.downloaded` queued with Redis and stored once."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.delivery import link_cache
from portal.delivery import services as delivery_services
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.library.rendering import render_version_pdf
from portal.library.storage import S3Storage
from portal.tracking import ingest_queue
from portal.tracking.models import Event, EventType
from tests.delivery.helpers import make_delivery
from tests.s3_support import s3_app_config
from tests.support import skip_or_fail, wait_until

BROWSER = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"}
REDIS_URL = "redis://127.0.0.1:6379/0"


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def downloads() -> int:
    db.session.expire_all()
    return db.session.scalar(
        select(func.count()).select_from(Event).where(Event.type == EventType.DOC_DOWNLOADED)
    )


def expected_pdf(delivery_id: int) -> bytes:
    delivery = db.session.get(Delivery, delivery_id)
    return render_version_pdf(
        delivery_services.current_version(delivery), delivery_services.variables_for(delivery)
    )


@pytest.fixture
def sent(world):
    # The rendered copy itself: a quote is watermarked unless the rep says otherwise
    # (tests/delivery/test_watermarked_downloads.py checks the stamped one).
    return make_delivery(world.rep, world.customer, world.template, watermark=False)


def test_the_download_is_the_customer_copy_and_is_recorded(client, sent):
    response = client.get(_path(sent.url) + "/download", headers=BROWSER)

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.get_data() == expected_pdf(sent.delivery.id)
    assert response.headers["Cache-Control"] == "private, no-store"
    assert "attachment" in response.headers["Content-Disposition"]
    assert downloads() == 1
    [event] = db.session.scalars(select(Event).where(Event.type == EventType.DOC_DOWNLOADED))
    assert event.delivery_id == sent.delivery.id
    assert event.properties == {"version": 1}


def test_one_request_sent_twice_by_the_proxy_is_one_download(app, client, sent, monkeypatch):
    """nginx sends a request again, with its same X-Request-Id, when the upstream connection
    broke before the answer (a gunicorn worker killed mid-request): recorded once."""
    path = _path(sent.url) + "/download"
    retried = {**BROWSER, "X-Request-Id": "0f" * 16}
    monkeypatch.setitem(app.config, "PROXY_FIX", 1)

    assert client.get(path, headers=retried).status_code == 200
    assert client.get(path, headers=retried).status_code == 200  # the proxy's second try
    assert downloads() == 1
    assert client.get(path, headers={**BROWSER, "X-Request-Id": "1e" * 16}).status_code == 200
    assert client.get(path, headers=BROWSER).status_code == 200  # no id: a download of its own
    assert downloads() == 3


def test_without_a_proxy_in_front_a_request_id_counts_for_nothing(app, client, sent):
    """Without PORTAL_PROXY_FIX the header is the client's own: two downloads are two."""
    path = _path(sent.url) + "/download"
    header = {**BROWSER, "X-Request-Id": "0f" * 16}

    assert client.get(path, headers=header).status_code == 200
    assert client.get(path, headers=header).status_code == 200
    assert downloads() == 2


def test_a_robot_gets_the_file_and_records_nothing(client, sent):
    response = client.get(_path(sent.url) + "/download", headers={"User-Agent": "curl/8.0"})
    assert response.status_code == 200
    assert downloads() == 0


def test_a_download_is_refused_at_once_after_the_revoke(client, world, sent):
    url = _path(sent.url)
    assert client.get(url + "/download", headers=BROWSER).status_code == 200
    assert client.get(url + "/pages/1.png", headers=BROWSER).status_code == 200
    delivery_services.revoke(world.rep, sent.delivery.id)
    jobs.commit()

    assert client.get(url + "/download", headers=BROWSER).status_code == 410
    assert client.get(url + "/pages/1.png", headers=BROWSER).status_code == 410
    assert downloads() == 1


def test_a_delivery_without_downloads_answers_403(client, world):
    sent = make_delivery(world.rep, world.customer, world.template, allow_download=False)
    assert client.get(_path(sent.url) + "/download", headers=BROWSER).status_code == 403
    assert downloads() == 0


def test_a_page_image_has_a_content_etag_and_answers_304(client, sent):
    url = _path(sent.url) + "/pages/2.png"
    first = client.get(url, headers=BROWSER)
    assert first.status_code == 200
    assert first.mimetype == "image/png"
    assert first.get_data().startswith(b"\x89PNG")
    etag = first.headers["ETag"]
    again = client.get(url, headers={**BROWSER, "If-None-Match": etag})
    assert again.status_code == 304
    other = client.get(_path(sent.url) + "/pages/1.png", headers=BROWSER)
    assert other.headers["ETag"] != etag
    assert client.get(_path(sent.url) + "/pages/3.png", headers=BROWSER).status_code == 404


def test_a_new_version_is_downloaded_at_once(client, world):
    """`latest` policy: the file follows the newest published version, no stale copy."""
    from portal.library import services as library

    sent = make_delivery(
        world.rep, world.customer, world.template, version_policy="latest", watermark=False
    )

    before = client.get(_path(sent.url) + "/download", headers=BROWSER).get_data()
    library.add_version(
        world.template,
        world.marketing,
        filename="doc.html",
        data=b"<!doctype html><html><body><p>Version two</p></body></html>",
        changelog="v2",
    )
    jobs.commit()
    after = client.get(_path(sent.url) + "/download", headers=BROWSER)
    assert after.status_code == 200
    assert after.get_data() != before
    assert after.get_data() == expected_pdf(sent.delivery.id)


# -- with Redis: the event is queued, stored by the applier once ---------------------------------


@pytest.fixture
def redis_on(app, sent, monkeypatch):
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except RedisConnectionError as exc:
        skip_or_fail(f"Redis at {REDIS_URL} unreachable: {exc}")
    prefix = f"portal-test-{uuid.uuid4().hex[:12]}"
    queue_name = f"portal-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setitem(app.config, "INGEST_REDIS_PREFIX", prefix)
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    monkeypatch.setattr(jobs, "QUEUE_NAME", queue_name)
    # The process's link cache stores nothing until its subscription is confirmed.
    cache = link_cache.cache()
    wait_until(lambda: cache.listening, 30, "the link cache to subscribe")
    yield client
    for pattern in (f"{prefix}:*", f"rq:*{queue_name}*"):
        for key in client.scan_iter(pattern):
            client.delete(key)


def test_with_redis_the_download_event_is_queued_and_stored_once(
    app, client, sent, redis_on, monkeypatch
):
    url = _path(sent.url) + "/download"
    assert client.get(url, headers=BROWSER).status_code == 200
    assert client.get(url, headers=BROWSER).status_code == 200
    assert downloads() == 0  # queued, not stored yet

    def killed(*_args):
        raise RuntimeError("worker killed before XACK")

    with pytest.MonkeyPatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(ingest_queue, "_acknowledge", killed)
        ingest_queue.drain()
    assert downloads() == 2  # committed, not acknowledged
    monkeypatch.setattr(ingest_queue, "CLAIM_IDLE_MS", 0)
    assert ingest_queue.drain() == 2  # re-claimed and applied again...
    assert downloads() == 2  # ...stored once
    assert ingest_queue.backlog() == 0
    # The first from the database path, the second served from the link cache: the same event.
    events = db.session.scalars(select(Event).where(Event.type == EventType.DOC_DOWNLOADED))
    assert [
        (e.customer_id, e.delivery_id, e.properties, e.idempotency_key[:2]) for e in events
    ] == [(sent.delivery.customer_id, sent.delivery.id, {"version": 1}, "q:")] * 2


# -- S3: a local read-through cache --------------------------------------------------------------


class TestS3:
    @pytest.fixture
    def app_config(self, app_config, s3_env):
        with s3_app_config(app_config, s3_env) as config:
            yield config

    def test_the_file_comes_from_s3_once_then_from_the_node_cache(
        self, app, client, sent, monkeypatch
    ):
        fetched: list[str] = []
        real_get = S3Storage.get

        def counting_get(storage, key):
            fetched.append(key)
            return real_get(storage, key)

        monkeypatch.setattr(S3Storage, "get", counting_get)
        url = _path(sent.url) + "/download"
        # The render at send time kept a copy on this node (node_cache.remember): served from
        # disk, nothing fetched.
        [kept] = list(Path(app.instance_path).rglob("*.pdf"))
        assert client.get(url, headers=BROWSER).status_code == 200
        assert fetched == []
        # Another node (or this one after its cache was trimmed) fetches it once, then keeps it.
        kept.unlink()
        first = client.get(url, headers=BROWSER)
        second = client.get(url, headers=BROWSER)

        assert first.status_code == second.status_code == 200
        assert len([k for k in fetched if k.endswith(".pdf")]) == 1
        assert first.get_data() == second.get_data() == expected_pdf(sent.delivery.id)
        cached = list(Path(app.instance_path).rglob("*.pdf"))
        assert len(cached) == 1 and cached[0].read_bytes() == first.get_data()
        assert downloads() == 3

    def test_the_node_cache_stays_under_its_cap_dropping_the_oldest(self, app, tmp_path):
        from portal.library.storage import node_cache

        app.config["RENDER_CACHE_PATH"] = str(tmp_path / "cache")
        app.config["RENDER_CACHE_MAX_BYTES"] = 250_000
        for n in range(5):
            node_cache.remember(f"renders/cap/{n}.pdf", bytes([n]) * 100_000)

        kept = sorted(p.name for p in (tmp_path / "cache").rglob("*.pdf"))
        assert kept == ["3.pdf", "4.pdf"]

    def test_writes_under_the_cap_do_not_walk_the_cache_each_time(self, app, tmp_path, monkeypatch):
        """A trim walks the whole folder: a write per render made the walk cost more the fuller
        the cache grew. Under the cap it walks once per TRIM_EVERY writes; over it, at once."""
        from portal.library.storage import node_cache

        app.config["RENDER_CACHE_PATH"] = str(tmp_path / "cache")
        app.config["RENDER_CACHE_MAX_BYTES"] = 1_000_000
        walks: list[int] = []
        real_walk = node_cache._walk_and_trim
        monkeypatch.setattr(
            node_cache, "_walk_and_trim", lambda root, cap: walks.append(1) or real_walk(root, cap)
        )
        for n in range(node_cache.TRIM_EVERY + 1):
            node_cache.remember(f"renders/walk/{n}.pdf", b"x" * 1_000)
        assert len(walks) == 2  # the first write (nothing counted yet), TRIM_EVERY writes later
        node_cache.remember("renders/walk/big.pdf", b"x" * 900_000)  # over the cap: at once
        assert len(walks) == 3
        assert sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*.pdf")) <= 1_000_000

    def test_a_template_source_is_fetched_once_for_every_customer(self, app, world, monkeypatch):
        from portal.library.rendering import sample_variables

        fetched: list[str] = []
        real_get = S3Storage.get
        monkeypatch.setattr(
            S3Storage, "get", lambda storage, key: fetched.append(key) or real_get(storage, key)
        )
        version = world.template.latest_version
        firsts = []
        for name in ("甲", "乙", "丙"):
            variables = sample_variables()
            variables["customer"]["name"] = name
            firsts.append(render_version_pdf(version, variables))  # each a first render

        assert len(set(firsts)) == 3
        assert fetched.count(version.storage_key) <= 1  # then from this node's disk


# -- with Redis: the resolved copy is cached in the process, its sources' changes seen at once -----


def still_cache() -> None:
    """This app's link cache kept as it is from here on, however long the next requests take
    on a busy machine (a test of what the warm path sends, not of the one-second bound): its
    listener's first emptying (on its subscription) behind it and the listener stopped, the
    counter read now (every commit so far seen), then its clock stopped. The test's session
    (the requests' too: one thread) ends its transaction first: a read in a transaction begun
    before the reading is not kept (link_cache: its snapshot may be older)."""
    db.session.rollback()
    cache = link_cache.cache()
    assert cache.subscribed.wait(30), "the link cache's listener did not subscribe"
    cache.closed = True
    if cache.listener is not None:
        cache.listener.join(10)
    assert cache._confirmed(now=True)
    frozen = cache.clock()
    cache.clock = lambda: frozen


def test_a_cached_copy_is_served_without_the_database(app, client, sent, redis_on):
    from portal.statement_count import counted_statements

    url = _path(sent.url) + "/download"
    still_cache()
    first = client.get(url, headers=BROWSER)
    with counted_statements() as statements:
        second = client.get(url, headers=BROWSER)
        image = client.get(_path(sent.url) + "/pages/1.png", headers=BROWSER)

    assert first.status_code == second.status_code == image.status_code == 200
    assert second.get_data() == first.get_data() == expected_pdf(sent.delivery.id)
    assert statements == []
    assert ingest_queue.drain() == 2
    assert downloads() == 2


def test_a_locked_watermarked_copy_with_the_cache_warm(app, client, world, redis_on):
    """A passcode and a watermark hold on the cached path too: no file and no event before the
    passcode, then the stamped copy, served (the second time) without the database."""
    import pypdfium2 as pdfium

    from portal.statement_count import counted_statements

    locked = make_delivery(world.rep, world.customer, world.template, passcode="2468")
    url = _path(locked.url)
    for _ in range(2):  # the second from the warm cache
        refused = client.get(url + "/download", headers=BROWSER)
        assert refused.status_code == 403 and not refused.get_data().startswith(b"%PDF")
        assert client.get(url + "/pages/1.png", headers=BROWSER).status_code == 403
    assert ingest_queue.drain() == 0  # nothing recorded for a refused download

    assert client.post(url + "/passcode", data={"passcode": "2468"}).status_code == 303
    still_cache()
    first = client.get(url + "/download", headers=BROWSER)
    with counted_statements() as statements:
        second = client.get(url + "/download", headers=BROWSER)
    assert first.status_code == second.status_code == 200
    assert second.get_data() == first.get_data()
    assert statements == []
    document = pdfium.PdfDocument(second.get_data())
    for page in document:
        assert world.customer.name in page.get_textpage().get_text_bounded()
    assert ingest_queue.drain() == 2
    assert downloads() == 2


def test_a_revocation_is_seen_at_once_with_the_cache_warm(client, world, sent, redis_on):
    url = _path(sent.url)
    for _ in range(2):
        assert client.get(url + "/download", headers=BROWSER).status_code == 200
    delivery_services.revoke(world.rep, sent.delivery.id)
    jobs.commit()
    assert client.get(url + "/download", headers=BROWSER).status_code == 410
    assert client.get(url + "/pages/1.png", headers=BROWSER).status_code == 410
    ingest_queue.drain()
    assert downloads() == 2


def test_a_new_version_or_a_renamed_customer_is_served_at_once_with_the_cache_warm(
    app, client, world, redis_on
):
    from portal.customers.models import Customer
    from portal.library import services as library

    sent = make_delivery(
        world.rep, world.customer, world.template, version_policy="latest", watermark=False
    )
    url = _path(sent.url) + "/download"
    served = [client.get(url, headers=BROWSER).get_data() for _ in range(2)]
    library.add_version(
        world.template,
        world.marketing,
        filename="doc.html",
        data=b"<!doctype html><html><body><p>{{ customer.name }}, version two</p></body></html>",
        changelog="v2",
    )
    jobs.commit()
    served.append(client.get(url, headers=BROWSER).get_data())
    db.session.get(Customer, world.customer.id).name = "李雷"
    jobs.commit()
    served.append(client.get(url, headers=BROWSER).get_data())

    assert served[0] == served[1]
    assert served[2] != served[1]
    assert served[3] != served[2]
    assert served[3] == expected_pdf(sent.delivery.id)


def test_the_node_cache_settings_come_from_the_environment(monkeypatch):
    from portal.config import load_config

    monkeypatch.setenv("PORTAL_RENDER_CACHE_PATH", "/srv/portal-cache")
    monkeypatch.setenv("PORTAL_RENDER_CACHE_MAX_BYTES", "123456")
    config = load_config()
    assert (config["RENDER_CACHE_PATH"], config["RENDER_CACHE_MAX_BYTES"]) == (
        "/srv/portal-cache",
        123456,
    )
