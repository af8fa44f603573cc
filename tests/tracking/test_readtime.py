"""Read-time statistics of deliveries: aggregated in SQL, a constant number of queries."""

from __future__ import annotations

from test_ingest import (
    batch,
    deliver,
    open_session,
    report,
    world_fixture,  # noqa: F401  (the `world` fixture)
)

from portal.statement_count import counted_statements
from portal.tracking.ingest import ingest_batch
from portal.tracking.readtime import DeliveryStats, delivery_stats


def test_stats_add_up_sessions_and_pages_per_delivery(world):
    read, unopened = deliver(world), deliver(world)
    first = open_session(read)
    second = open_session(read, started_at=first.at(3600))
    ingest_batch(
        first.token,
        batch(first, report(page=1, ms=12_000), report(page=2, ms=8_400)),
        now=first.at(30),
    )
    ingest_batch(first.token, batch(first, report(page=2, ms=5_000)), now=first.at(40))
    ingest_batch(
        second.token,
        batch(second, report(page=1, ms=2_000), report(page=3, ms=999_999)),
        now=second.at(10),
    )

    stats = delivery_stats([read.id, unopened.id, 987_654])

    assert stats[read.id] == DeliveryStats(
        opens=2,
        read_seconds=round((12_000 + 8_400 + 5_000 + 2_000 + 8_000) / 1000),
        pages={1: 14, 2: 13, 3: 8},
        first_opened_at=first.started_at,
        last_seen_at=second.at(10),
    )
    assert stats[unopened.id] == DeliveryStats()
    assert stats[987_654] == DeliveryStats()


def test_a_session_without_reports_counts_as_an_open(world):
    delivery = deliver(world)
    opened = open_session(delivery)
    stats = delivery_stats([delivery.id])[delivery.id]
    assert (stats.opens, stats.read_seconds, stats.pages) == (1, 0, {})
    assert stats.first_opened_at == stats.last_seen_at == opened.started_at


def test_the_query_count_does_not_grow_with_the_deliveries(world):
    deliveries = [deliver(world) for _ in range(20)]
    for delivery in deliveries:
        opened = open_session(delivery)
        ingest_batch(
            opened.token,
            batch(opened, report(page=1, ms=4_000), report(page=2, ms=3_000)),
            now=opened.at(10),
        )
    ids = [d.id for d in deliveries]

    with counted_statements() as one:
        single = delivery_stats(ids[:1])
    with counted_statements() as twenty:
        many = delivery_stats(ids)

    assert len(one) == len(twenty) == 3  # sessions, pages, internal views
    assert single[ids[0]] == many[ids[0]]
    assert all(s.read_seconds == 7 and s.pages == {1: 4, 2: 3} for s in many.values())


def test_no_deliveries_ask_nothing(app):
    with counted_statements() as statements:
        assert delivery_stats([]) == {}
    assert statements == []
