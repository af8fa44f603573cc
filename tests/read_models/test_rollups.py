"""Content analytics read rollups kept as events are applied (issue 14 item 7): for a random
history built through the real event path, the figures equal a from-scratch scan of the stored
rows, and the rollups equal what a rebuild from the raw rows gives; erasure and retention keep
them so; `flask --app wsgi analytics rebuild` makes them again."""

from __future__ import annotations

import importlib.util
import random
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from portal import jobs
from portal.db_types import utcnow
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.privacy import erasure
from portal.read_models.analytics import Filters, analytics_of_template
from portal.tracking import retention, rollups
from portal.tracking.models import DeliveryPageReads, DeliveryReads
from tests.delivery.helpers import make_delivery
from tests.read_models.conftest import internal_view, read
from tests.read_models.test_template_analytics import expected


def rows() -> tuple[list[tuple], list[tuple]]:
    """Every rollup row, in key order."""
    reads = db.session.execute(
        select(
            DeliveryReads.delivery_id,
            DeliveryReads.opens,
            DeliveryReads.previews,
            DeliveryReads.read_ms,
            DeliveryReads.internal_views,
        ).order_by(DeliveryReads.delivery_id)
    ).all()
    pages = db.session.execute(
        select(
            DeliveryPageReads.delivery_id, DeliveryPageReads.page, DeliveryPageReads.read_ms
        ).order_by(DeliveryPageReads.delivery_id, DeliveryPageReads.page)
    ).all()
    # a send whose counts went back to nothing may keep a row of zeros; a rebuild writes none
    return [tuple(r) for r in reads if any(r[1:])], [tuple(p) for p in pages]


def rebuilt() -> tuple[list[tuple], list[tuple]]:
    rollups.rebuild()
    jobs.commit()
    return rows()


@pytest.fixture
def random_history(shop) -> list[Delivery]:
    """Sends of the template to random customers by their reps; each read 0-3 times by the
    recipient (random pages and times, some only previewed), some by a forwarded reader,
    some looked at by staff."""
    rng = random.Random(1414)  # noqa: S311 (a fixed, repeatable history)
    reps = {
        shop.customers[0].id: shop.east_rep,
        shop.customers[1].id: shop.east_rep,
        shop.customers[2].id: shop.east_rep,
        shop.customers[3].id: shop.east_rep2,
        shop.customers[4].id: shop.south_rep,
    }
    sends = []
    for _ in range(8):
        customer = rng.choice(shop.customers)
        sends.append(make_delivery(reps[customer.id], customer, shop.template).delivery)
    for delivery in sends:
        for _ in range(rng.randint(0, 3)):
            pages = {p: rng.randint(1, 60) * 1000 for p in rng.sample([1, 2, 3], rng.randint(0, 3))}
            read(delivery, pages, confirm=rng.random() < 0.8, device="mine")
        if rng.random() < 0.3:
            read(delivery, {1: 20_000, 3: 5_000}, device=f"other{delivery.id}")
        if rng.random() < 0.3:
            internal_view(delivery)
    read(sends[0], {}, confirm=False, device="mine")  # at least one preview, whatever the draw
    return sends


def test_rollup_figures_equal_a_scan_of_the_events_for_a_random_history(shop, random_history):
    figures = analytics_of_template(shop.marketing, shop.template.id, Filters()).as_json()
    assert figures == expected([d.id for d in random_history])
    assert figures["opens"] > 0 and figures["previews"] > 0 and figures["forwards"] > 0
    assert len(figures["pages"]) == 3
    # per team too: the filters pick sends, the rollups follow them
    south = analytics_of_template(shop.marketing, shop.template.id, Filters(team="华南"))
    south_ids = [d.id for d in random_history if d.sender_id == shop.south_rep.id]
    assert south.as_json() == expected(south_ids)

    kept = rows()
    assert kept == rebuilt()  # what the event path kept is what a rebuild makes


def test_erasure_and_retention_keep_the_rollups_equal_to_a_rebuild(app, shop, random_history):
    erased = shop.customers[0].id
    left = [d.id for d in random_history if d.customer_id != erased]
    marketing, template = shop.marketing.id, shop.template.id
    erasure.erase(None, erased)
    jobs.commit()
    shop.marketing = db.session.get(type(shop.marketing), marketing)  # erasure expunged all
    figures = analytics_of_template(shop.marketing, template, Filters()).as_json()
    assert figures == expected(left)
    kept = rows()
    assert {r[0] for r in kept[0]} <= set(left) and kept == rebuilt()

    # Every raw record expires: the sends stay, their reading goes from the figures too.
    retention.expire(now=utcnow() + timedelta(days=retention.retention_days() + 1))
    jobs.commit()
    figures = analytics_of_template(shop.marketing, template, Filters()).as_json()
    assert figures == expected(left)
    assert (figures["sends"], figures["opens"], figures["pages"]) == (len(left), 0, [])
    assert rows() == rebuilt() == ([], [])


def test_the_rebuild_command_makes_the_rollups_again(app, shop, random_history):
    kept = rows()
    db.session.execute(DeliveryPageReads.__table__.delete())
    db.session.execute(DeliveryReads.__table__.delete())
    jobs.commit()

    said = app.test_cli_runner().invoke(args=["analytics", "rebuild"])

    assert said.exit_code == 0, said.output
    assert said.output.startswith(f"rollups rebuilt: {len(kept[0])} sends, {len(kept[1])} page")
    db.session.expire_all()
    assert rows() == kept

    # The migration that made the tables fills them with the same rows (its own SQL).
    db.session.execute(DeliveryPageReads.__table__.delete())
    db.session.execute(DeliveryReads.__table__.delete())
    migration = _migration()
    db.session.execute(text(migration.BACKFILL_PAGES))
    db.session.execute(text(migration.BACKFILL_READS))
    jobs.commit()
    assert rows() == kept


def _migration():
    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0020_rollups.py"
    spec = importlib.util.spec_from_file_location("migration_rollups", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
