"""private_redis: a Redis database no other test uses meanwhile, whichever xdist worker or run
asks (a shared database once let one test's flush delete another's `portal:tick:running`)."""

from __future__ import annotations

from redis import Redis

from tests.multinode.cluster import CLAIM_KEY, private_redis, redis_databases


def test_each_xdist_worker_tries_a_database_of_its_own_first():
    firsts = [redis_databases(f"gw{n}")[0] for n in range(4)]
    assert len(set(firsts)) == 4 and 0 not in firsts
    assert sorted(redis_databases("gw1")) == list(range(1, 16))  # the others after it


def test_two_holders_at_once_get_two_databases():
    with private_redis() as first, private_redis() as second:
        assert first != second


def test_a_database_not_empty_is_not_claimed_and_another_claimer_keeps_its_keys():
    """Another claimer (the bench, another run) holds a database with a key of its own: it is
    skipped, and nothing of it is flushed when our holder is done."""
    with private_redis() as url:
        pass
    other = Redis.from_url(url)
    other.set("someone-else:claimed-by", "bench", ex=60)
    try:
        with private_redis() as mine:
            assert mine != url
        assert other.get("someone-else:claimed-by") == b"bench"
    finally:
        other.delete("someone-else:claimed-by")
        other.close()


def test_a_holder_whose_claim_was_taken_over_flushes_nothing():
    with private_redis() as url:
        connection = Redis.from_url(url)
        connection.set(CLAIM_KEY, "the next holder")  # ours expired and someone claimed it
        connection.set("their:key", 1)
    try:
        assert connection.get("their:key") == b"1"
    finally:
        connection.flushdb()
        connection.close()
