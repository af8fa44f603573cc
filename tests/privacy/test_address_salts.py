"""Address hashes use a salt that rotates (issue 18): a hash made before a rotation differs from
one made after, no stored salt can reproduce it, and the tick rotates on schedule (an injected
clock, never a sleep)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import jobs
from portal.db_types import utcnow
from portal.extensions import db
from portal.tasks.tick import run_tick
from portal.tracking import address_salts, sessions
from portal.tracking.models import AddressSalt, ViewSession
from tests.delivery.helpers import make_delivery
from tests.viewer_support import open_in_viewer

ADDRESS = "203.0.113.7"
HOUR = timedelta(hours=1)


def stored_salts() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AddressSalt.salt)))


@pytest.fixture
def app_config(app_config: dict) -> dict:
    return {**app_config, "ADDRESS_SALT_DAYS": 2}


def test_a_hash_made_before_a_rotation_cannot_be_matched_after_it(app):
    start = address_salts.period_start(address_salts.period_of(utcnow()))
    days = timedelta(days=address_salts.salt_days())
    before = address_salts.hash_address(ADDRESS, start + HOUR)
    assert before == address_salts.hash_address(ADDRESS, start + days - HOUR)  # one period
    assert before != address_salts.hash_address("203.0.113.8", start + HOUR)
    jobs.commit()
    assert [address_salts.hash_with(s, ADDRESS) for s in stored_salts()] == [before]

    after = address_salts.hash_address(ADDRESS, start + days + HOUR)
    jobs.commit()
    assert after != before
    salts = stored_salts()
    assert len(salts) == 1  # the old salt was deleted, not kept
    assert all(address_salts.hash_with(s, ADDRESS) != before for s in salts)


def test_the_tick_rotates_the_salt_on_schedule(app):
    start = address_salts.period_start(address_salts.period_of(utcnow()))
    days = timedelta(days=address_salts.salt_days())
    run_tick(start + HOUR)
    jobs.commit()
    first = stored_salts()
    assert len(first) == 1

    assert run_tick(start + days - HOUR).salts_deleted == 0  # the same period: kept
    jobs.commit()
    assert stored_salts() == first

    # The next period: the tick makes its salt and deletes the old one, although nothing was
    # hashed in between.
    assert run_tick(start + days + HOUR).salts_deleted == 1
    jobs.commit()
    second = stored_salts()
    assert len(second) == 1 and second != first
    assert run_tick(start + 2 * days + HOUR).salts_deleted == 1
    jobs.commit()
    assert stored_salts() not in (first, second)


def test_a_view_session_stores_the_hash_of_the_current_salt(app, world, client):
    sent = make_delivery(world.rep, world.customer, world.template)
    open_in_viewer(client, sent.url)
    db.session.expire_all()
    [stored] = db.session.scalars(
        select(ViewSession.ip_hash).where(ViewSession.delivery_id == sent.delivery.id)
    )
    # The test client's address; the hash is the current salt's, not the secret key's.
    assert stored == sessions.ip_hash("127.0.0.1")
    assert [address_salts.hash_with(s, "127.0.0.1") for s in stored_salts()] == [stored]
    address_salts.rotate(utcnow() + timedelta(days=address_salts.salt_days()))
    jobs.commit()
    assert all(address_salts.hash_with(s, "127.0.0.1") != stored for s in stored_salts())
