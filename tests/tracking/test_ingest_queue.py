"""Queued read-time ingest (with Redis): acknowledged = stored, exactly once, crash or not."""

from __future__ import annotations

import http.client
import json
import threading
import uuid

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal import jobs
from portal.db_types import utcnow
from portal.delivery import services as delivery_services
from portal.extensions import db
from portal.tracking import ingest_path, ingest_queue, links, revocations, sessions
from portal.tracking.models import Event, EventType, ViewSession
from tests.support import skip_or_fail
from tests.threaded_servers import serve_in_thread, stop_serving
from tests.tracking.test_ingest import (  # noqa: F401  (world_fixture: the `world` fixture)
    Opened,
    batch,
    deliver,
    open_session,
    report,
    world_fixture,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(name="redis")
def redis_fixture():
    from redis import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except RedisConnectionError as exc:
        skip_or_fail(f"Redis at {REDIS_URL} unreachable: {exc}")
    return client


@pytest.fixture
def app_config(app_config):
    # A key prefix of this test's own: tests running at the same time share the Redis server.
    return {**app_config, "INGEST_REDIS_PREFIX": f"portal-test-{uuid.uuid4().hex[:12]}"}


@pytest.fixture
def delivery(world):
    """Sent (and rendered, jobs inline) before Redis is switched on: list it before `queued`."""
    return deliver(world)


@pytest.fixture
def queued(app, redis, monkeypatch):
    """Redis on from here on (the world is built before, with jobs inline); the RQ queue is
    this test's own. Yields the RQ queue."""
    from rq import Queue

    queue_name = f"portal-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(jobs, "QUEUE_NAME", queue_name)
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    jobs.use_app_for_jobs(app)
    assert ingest_path.queued()
    yield Queue(queue_name, connection=redis)
    prefix = app.config["INGEST_REDIS_PREFIX"]
    for pattern in (f"{prefix}:*", f"rq:*{queue_name}*"):
        for key in redis.scan_iter(pattern):
            redis.delete(key)


def run_worker(queue) -> None:
    from portal.job_workers import SimpleWorker

    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def stream_length(redis, app) -> int:
    return redis.xlen(f"{revocations.key_prefix()}:stream")


def stored_keys() -> set[str]:
    db.session.expire_all()
    return set(
        db.session.scalars(select(Event.idempotency_key).where(Event.type == EventType.PAGE_VIEWED))
    )


def credited(session_id: int) -> tuple[int, int]:
    """The session's credited total and its doc.read row's: they must agree."""
    db.session.expire_all()
    total = db.session.get(ViewSession, session_id).credited_ms
    summary = db.session.scalar(
        select(Event.duration_ms).where(
            Event.session_id == session_id, Event.type == EventType.DOC_READ
        )
    )
    return total, summary


def post(client, body):
    return client.post("/t/r", data=json.dumps(body), content_type="application/json")


# -- the request: acknowledged after the enqueue ------------------------------------------------


def test_a_batch_is_acknowledged_queued_then_stored_by_the_drain_job(
    app, client, world, delivery, queued
):
    opened = open_session(delivery)
    first, second = report(page=1, ms=1_000), report(page=2, ms=1_000)

    response = post(client, batch(opened, first, second))

    assert response.status_code == 202
    assert response.json == {"queued": 2}
    assert stored_keys() == set()  # not in the database yet: in the stream
    assert stream_length(queued.connection, app) == 1
    assert queued.count == 1  # the request that set the drain flag queued the job

    run_worker(queued)

    assert stored_keys() == {
        f"s{opened.session_id}:{first['k']}",
        f"s{opened.session_id}:{second['k']}",
    }
    assert stream_length(queued.connection, app) == 0
    total, summary = credited(opened.session_id)
    assert total == summary and 0 < total <= 2_000


def test_a_token_of_the_older_form_is_checked_once_and_stored_the_direct_way(
    app, client, world, delivery, queued, monkeypatch
):
    """A token that carries the session id alone (no delivery: no tombstone to look up in
    Redis) is applied directly, with the batch checked once on the way (it was twice)."""
    from portal.tracking import ingest_checks

    opened = open_session(delivery)
    older = sessions._serializer().dumps(opened.session_id)
    checked = []
    real_validate = ingest_checks.validate

    def counting_validate(token, payload):
        checked.append(token)
        return real_validate(token, payload)

    monkeypatch.setattr(ingest_path, "validate", counting_validate)
    monkeypatch.setattr("portal.tracking.ingest.validate", counting_validate)
    sent = report(page=1, ms=1_000)

    response = post(client, {"s": older, "reports": [sent]})

    assert response.status_code == 202 and response.json == {"queued": 1}
    assert checked == [older]
    assert stored_keys() == {f"s{opened.session_id}:{sent['k']}"}  # stored, not in the stream
    assert stream_length(queued.connection, app) == 0


def test_only_the_request_that_sets_the_flag_queues_a_drain(client, world, delivery, queued):
    opened = open_session(delivery)
    for _ in range(5):
        assert post(client, batch(opened, report(ms=10))).status_code == 202
    assert queued.count == 1
    run_worker(queued)
    assert len(stored_keys()) == 5
    # The drain cleared the flag when the stream ran dry: the next report queues a new one.
    assert post(client, batch(opened, report(ms=10))).status_code == 202
    assert queued.count == 1


def test_stored_equals_acknowledged_under_concurrent_load(app, world, delivery, queued, redis):
    """Threads post many batches to a real HTTP server; some are resent (a lost answer), some
    are refused. After the drain, the stored page views are exactly the acknowledged ones."""
    opened = [open_session(delivery) for _ in range(4)]
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = serve_in_thread(server)
    acknowledged: set[str] = set()
    refused: set[str] = set()
    statuses: list[int] = []
    lock = threading.Lock()

    def reader(worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=30)
        session = opened[worker % len(opened)]
        previous: dict | None = None
        for i in range(30):
            if i % 7 == 6 and previous is not None:
                body = previous  # the answer was lost: the same batch again
            elif i % 11 == 10:
                body = batch(session, report(page=9, ms=5))  # no page 9: refused whole
            else:
                body = batch(session, *[report(page=1 + j % 3, ms=500) for j in range(1 + i % 3)])
            conn.request(
                "POST",
                "/t/r",
                body=json.dumps(body),
                headers={"Content-Type": "application/json", "Host": "portal.test"},
            )
            response = conn.getresponse()
            response.read()
            keys = {f"s{session.session_id}:{r['k']}" for r in body["reports"]}
            with lock:
                statuses.append(response.status)
                (acknowledged if response.status == 202 else refused).update(keys)
            previous = body
        conn.close()

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    stop_serving(server, thread)

    assert sorted(set(statuses)) == [202, 422]
    assert stream_length(redis, app) > 0
    run_worker(queued)

    assert stream_length(redis, app) == 0
    assert stored_keys() == acknowledged
    assert not refused & stored_keys()
    for session in opened:
        total, summary = credited(session.session_id)
        assert total == summary


# -- refusals come before the acknowledgement ----------------------------------------------------


def _expired(opened: Opened, delivery) -> str:
    delivery.expires_at = utcnow()
    jobs.commit()
    return sessions.ingest_token(db.session.get(ViewSession, opened.session_id))


REFUSALS = [
    ("page out of range", lambda o, d: batch(o, report(page=4)), 422, "invalid_report"),
    ("absurd ms", lambda o, d: batch(o, report(ms=-5)), 422, "invalid_report"),
    ("malformed", lambda o, d: {"s": o.token, "reports": "x"}, 400, "malformed_batch"),
    ("too many", lambda o, d: batch(o, *[report() for _ in range(101)]), 413, "too_many_reports"),
    ("tampered token", lambda o, d: {"s": o.token[:-3] + "abc", "reports": [report()]}, 404, None),
    ("other purpose", lambda o, d: {"s": links.sign(1, "doc"), "reports": [report()]}, 404, None),
    ("expired", lambda o, d: {"s": _expired(o, d), "reports": [report()]}, 410, "gone"),
]


@pytest.mark.parametrize(
    ("build", "status", "code"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS]
)
def test_a_refused_batch_is_refused_before_anything_is_queued(
    app, client, world, delivery, queued, build, status, code
):
    opened = open_session(delivery)
    response = post(client, build(opened, delivery))
    assert response.status_code == status, response.json
    if code:
        assert response.json["error"]["code"] == code
    assert stream_length(queued.connection, app) == 0
    assert queued.count == 0


def test_a_token_older_than_its_max_age_gets_410(client, world, delivery, queued):
    from itsdangerous.timed import TimestampSigner

    opened = open_session(delivery)
    session = db.session.get(ViewSession, opened.session_id)
    real = TimestampSigner.get_timestamp
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            TimestampSigner,
            "get_timestamp",
            lambda self: real(self) - sessions.INGEST_MAX_AGE - 60,
        )
        old = sessions.ingest_token(session)

    response = post(client, {"s": old, "reports": [report()]})

    assert response.status_code == 410
    assert stream_length(queued.connection, client.application) == 0
    assert post(client, batch(opened, report())).status_code == 202


