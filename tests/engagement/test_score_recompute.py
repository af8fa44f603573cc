"""`flask scores recompute`, grades, and the breakdown the API shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update

from portal import jobs
from portal.customers.models import Customer
from portal.engagement import rules
from portal.engagement.grades import grade_for
from portal.engagement.ledger import breakdown, refresh_scores
from portal.engagement.models import ScoreEntry, ScoringRule, ScoringRuleRevision
from portal.extensions import db
from portal.tracking.models import EventType
from tests.delivery.helpers import make_customer, make_delivery, make_template
from tests.engagement.scoring_support import (
    entries,
    new_session,
    points_by_rule,
    record,
    score_of,
)

START = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)


def history(shop, customer) -> None:
    """A varied history: opens on several days, reading, downloads, comments, clicks."""
    quote = make_delivery(shop.rep, customer, shop.quote).delivery
    brochure = make_delivery(shop.rep, customer, shop.brochure).delivery
    for day in range(5):
        at = START + timedelta(days=day)
        record(customer, EventType.LINK_OPENED, delivery_id=quote.id, occurred_at=at)
        session = new_session(quote)
        for page in (1, 2, 2):
            record(
                customer,
                EventType.PAGE_VIEWED,
                delivery_id=quote.id,
                session_id=session.id,
                page=page,
                duration_ms=50_000,
                occurred_at=at + timedelta(minutes=page),
            )
    record(customer, EventType.DOC_DOWNLOADED, count=3, delivery_id=brochure.id)
    for n in range(4):
        record(
            customer,
            EventType.COMMENT_CREATED,
            delivery_id=brochure.id,
            properties={"comment_id": n},
        )
    record(
        customer,
        EventType.LINK_CLICKED,
        delivery_id=brochure.id,
        properties={"href": "https://example.com/c", "content_tag": "case"},
    )


def test_recompute_gives_back_the_same_score_and_breakdown(shop, buyer, runner):
    history(shop, buyer)
    score, before = score_of(buyer), breakdown(buyer.id)
    assert score == (sum(item["points"] for item in before), "A")
    assert {item["rule"] for item in before} >= {
        "senior_title",
        "target_industry",
        "doc_opened",
        "pricing_viewed",
        "long_read",
        "deep_read",
        "return_visit",
        "brochure_downloaded",
        "comment_created",
        "case_study_viewed",
        "frequent_interaction",
    }

    result = runner.invoke(args=["scores", "recompute"])
    assert result.exit_code == 0, result.output
    assert score_of(buyer) == score
    assert breakdown(buyer.id) == before


def test_recompute_repairs_a_score_and_rebuilds_a_lost_ledger(shop, buyer, runner):
    history(shop, buyer)
    score, before = score_of(buyer), breakdown(buyer.id)
    db.session.execute(delete(ScoreEntry).where(ScoreEntry.customer_id == buyer.id))
    db.session.execute(update(Customer).where(Customer.id == buyer.id).values(score=3, grade="C"))
    jobs.commit()

    result = runner.invoke(args=["scores", "recompute", "--customer", str(buyer.id)])
    assert result.exit_code == 0, result.output
    assert score_of(buyer) == score
    assert breakdown(buyer.id) == before


def test_recompute_of_one_customer_leaves_the_others_alone(shop, buyer, runner):
    other = make_customer(shop.rep, name="王芳", email="wang@example.com")
    history(shop, buyer)
    record(other, EventType.PORTAL_VISITED)
    for customer in (buyer, other):
        db.session.execute(update(Customer).where(Customer.id == customer.id).values(score=999))
    jobs.commit()

    result = runner.invoke(args=["scores", "recompute", "--customer", str(other.id)])
    assert result.exit_code == 0, result.output
    assert score_of(other) == (15, "C")  # senior_title (采购总监)
    assert score_of(buyer)[0] == 999


def test_recompute_scores_events_stored_before_the_rules_existed(make_user, runner):
    marketing, rep = make_user("marketing"), make_user("rep")
    customer = make_customer(rep, industry="制造业")
    delivery = make_delivery(rep, customer, make_template(marketing)).delivery
    db.session.execute(delete(ScoringRule))
    db.session.execute(delete(ScoringRuleRevision))
    jobs.commit()
    record(customer, EventType.LINK_OPENED, delivery_id=delivery.id)
    assert score_of(customer) == (0, "C")

    rules.install_defaults()
    jobs.commit()
    assert runner.invoke(args=["scores", "recompute"]).exit_code == 0
    assert score_of(customer) == (15 + 10 + 5 + 20, "B")


def test_recompute_applies_edited_rules_at_their_new_version(shop, buyer, runner):
    history(shop, buyer)
    rules.update_rule("doc_opened", by=shop.admin, points=7)
    jobs.commit()
    assert points_by_rule(buyer)["doc_opened"] == 5

    assert runner.invoke(args=["scores", "recompute"]).exit_code == 0
    paid = [(e.points, e.rule_version) for e in entries(buyer) if e.rule_key == "doc_opened"]
    assert paid == [(7, 2)]


def test_ledger_only_recompute_sums_the_ledger_in_one_update(shop, buyer, runner):
    history(shop, buyer)
    score = score_of(buyer)
    rows_before = len(entries(buyer))
    db.session.execute(update(Customer).values(score=0, grade="C"))
    jobs.commit()

    result = runner.invoke(args=["scores", "recompute", "--ledger-only"])
    assert result.exit_code == 0, result.output
    assert "from the ledger" in result.output
    assert score_of(buyer) == score
    assert len(entries(buyer)) == rows_before


# -- grades ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "grade"),
    [(-10, "C"), (0, "C"), (29, "C"), (30, "B"), (59, "B"), (60, "A"), (75, "A")],
)
def test_grade_thresholds(score, grade):
    assert grade_for(score) == grade


@pytest.mark.parametrize(("total", "grade"), [(29, "C"), (30, "B"), (59, "B"), (60, "A")])
def test_the_set_based_update_grades_like_grade_for(shop, total, grade):
    customer = make_customer(shop.rep, name="赵六", email="zhao@example.com")
    ledger_rows(customer, total)
    assert refresh_scores([customer.id]) == {customer.id: (total, grade)}
    jobs.commit()
    assert score_of(customer) == (total, grade)


def test_59_points_is_b_and_one_more_is_a(shop, buyer):
    ledger_rows(buyer, 59)
    refresh_scores([buyer.id])
    jobs.commit()
    assert score_of(buyer) == (59, "B")
    delivery = make_delivery(shop.rep, buyer, shop.brochure).delivery
    rules.update_rule("doc_opened", by=shop.admin, points=1)
    rules.update_rule("senior_title", by=shop.admin, enabled=False)
    rules.update_rule("target_industry", by=shop.admin, enabled=False)
    record(buyer, EventType.LINK_OPENED, delivery_id=delivery.id)
    assert score_of(buyer) == (60, "A")


def ledger_rows(customer, total: int) -> None:
    """Manual ledger rows adding up to total (as an adjustment would)."""
    db.session.add_all(
        ScoreEntry(
            customer_id=customer.id,
            rule_key="manual",
            rule_version=1,
            points=points,
            scope=f"test:{n}",
            at=START,
            reason={},
        )
        for n, points in enumerate([total - total // 2, total // 2])
    )
    db.session.flush()


def test_the_breakdown_is_newest_first_with_its_fields(shop, buyer, client, api_headers):
    history(shop, buyer)
    answer = client.get(f"/api/v1/customers/{buyer.id}", headers=api_headers(shop.rep))
    assert answer.status_code == 200
    items = answer.json["score_breakdown"]
    assert answer.json["score"] == sum(item["points"] for item in items)
    assert all(set(item) == {"rule", "points", "event_id", "at", "rule_version"} for item in items)
    ats = [datetime.fromisoformat(item["at"]) for item in items]
    assert ats == sorted(ats, reverse=True)
    stored = {row.id for row in db.session.scalars(select(ScoreEntry))}
    assert len(stored) == len(items)
