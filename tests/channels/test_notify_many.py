"""notify_many raises alerts as notify() raises each (the drain raises hundreds a round)."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.jobs import commit
from portal.notifications.models import Notification
from portal.notifications.services import Alert, notify, notify_many


def _rows() -> list[tuple[int, str, str | None]]:
    return [
        tuple(row)
        for row in db.session.execute(
            select(Notification.user_id, Notification.kind, Notification.coalesce_key).order_by(
                Notification.id
            )
        )
    ]


def test_keys_coalesce_per_person_within_a_call_and_across_calls(world):
    rep, other = world.rep, world.supervisor
    earlier = notify(rep, "pricing.viewed", {"customer": "甲"}, coalesce_key="k2")
    commit()
    params = {"customer": "乙", "document": "方案"}
    got = notify_many(
        [
            Alert(rep, "pricing.viewed", params, coalesce_key="k1"),
            Alert(rep, "pricing.viewed", params, coalesce_key="k1"),  # a repeat in the call
            Alert(other, "pricing.viewed", params, coalesce_key="k1"),  # same key, other person
            Alert(rep, "pricing.viewed", params, coalesce_key="k2"),  # raised before
            Alert(other, "pricing.viewed", params, coalesce_key="k2"),  # not for this person
            Alert(rep, "reading.long", params),  # no key: always raised
        ]
    )
    commit()
    assert got[0] is got[1]
    assert got[3].id == earlier.id
    assert len({n.id for n in got}) == 5
    assert _rows() == [
        (rep.id, "pricing.viewed", "k2"),
        (rep.id, "pricing.viewed", "k1"),
        (other.id, "pricing.viewed", "k1"),
        (other.id, "pricing.viewed", "k2"),
        (rep.id, "reading.long", None),
    ]