def test_a_revocation_is_refused_at_once_by_every_node(app, client, world, delivery, queued):
    """The revoke's commit writes the delivery's tombstone to Redis: the very next batch gets
    410 and nothing is queued, without the database."""
    opened = open_session(delivery)
    assert post(client, batch(opened, report())).status_code == 202
    delivery_services.revoke(world.rep, delivery.id)
    jobs.commit()

    response = post(client, batch(opened, report()))

    assert response.status_code == 410
    assert response.json["error"]["code"] == "gone"
    assert stream_length(queued.connection, app) == 1  # only the batch before the revoke


def test_a_tombstone_of_another_database_is_not_this_delivery(
    app, client, world, delivery, queued, redis
):
    """Delivery ids repeat across databases sharing a Redis; the tombstone names the delivery
    by id and creation time."""
    opened = open_session(delivery)
    redis.set(f"{revocations.key_prefix()}:gone:{delivery.id}:12345", 1, ex=60)
    assert post(client, batch(opened, report())).status_code == 202


# -- the applier: crashes, re-claims, duplicates ---------------------------------------------------


def _queue_reads(client, opened: Opened, count: int) -> list[dict]:
    items = []
    for i in range(count):
        item = report(page=1 + i % 3, ms=2_000)
        assert post(client, batch(opened, item)).status_code == 202
        items.append(item)
    return items


