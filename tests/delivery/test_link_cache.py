"""The per-process cache of resolved doc links (portal.delivery.link_cache, issue 16 item 1).

The rule: no process serves a revoked or expired link more than one second after the revoke
commits, even if it never hears of it. The bound is asserted on the cache's own clock and
timestamps (an injected clock, the entries' `fresh_until`), never by racing the wall clock;
what may take a while on a busy machine (a message crossing Redis) is polled with a generous
deadline.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta

import customer_side_support as support
import pytest
from customer_side_support import path_of, token_of
from redis import Redis
from sqlalchemy import update

from portal import create_app, jobs
from portal.db_types import utcnow
from portal.delivery import link_cache
from portal.delivery import services as delivery_services
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.tracking import links
from portal.tracking.models import LinkPurpose
from tests.support import wait_until

client = support.client  # fixtures shared by the customer-side tests
shop = support.shop


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- the cache itself, on an injected clock -------------------------------------------------------


def test_an_entry_lives_one_second_from_when_its_read_began_and_not_an_instant_more():
    clock = FakeClock()
    cache = link_cache.LinkCache(clock=clock)
    now = utcnow()
    # The read's transaction began 0.3 s before the lookup: the entry's second counts from then.
    ticket = cache.ticket(began=clock.now - 0.3)
    clock.now += 0.2  # the query and the checks
    assert cache.put(7, ticket, "copy", None)
    assert cache.fresh_until(7) == pytest.approx(ticket.began + 1.0)
    clock.now = ticket.began + 0.999
    assert cache.get(7, now) == "copy"
    clock.now = ticket.began + 1.0  # nobody told it anything (a lost message): it stops anyway
    assert cache.get(7, now) is None
    assert cache.fresh_until(7) is None  # and forgets it


def test_a_read_already_a_second_old_is_not_stored():
    clock = FakeClock()
    cache = link_cache.LinkCache(clock=clock)
    ticket = cache.ticket()
    clock.now += 1.0  # a slow query
    assert not cache.put(7, ticket, "copy", None)
    assert cache.get(7, utcnow()) is None


def test_no_cache_may_trust_an_entry_for_more_than_one_second():
    with pytest.raises(ValueError):
        link_cache.LinkCache(ttl=1.5)
    assert link_cache.TTL <= 1.0


def test_an_entry_is_never_served_past_the_expiry_it_was_built_from():
    cache = link_cache.LinkCache(clock=FakeClock())
    now = utcnow()
    expires = now + timedelta(milliseconds=300)
    assert cache.put(7, cache.ticket(), "copy", expires)
    assert cache.get(7, now) == "copy"
    assert cache.get(7, expires) is None  # still fresh on its clock, but the link has expired


def test_a_read_that_began_before_an_invalidation_is_not_stored():
    """It may have read the row before the change that emptied the cache."""
    cache = link_cache.LinkCache(clock=FakeClock())
    ticket = cache.ticket()
    cache.clear()  # a revocation heard while the read ran
    assert not cache.put(7, ticket, "stale", None)
    assert cache.get(7, utcnow()) is None
    assert cache.put(7, cache.ticket(), "fresh", None)
    assert cache.get(7, utcnow()) == "fresh"


def test_the_cache_is_a_bounded_lru():
    cache = link_cache.LinkCache(clock=FakeClock(), max_entries=3)
    now = utcnow()
    for link_id in (1, 2, 3):
        assert cache.put(link_id, cache.ticket(), f"copy {link_id}", None)
    assert cache.get(1, now) == "copy 1"  # 1 is now the most recently used
    assert cache.put(4, cache.ticket(), "copy 4", None)
    assert len(cache) == 3
    assert cache.get(2, now) is None  # the least recently used went
    assert [cache.get(n, now) for n in (1, 3, 4)] == ["copy 1", "copy 3", "copy 4"]


def test_a_cache_that_cannot_hear_invalidations_serves_and_stores_nothing():
    cache = link_cache.LinkCache(clock=FakeClock())
    assert cache.put(7, cache.ticket(), "copy", None)
    cache.listening = False  # with Redis: the subscription is down
    assert cache.get(7, utcnow()) is None
    assert not cache.put(8, cache.ticket(), "copy", None)


# -- the change counter: entries live on while it stays where it was ----------------------------


class Counter:
    """The shared change counter as a LinkCache reads it; `broken` makes a reading fail."""

    def __init__(self) -> None:
        self.value = 0
        self.broken = False
        self.calls = 0

    def __call__(self) -> int:
        self.calls += 1
        if self.broken:
            raise ConnectionError("database unreachable")
        return self.value


def counted_cache(clock: FakeClock, counter: Counter, **options) -> link_cache.LinkCache:
    """A cache that has read the counter once, as a first lookup does (portal.delivery.
    served_files looks up before it stores): the first reading forgets whatever came before
    it, since nothing says what changed until then."""
    cache = link_cache.LinkCache(generation=counter, clock=clock, **options)
    assert cache.get(0, utcnow()) is None
    assert cache.readings == 1
    return cache


def test_with_the_counter_an_entry_outlives_the_ttl_while_nothing_changes():
    clock, counter = FakeClock(), Counter()
    cache = counted_cache(clock, counter)
    assert cache.put(7, cache.ticket(), "copy", None)
    for _ in range(30):  # half a minute of downloads, one every half second
        clock.now += 0.5
        assert cache.get(7, utcnow()) == "copy"
    assert cache.readings == 1 + 15  # once a second (TTL), not once a download


def test_a_moved_counter_forgets_every_entry_before_serving_one():
    clock, counter = FakeClock(), Counter()
    cache = counted_cache(clock, counter)
    assert cache.put(7, cache.ticket(), "copy", None)
    assert cache.get(7, utcnow()) == "copy"
    read_at = clock.now
    counter.value += 1  # a revoke commits (on another node: nobody tells this process)
    clock.now = read_at + 0.999  # within TTL of the reading before the commit: still served
    assert cache.get(7, utcnow()) == "copy"
    clock.now = read_at + 1.0  # the bound: the next reading comes first, and sees the change
    assert cache.get(7, utcnow()) is None
    assert len(cache) == 0


def test_the_gate_s_generation_is_the_one_its_epoch_was_read_under():
    """trusted_epoch() before the copy is read, generation_since() at the decision: a reading
    in between that sees the counter move (another thread's) gives no generation, never the new
    one for a copy read under the old."""
    clock, counter = FakeClock(), Counter()
    cache = counted_cache(clock, counter)
    epoch = cache.trusted_epoch()
    assert epoch is not None and cache.generation_since(epoch) == counter.value
    readings = cache.readings
    assert cache.trusted_epoch() == epoch  # unmoved: the same epoch, but from a reading now
    assert cache.readings == readings + 1
    counter.value += 1
    assert cache._confirmed(now=True)  # the listener's reading, between the copy's read and now
    assert cache.generation_since(epoch) is None
    again = cache.trusted_epoch()
    assert again != epoch and cache.generation_since(again) == counter.value
    clock.now += cache.ttl  # trust lapsed: no generation either
    assert cache.generation_since(again) is None


def test_an_entry_read_from_a_snapshot_older_than_the_last_emptying_is_not_stored():
    """A request's transaction that began before a reading that saw the counter move may hold
    the row as it was before the change."""
    clock, counter = FakeClock(), Counter()
    cache = counted_cache(clock, counter)
    transaction_began = clock.now
    counter.value += 1
    clock.now += 1.5
    cache.get(1, utcnow())  # a reading that sees the change
    ticket = cache.ticket(began=transaction_began)  # the request's old snapshot
    assert not cache.put(7, ticket, "stale", None)
    assert cache.put(7, cache.ticket(), "fresh", None)


def test_nothing_is_served_while_the_counter_cannot_be_read(caplog):
    clock, counter = FakeClock(), Counter()
    cache = counted_cache(clock, counter)
    assert cache.put(7, cache.ticket(), "copy", None)
    assert cache.get(7, utcnow()) == "copy"
    counter.broken = True
    clock.now += 1.0
    with caplog.at_level("WARNING", logger="portal.delivery.link_cache"):
        assert cache.get(7, utcnow()) is None
        assert cache.get(7, utcnow()) is None  # tried again: logged once an outage
        assert len(caplog.records) == 1
        counter.broken = False
        assert cache.get(7, utcnow()) == "copy"  # read again, not moved: the entry stands
        assert len(caplog.records) == 2  # and the end of the outage


def test_a_closed_cache_s_listener_reads_the_counter_no_more():
    """close() (an app that is done: a test's, the bench's in-process one) may come just before
    its schema is dropped: the listener's next round must not read the counter there."""
    clock, counter = FakeClock(), Counter()
    cache = counted_cache(clock, counter)
    listener = link_cache._Listener(cache, "redis://127.0.0.1:1/0", "unused")
    clock.now += 5  # the reading's trust has run out: the listener reads again
    listener._keep_confirmed()
    assert cache.readings == 2
    cache.closed = True
    counter.broken = True  # as a dropped schema would answer
    clock.now += 5
    asked = counter.calls
    listener._keep_confirmed()
    assert counter.calls == asked


def test_an_entry_is_read_again_after_max_age_whatever_the_counter_says():
    """A change made behind the ORM's back (raw SQL) moves no counter: still bounded."""
    clock, counter = FakeClock(), Counter()
    cache = counted_cache(clock, counter, max_age=60.0)
    ticket = cache.ticket()
    assert cache.put(7, ticket, "copy", None)
    clock.now = ticket.began + 59.9
    assert cache.get(7, utcnow()) == "copy"
    clock.now = ticket.began + 60.0
    assert cache.get(7, utcnow()) is None


# -- in the app: what is cached, and the same process's own changes ----------------------------


def copy_generation() -> int:
    from portal.delivery.models import CopyGeneration

    db.session.rollback()
    return db.session.get(CopyGeneration, 1, populate_existing=True).value


def test_a_change_to_a_copy_counts_once_when_it_commits_and_not_when_rolled_back(shop, sent):
    before = copy_generation()
    delivery = db.session.get(Delivery, sent.delivery.id)
    delivery.allow_download = False
    db.session.flush()
    db.session.rollback()
    assert copy_generation() == before
    delivery = db.session.get(Delivery, sent.delivery.id)
    delivery.allow_download = False
    delivery.expires_at = utcnow() + timedelta(days=3)
    db.session.flush()
    delivery.watermark = True
    jobs.commit()
    assert copy_generation() == before + 1
    delivery_services.revoke(shop.rep, sent.delivery.id)
    jobs.commit()
    assert copy_generation() == before + 2


def test_a_bulk_update_counts_only_when_it_sets_what_copies_are_built_from(sent):
    before = copy_generation()
    # What an open writes (portal.delivery.open_confirmation): not part of any copy.
    db.session.execute(
        update(Delivery).where(Delivery.id == sent.delivery.id).values(first_opened_at=utcnow())
    )
    jobs.commit()
    assert copy_generation() == before
    db.session.execute(
        update(Delivery).where(Delivery.id == sent.delivery.id).values(revoked_at=utcnow())
    )
    jobs.commit()
    assert copy_generation() == before + 1


def test_a_hot_link_sends_no_query_past_the_ttl_but_the_counter_s(client, sent):
    """The point of the counter (P1): a link downloaded all day is resolved once."""
    from portal.statement_count import counted_statements

    doc = token_of(sent.url)
    assert client.get(f"/d/{doc}/download").status_code == 200
    cache = link_cache.cache()
    cache.clock = FakeClock(time.monotonic())
    readings = cache.readings
    with counted_statements() as statements:
        for _ in range(5):
            cache.clock.now += 1.0  # past TTL each time: the counter is read, the link is not
            assert client.get(f"/d/{doc}/download").status_code == 200
    # (without Redis the download's event is recorded here: those statements are not the link's)
    assert cache.readings == readings + 5
    assert not [s for s in statements if "link_customer_id" in s]  # served_files._RESOLVE


@pytest.fixture
def sent(shop):
    return shop.send(shop.template("产品手册"))


def link_id_of(sent) -> int:
    return links.unsign(token_of(sent.url), LinkPurpose.DOC.value)


def test_a_download_is_cached_under_the_verified_link_id_only(client, sent):
    doc = token_of(sent.url)
    assert client.get(f"/d/{doc}/download").status_code == 200
    cache = link_cache.cache()
    assert cache.fresh_until(link_id_of(sent)) is not None
    assert len(cache) == 1
    # A tampered token (same id, bad signature) and a random one are refused and add nothing.
    assert client.get(f"/d/{doc[:-2]}xx/download").status_code == 404
    assert client.get("/d/not-a-token/download").status_code == 404
    assert len(cache) == 1


def test_a_revoke_empties_the_process_s_own_cache_at_once(client, shop, sent):
    doc = token_of(sent.url)
    assert client.get(f"/d/{doc}/download").status_code == 200
    assert client.get(f"/d/{doc}/pages/1.png").status_code == 200
    assert link_cache.cache().fresh_until(link_id_of(sent)) is not None
    delivery_services.revoke(shop.rep, sent.delivery.id)
    jobs.commit()
    assert len(link_cache.cache()) == 0
    assert client.get(f"/d/{doc}/download").status_code == 410
    assert client.get(f"/d/{doc}/pages/1.png").status_code == 410


def test_an_expired_link_is_refused_although_cached(client, sent, monkeypatch):
    doc = token_of(sent.url)
    delivery = db.session.get(Delivery, sent.delivery.id)
    delivery.expires_at = utcnow() + timedelta(minutes=5)
    jobs.commit()
    assert client.get(f"/d/{doc}/download").status_code == 200
    assert link_cache.cache().fresh_until(link_id_of(sent)) is not None
    later = utcnow() + timedelta(minutes=6)
    monkeypatch.setattr("portal.delivery.served_files.utcnow", lambda: later)
    monkeypatch.setattr("portal.tracking.links.utcnow", lambda: later)
    assert client.get(f"/d/{doc}/download").status_code == 410


# -- two apps (two nodes' processes) on one Redis: invalidation across processes ----------------


@pytest.fixture
def two_nodes(app, app_config, shared_redis_url, monkeypatch):
    """Node A (the test's app) and node B, a second app on the same database, with caches and
    Redis keys of their own (a key prefix of this test's)."""
    prefix = f"portal-test-{uuid.uuid4().hex[:12]}"
    monkeypatch.setattr(jobs, "QUEUE_NAME", f"portal-test-{uuid.uuid4().hex[:8]}")
    settings = {**app_config, "REDIS_URL": shared_redis_url, "INGEST_REDIS_PREFIX": prefix}
    node_b = create_app(settings)
    node_b.testing = True
    redis = Redis.from_url(shared_redis_url)
    try:
        yield node_b, redis, prefix
    finally:
        with node_b.app_context():
            db.session.remove()
            db.engine.dispose()
        for key in redis.scan_iter(f"{prefix}:*"):
            redis.delete(key)
        redis.close()


def b_cache(node_b) -> link_cache.LinkCache:
    with node_b.app_context():
        return link_cache.cache()


def warm(node_b, sent) -> float:
    """Open the page image on node B until B caches the link (it stores nothing until its
    subscription is confirmed); returns the entry's fresh_until."""
    client = node_b.test_client()
    cache = b_cache(node_b)
    wait_until(lambda: cache.listening, 30, "node B to subscribe")
    doc = path_of(sent.url)

    def cached() -> float | None:
        assert client.get(f"{doc}/pages/1.png").status_code == 200
        return cache.fresh_until(link_id_of(sent))

    return wait_until(cached, 30, "node B to cache the link")


def b_refuses(node_b, sent) -> bool:
    return node_b.test_client().get(f"{path_of(sent.url)}/pages/1.png").status_code == 410


def revoke_on_a(app, shop, sent, monkeypatch, redis_url, prefix) -> float:
    """Revoke through node A (publishing on Redis); returns the cache clock just before."""
    monkeypatch.setitem(app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(app.config, "INGEST_REDIS_PREFIX", prefix)
    before = time.monotonic()
    delivery_services.revoke(shop.rep, sent.delivery.id)
    jobs.commit()
    return before


def test_a_revoke_on_one_node_empties_the_other_s_cache_through_redis(
    app, shop, two_nodes, monkeypatch, shared_redis_url
):
    node_b, _redis, prefix = two_nodes
    sent = shop.send(shop.template("产品手册"))
    warm(node_b, sent)
    revoke_on_a(app, shop, sent, monkeypatch, shared_redis_url, prefix)
    # The message empties B's cache (not its TTL: the entry goes, it is not left to expire).
    cache = b_cache(node_b)
    wait_until(lambda: cache.fresh_until(link_id_of(sent)) is None, 30, "B to hear the revoke")
    assert b_refuses(node_b, sent)


def test_a_node_that_missed_the_revoke_stops_serving_within_one_second_of_the_commit(
    app, shop, two_nodes, monkeypatch
):
    """A lost message: the revoke is committed without the ORM (nothing published, nothing
    emptied). B's entry, filled before the commit, is trusted until at most one second after
    it, and B refuses once that passes."""
    node_b, _redis, _prefix = two_nodes
    sent = shop.send(shop.template("产品手册"))
    fresh_until = warm(node_b, sent)
    before_commit = time.monotonic()
    db.session.execute(
        update(Delivery).where(Delivery.id == sent.delivery.id).values(revoked_at=utcnow())
    )
    db.session.commit()
    assert fresh_until <= before_commit + 1.0
    wait_until(lambda: b_refuses(node_b, sent), 30, "B to refuse the revoked link")


def test_a_node_whose_subscription_was_cut_before_the_revoke_keeps_the_bound(
    app, shop, two_nodes, monkeypatch, shared_redis_url
):
    node_b, redis, prefix = two_nodes
    sent = shop.send(shop.template("产品手册"))
    warm(node_b, sent)
    name = f"portal-link-cache:{os.getpid()}:{prefix}"
    killed = [
        client["id"]
        for client in redis.client_list(_type="pubsub")
        if client.get("name", "").startswith(name)
    ]
    assert killed, "B's subscription is found by its client name"
    for client_id in killed:
        redis.client_kill_filter(_id=client_id)
    before_commit = revoke_on_a(app, shop, sent, monkeypatch, shared_redis_url, prefix)
    # Whatever B heard: its entry is gone (it noticed the cut, or the message came through a new
    # subscription) or trusted no longer than one second after the commit.
    fresh_until = b_cache(node_b).fresh_until(link_id_of(sent))
    assert fresh_until is None or fresh_until <= before_commit + 1.0
    wait_until(lambda: b_refuses(node_b, sent), 30, "B to refuse the revoked link")
