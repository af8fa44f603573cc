"""The deliveries' read clocks move by compare-and-set (portal.tracking.ingest._advance_clocks):
a round moves a clock only where nobody moved it since the round read it, else the whole
apply is retried. One statement for the round's clocks, never one that overwrites a clock
another drain moved meanwhile."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal import jobs
from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.tracking import ingest
from tests.delivery.helpers import make_delivery


def _clock_of(delivery_id: int):
    db.session.expire_all()
    return db.session.scalar(select(Delivery.read_clock_at).where(Delivery.id == delivery_id))


@pytest.fixture
def three(world) -> list[int]:
    ids = [make_delivery(world.rep, world.customer, world.template).delivery.id for _ in range(3)]
    jobs.commit()
    return ids


def _round(loaded: dict[int, object], at) -> dict[int, ingest._Clock]:
    clocks = {}
    for delivery_id, was in loaded.items():
        clock = ingest._Clock(delivery_id, was)
        clock.at = at
        clocks[delivery_id] = clock
    return clocks


def test_clocks_never_set_and_set_move_together(three):
    start = utcnow().replace(microsecond=0)
    ingest._advance_clocks(_round(dict.fromkeys(three), start))
    jobs.commit()
    assert [_clock_of(i) for i in three] == [start] * 3
    later = start + timedelta(seconds=30)
    ingest._advance_clocks(_round(dict.fromkeys(three, start), later))
    jobs.commit()
    assert [_clock_of(i) for i in three] == [later] * 3


@pytest.mark.parametrize("moved", [0, 2])
def test_a_clock_moved_meanwhile_fails_the_round(three, moved):
    start = utcnow().replace(microsecond=0)
    ingest._advance_clocks(_round(dict.fromkeys(three), start))
    jobs.commit()
    # another drain moved one of the clocks after this round read them
    db.session.get(Delivery, three[moved]).read_clock_at = start + timedelta(seconds=5)
    jobs.commit()
    with pytest.raises(ingest._Conflict):
        ingest._advance_clocks(_round(dict.fromkeys(three, start), start + timedelta(seconds=9)))
    db.session.rollback()
    assert _clock_of(three[moved]) == start + timedelta(seconds=5)


def test_a_clock_set_meanwhile_fails_a_round_that_found_none(three):
    start = utcnow().replace(microsecond=0)
    db.session.get(Delivery, three[1]).read_clock_at = start
    jobs.commit()
    with pytest.raises(ingest._Conflict):
        ingest._advance_clocks(_round(dict.fromkeys(three), start + timedelta(seconds=9)))
    db.session.rollback()
    assert _clock_of(three[1]) == start