def test_a_drain_killed_after_its_commit_is_re_applied_without_double_counting(
    app, client, world, delivery, queued, monkeypatch
):
    opened = open_session(delivery)
    items = _queue_reads(client, opened, 4)

    def killed(*_args):
        raise RuntimeError("worker killed before XACK")

    with pytest.MonkeyPatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(ingest_queue, "_acknowledge", killed)
        ingest_queue.drain()
    stored = stored_keys()
    assert len(stored) == 4  # committed, never acknowledged: still pending in Redis
    before = credited(opened.session_id)

    # The next drain of this worker (the same consumer: a restarted worker) takes its own
    # pending entries back at once, without waiting for them to be idle CLAIM_IDLE_MS.
    assert ingest_queue.drain() == 4

    assert stream_length(queued.connection, app) == 0
    assert stored_keys() == stored == {f"s{opened.session_id}:{i['k']}" for i in items}
    assert credited(opened.session_id) == before
    assert before[0] == before[1] > 0


def test_entries_read_by_a_dead_consumer_are_re_claimed_and_stored_once(
    app, client, world, delivery, queued, monkeypatch
):
    opened = open_session(delivery)
    items = _queue_reads(client, opened, 3)
    ingest_queue._ensure_group(queued.connection, ingest_queue._Keys.now())
    stream = f"{revocations.key_prefix()}:stream"
    read = queued.connection.xreadgroup(ingest_queue.GROUP, "dead", {stream: ">"}, count=10)
    assert len(read[0][1]) == 3  # read, then the consumer died: never applied

    assert ingest_queue.drain() == 0  # another consumer's, not idle long enough yet
    # The drain left the flag free: the watchdog's next look queues the next drain (no RQ
    # scheduler involved); the dead consumer still owns its entries, so it is kept.
    assert ingest_queue.queue_drain_if_waiting() is True
    names = [c["name"] for c in queued.connection.xinfo_consumers(stream, ingest_queue.GROUP)]
    assert names == [b"dead"]
    monkeypatch.setattr(ingest_queue, "CLAIM_IDLE_MS", 0)
    assert ingest_queue.drain() == 3
    assert stored_keys() == {f"s{opened.session_id}:{i['k']}" for i in items}
    assert ingest_queue.drain() == 0
    assert len(stored_keys()) == 3
    # Consumers that own nothing are removed: killed drains' names do not pile up.
    assert queued.connection.xinfo_consumers(stream, ingest_queue.GROUP) == []


def test_a_worker_frees_only_a_drain_flag_held_under_its_own_name(app, queued):
    keys = ingest_queue._Keys.now()
    redis = queued.connection
    redis.set(keys.flag, "another-host-w1", px=5_000)
    assert ingest_queue.release_own_flag() is False
    assert redis.exists(keys.flag)
    redis.set(keys.flag, ingest_queue._consumer_name(), px=5_000)  # a dead drain of its own
    assert ingest_queue.release_own_flag() is True
    assert not redis.exists(keys.flag)


def test_a_report_sent_twice_is_acknowledged_twice_and_stored_once(
    app, client, world, delivery, queued
):
    opened = open_session(delivery)
    item = report(ms=3_000)
    assert post(client, batch(opened, item)).status_code == 202
    assert post(client, batch(opened, item, report(page=2, ms=1))).status_code == 202
    assert ingest_queue.drain() == 2
    assert post(client, batch(opened, item)).status_code == 202
    assert ingest_queue.drain() == 1
    assert len(stored_keys()) == 2


def test_one_drain_round_applies_many_batches_in_one_transaction(
    app, client, world, delivery, queued
):
    first, second = open_session(delivery), open_session(delivery)
    for opened in (first, second, first, second):
        assert (
            post(client, batch(opened, report(ms=100), report(page=2, ms=100))).status_code == 202
        )
    commits: list[int] = []
    real_commit = jobs.commit

    def counting_commit():
        commits.append(1)
        real_commit()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jobs, "commit", counting_commit)
        assert ingest_queue.drain() == 4
    assert len(commits) == 1
    assert len(stored_keys()) == 8
    for opened in (first, second):
        total, summary = credited(opened.session_id)
        assert total == summary


def test_an_entry_that_keeps_failing_moves_aside_and_lets_the_others_through(
    app, client, world, delivery, queued, monkeypatch
):
    opened = open_session(delivery)
    keys = ingest_queue._Keys.now()
    ingest_queue._ensure_group(queued.connection, keys)
    poison = json.dumps({"d": ingest_queue.deployment(), "s": "not a number", "t": 1, "r": []})
    queued.connection.xadd(keys.stream, {"b": poison})
    good = _queue_reads(client, opened, 2)

    assert ingest_queue.drain() == 2
    assert stored_keys() == {f"s{opened.session_id}:{i['k']}" for i in good}
    assert queued.connection.xlen(keys.stream) == 1  # pending, to be tried again: not dropped
    monkeypatch.setattr(ingest_queue, "CLAIM_IDLE_MS", 0)  # re-claimed at once, round by round
    assert ingest_queue.drain() == 0

    assert queued.connection.xlen(keys.stream) == 0
    [(_id, fields)] = queued.connection.xrange(keys.dead)
    assert fields[b"b"].decode() == poison


def test_entries_of_another_deployment_or_a_deleted_session_are_set_aside_not_stored(
    app, client, world, delivery, queued
):
    """Two deployments sharing a Redis database by mistake must not store each other's
    reports; a session deleted since (with its customer) cannot take its reports. Both are
    kept in the dead stream, never silently dropped."""
    opened = open_session(delivery)
    keys = ingest_queue._Keys.now()
    ingest_queue._ensure_group(queued.connection, keys)
    row = ["k1", "page.viewed", 1, None, 1000, None, False]
    foreign = {"d": "other", "s": opened.session_id, "t": 1, "r": [row]}
    vanished = {"d": ingest_queue.deployment(), "s": 987_654, "t": 1, "r": [row]}
    for body in (foreign, vanished):
        queued.connection.xadd(keys.stream, {"b": json.dumps(body)})
    good = _queue_reads(client, opened, 1)

    assert ingest_queue.drain() == 1

    assert stored_keys() == {f"s{opened.session_id}:{good[0]['k']}"}
    assert queued.connection.xlen(keys.stream) == 0
    dead = [json.loads(f[b"b"]) for _id, f in queued.connection.xrange(keys.dead)]
    assert sorted(d["s"] for d in dead) == sorted([opened.session_id, 987_654])


class TestQueuedRateLimit:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "RATELIMIT_ENABLED": True, "TRACKING_RATE_LIMIT": "3/minute"}

    def test_the_tracking_limit_is_counted_in_the_enqueue_round_trip(
        self, app, client, world, delivery, queued
    ):
        busy, other = open_session(delivery), open_session(delivery)
        answers = [post(client, batch(busy, report(ms=1))) for _ in range(4)]

        assert [a.status_code for a in answers] == [202, 202, 202, 429]
        assert answers[-1].json["error"]["code"] == "too_many_requests"
        assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
        assert answers[0].headers["X-RateLimit-Limit"] == "3"
        assert answers[0].headers["X-RateLimit-Remaining"] == "2"
        assert answers[-1].headers["X-RateLimit-Remaining"] == "0"
        assert stream_length(queued.connection, app) == 3  # the refused batch is not queued
        assert post(client, batch(other, report(ms=1))).status_code == 202


def test_an_empty_batch_of_a_revoked_delivery_gets_410(app, client, world, delivery, queued):
    opened = open_session(delivery)
    assert post(client, batch(opened)).status_code == 202
    delivery_services.revoke(world.rep, delivery.id)
    jobs.commit()
    assert post(client, batch(opened)).status_code == 410
    assert stream_length(queued.connection, app) == 0


# -- the page count comes from the customer's own copy ------------------------------------------

GROWING_HTML = """<!doctype html><html><head><meta charset="utf-8">
<style>section { page-break-after: always; } section:last-child { page-break-after: auto; }</style>
</head><body><section>One</section><section>Two</section>
{% if customer.industry == "金融" %}<section>Three, for banks</section>{% endif %}
</body></html>"""


@pytest.mark.parametrize("with_redis", [False, True], ids=["direct", "queued"])
def test_a_page_the_customer_copy_has_but_the_sample_lacks_is_accepted(
    app, client, make_user, redis, monkeypatch, with_redis
):
    """The sample render has 2 pages; this customer's copy has 3. A report on page 3 used to
    get 422 (the check read TemplateVersion.page_count)."""
    import re

    from tests.delivery.helpers import make_customer, make_delivery, make_template

    marketing, rep = make_user("marketing"), make_user("rep")
    template = make_template(marketing, html=GROWING_HTML, content_tags="")
    assert template.latest_version.page_count == 2
    customer = make_customer(rep, industry="金融")
    sent = make_delivery(rep, customer, template)
    page = client.get(
        sent.url.replace("http://portal.test", ""), headers={"User-Agent": "Mozilla/5.0"}
    )
    html = page.get_data(as_text=True)
    assert 'data-page-count="3"' in html
    token = re.search(r'data-ingest-token="([^"]+)"', html).group(1)
    assert client.post("/t/o", json={"s": token}).status_code == 200  # the viewer confirms
    if with_redis:
        monkeypatch.setattr(jobs, "QUEUE_NAME", f"portal-test-{uuid.uuid4().hex[:8]}")
        monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)

    third = report(page=3, ms=1)
    assert post(client, {"s": token, "reports": [third]}).status_code == 202
    refused = post(client, {"s": token, "reports": [report(page=4, ms=1)]})
    assert refused.status_code == 422
    assert "1 to 3 (got 4)" in refused.json["error"]["message"]
    if with_redis:
        assert ingest_queue.drain() == 1
        monkeypatch.setitem(app.config, "REDIS_URL", None)
        redis_prefix = app.config["INGEST_REDIS_PREFIX"]
        for key in redis.scan_iter(f"{redis_prefix}:*"):
            redis.delete(key)
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.page == 3)) == 1


# -- the workers' watchdog: no acknowledged report waits for traffic -----------------------------


def test_entries_left_by_a_dead_drain_are_drained_without_new_reports(
    app, client, world, delivery, queued
):
    opened = open_session(delivery)
    sent = report(page=1, ms=1_000)
    assert post(client, batch(opened, sent)).status_code == 202
    # The queued drain dies with its worker before it runs: its job is gone, its flag expires.
    queued.empty()
    queued.connection.delete(f"{revocations.key_prefix()}:drain")
    assert stored_keys() == set() and stream_length(queued.connection, app) == 1

    assert (
        ingest_queue.queue_drain_if_waiting() is True
    )  # what every worker's watchdog does every 10 s
    assert (
        ingest_queue.queue_drain_if_waiting() is False
    )  # one drain at a time: the flag is set again
    run_worker(queued)

    assert stored_keys() == {f"s{opened.session_id}:{sent['k']}"}
    assert stream_length(queued.connection, app) == 0
    assert ingest_queue.queue_drain_if_waiting() is False  # nothing waiting: nothing queued
    assert queued.count == 0


# -- a drain job gives way to alerts ---------------------------------------------------------

_STORED_WHEN_THE_ALERT_RAN: list[int] = []


def alert_probe() -> None:
    """Stands in for an alert job: notes how many reads were stored when it ran."""
    _STORED_WHEN_THE_ALERT_RAN.append(len(stored_keys()))


def test_a_drain_job_gives_way_to_an_alert_between_two_rounds(
    app, client, world, delivery, queued, monkeypatch
):
    """An alert queued while a long drain runs waits for the drain's round, not for the whole
    backlog: the drain job queues its follow-up behind the alerts queue and returns."""
    from rq import Queue

    opened = open_session(delivery)
    items = _queue_reads(client, opened, 6)
    assert queued.count == 1  # the first report queued the drain job
    monkeypatch.setattr(ingest_queue, "READ_COUNT", 2)  # three rounds of two
    alerts = Queue(jobs.alerts_queue_name(), connection=queued.connection)
    real_apply = ingest_queue._apply

    def apply_while_an_alert_comes(*args):
        if not alerts.count and not _STORED_WHEN_THE_ALERT_RAN:  # an open confirmed meanwhile
            alerts.enqueue(jobs.run_job, f"{__name__}:alert_probe")
        return real_apply(*args)

    monkeypatch.setattr(ingest_queue, "_apply", apply_while_an_alert_comes)
    _STORED_WHEN_THE_ALERT_RAN.clear()
    try:
        from portal.job_workers import SimpleWorker

        SimpleWorker(jobs.queue_names(), connection=queued.connection).work(burst=True)
    finally:
        alerts.delete(delete_jobs=True)

    assert stored_keys() == {f"s{opened.session_id}:{i['k']}" for i in items}
    assert stream_length(queued.connection, app) == 0
    assert _STORED_WHEN_THE_ALERT_RAN == [2]  # after the first slice, before the rest


def test_without_an_alert_waiting_one_drain_job_applies_the_whole_backlog(
    app, client, world, delivery, queued, monkeypatch
):
    """No alert, no hand-over: the drain job goes on, round after round, until the stream is
    empty (a job per round would cost a fork each)."""
    opened = open_session(delivery)
    _queue_reads(client, opened, 6)
    monkeypatch.setattr(ingest_queue, "READ_COUNT", 2)

    assert ingest_queue.drain_job() == 6
    assert queued.count == 1  # only the drain job the first report queued: no follow-up
    assert stream_length(queued.connection, app) == 0


def test_a_drain_on_a_worker_that_takes_no_alerts_never_gives_way(
    app, client, world, delivery, queued, monkeypatch
):
    """A `flask worker --no-alerts` never takes the alert its drain would give way to: the
    drain goes on in full rounds (READ_COUNT) whatever waits on the alerts queue."""
    from rq import Queue

    opened = open_session(delivery)
    _queue_reads(client, opened, 6)
    monkeypatch.setattr(ingest_queue, "READ_COUNT", 3)
    monkeypatch.setitem(app.config, "WORKER_TAKES_ALERTS", False)
    alerts = Queue(jobs.alerts_queue_name(), connection=queued.connection)
    alerts.enqueue(jobs.run_job, f"{__name__}:alert_probe")
    rounds: list[int] = []
    real_apply = ingest_queue._apply
    monkeypatch.setattr(
        ingest_queue,
        "_apply",
        lambda r, k, entries: rounds.append(len(entries)) or real_apply(r, k, entries),
    )
    try:
        assert ingest_queue.drain_job() == 6
    finally:
        alerts.delete(delete_jobs=True)
    assert rounds == [3, 3]  # not the first round of ROUND_FIRST_COUNT, not handed over
    assert queued.count == 1  # no follow-up queued


def test_a_worker_back_from_a_redis_outage_frees_its_own_drain_flag_at_once(
    app, queued, monkeypatch
):
    """A drain that died in a Redis outage leaves the flag under its worker's name: the worker,
    once Redis answers again, frees it at once (portal.worker's redis_back_hooks), so the next
    drain does not wait for the flag to expire. Another worker's flag is left alone."""
    from portal import worker as worker_command
    from portal.job_workers import WarmWorker

    keys = ingest_queue._Keys.now()
    redis = queued.connection
    freed: list[bool] = []
    rq_worker = WarmWorker([queued], connection=redis)
    rq_worker.redis_back_hooks = (
        lambda: freed.append(True) or worker_command._free_own_drain_flag(app),
    )

    redis.set(keys.flag, "another-host-w9", px=5_000)
    rq_worker._wait_for_redis(ConnectionError("gone"))  # Redis answers: back at the first ping
    assert freed == [True]
    assert redis.get(keys.flag) == b"another-host-w9"  # not this worker's: kept

    redis.set(keys.flag, ingest_queue._consumer_name(), px=5_000)
    rq_worker._wait_for_redis(ConnectionError("gone"))
    assert redis.get(keys.flag) is None
