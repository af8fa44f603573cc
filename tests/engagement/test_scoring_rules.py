"""What each scoring rule pays for, and the rules' settings: enabled, versions, params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from portal import jobs
from portal.engagement import rules
from portal.engagement.models import ScoreEntry, ScoringRuleRevision
from portal.errors import PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.library.services import add_version
from portal.tracking.models import EventType
from tests.delivery.helpers import TWO_PAGE_HTML, make_customer, make_delivery, make_template
from tests.engagement.scoring_support import (
    entries,
    new_session,
    points_by_rule,
    record,
    score_of,
)

PROFILE = {"senior_title": 15, "target_industry": 10}


@pytest.fixture
def nobody(shop):
    """A customer no profile rule matches."""
    return make_customer(
        shop.rep, name="李雷", title="工程师", industry="零售", email="li@example.com"
    )


def opened(customer, delivery, **fields):
    return record(customer, EventType.LINK_OPENED, delivery_id=delivery.id, **fields)


def viewed(customer, session, page: int, ms: int = 1_000, **fields):
    return record(
        customer,
        EventType.PAGE_VIEWED,
        delivery_id=session.delivery_id,
        session_id=session.id,
        page=page,
        duration_ms=ms,
        **fields,
    )


# -- profile rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("title", "senior"),
    [
        ("采购总监", True),
        ("总经理助理", True),
        ("采购负责人", True),
        ("VP of Sales", True),
        ("Head of Procurement", True),
        ("procurement director", True),
        ("Headquarters clerk", False),  # a word, not a piece of one
        ("销售经理", False),
        ("", False),
    ],
)
def test_senior_title_matches_decision_maker_words(shop, title, senior):
    customer = make_customer(shop.rep, title=title, industry="零售")
    delivery = make_delivery(shop.rep, customer, shop.brochure).delivery
    opened(customer, delivery)
    assert ("senior_title" in points_by_rule(customer)) is senior


def test_profile_rules_pay_once_on_the_first_event(shop, buyer):
    delivery = make_delivery(shop.rep, buyer, shop.brochure).delivery
    [first] = opened(buyer, delivery)
    opened(buyer, delivery)
    record(buyer, EventType.EMAIL_OPENED, delivery_id=delivery.id)

    profile = [e for e in entries(buyer) if e.rule_key in PROFILE]
    assert {e.rule_key: (e.points, e.event_id) for e in profile} == {
        "senior_title": (15, first.id),
        "target_industry": (10, first.id),
    }
    assert profile[0].reason["matched"] == "总监"


def test_target_industry_follows_the_configured_list(shop, nobody):
    rules.update_rule("target_industry", by=shop.admin, params={"industries": ["零售", "医药"]})
    delivery = make_delivery(shop.rep, nobody, shop.brochure).delivery
    opened(nobody, delivery)
    assert points_by_rule(nobody) == {"target_industry": 10, "doc_opened": 5}


# -- content-aware rules --------------------------------------------------------------------------


def test_pricing_viewed_follows_the_tags_of_the_version_the_session_showed(shop, nobody):
    """Page 2 is tagged pricing in version 1 only: a session that showed version 2 reading
    page 2 earns nothing, one that showed version 1 earns pricing_viewed."""
    solution = make_template(shop.marketing, name="解决方案", kind="solution")  # 2:pricing
    add_version(
        solution,
        shop.marketing,
        filename="doc.html",
        data=TWO_PAGE_HTML.encode(),
        changelog="v2: prices moved to page 1",
        content_tags="1:pricing",
    )
    jobs.commit()
    delivery = make_delivery(shop.rep, nobody, solution).delivery

    viewed(nobody, new_session(delivery, version_number=2), page=2)
    assert "pricing_viewed" not in points_by_rule(nobody)

    [view] = viewed(nobody, new_session(delivery, version_number=1), page=2)
    [paid] = [e for e in entries(nobody) if e.rule_key == "pricing_viewed"]
    assert (paid.points, paid.event_id) == (20, view.id)
    assert paid.reason["tag"] == "pricing"


def test_pricing_viewed_pays_once_per_customer(shop, nobody):
    quote = make_delivery(shop.rep, nobody, shop.quote).delivery
    other = make_delivery(shop.rep, nobody, make_template(shop.marketing, name="报价二")).delivery
    opened(nobody, quote)
    viewed(nobody, new_session(quote), page=2)
    opened(nobody, other)
    assert points_by_rule(nobody)["pricing_viewed"] == 20


def test_case_study_viewed_by_opening_one_or_clicking_a_case_link(shop, nobody):
    case = make_template(shop.marketing, name="客户案例", kind="case_study", content_tags="")
    case_delivery = make_delivery(shop.rep, nobody, case).delivery
    brochure = make_delivery(shop.rep, nobody, shop.brochure).delivery
    opened(nobody, case_delivery)
    opened(nobody, case_delivery)
    assert points_by_rule(nobody)["case_study_viewed"] == 10  # once per delivery

    record(
        nobody,
        EventType.LINK_CLICKED,
        delivery_id=brochure.id,
        properties={"href": "https://example.com/case", "content_tag": "case"},
    )
    record(
        nobody,
        EventType.LINK_CLICKED,
        delivery_id=brochure.id,
        properties={"href": "https://example.com/x", "content_tag": "pricing"},
    )
    assert points_by_rule(nobody)["case_study_viewed"] == 20


def test_brochure_downloaded_once_per_delivery_and_only_brochures(shop, nobody):
    brochure = make_delivery(shop.rep, nobody, shop.brochure).delivery
    quote = make_delivery(shop.rep, nobody, shop.quote).delivery
    record(nobody, EventType.DOC_DOWNLOADED, count=2, delivery_id=brochure.id)
    record(nobody, EventType.DOC_DOWNLOADED, delivery_id=quote.id)
    assert points_by_rule(nobody) == {"brochure_downloaded": 15}


# -- reading --------------------------------------------------------------------------------------


def test_long_read_pays_when_one_session_reaches_120_seconds(shop, nobody):
    delivery = make_delivery(shop.rep, nobody, shop.brochure).delivery
    session = new_session(delivery)
    viewed(nobody, session, page=1, ms=60_000)
    viewed(nobody, session, page=1, ms=59_999)
    assert "long_read" not in points_by_rule(nobody)
    [crossing] = viewed(nobody, session, page=1, ms=1)
    viewed(nobody, session, page=1, ms=60_000)

    [paid] = [e for e in entries(nobody) if e.rule_key == "long_read"]
    assert (paid.points, paid.event_id) == (10, crossing.id)
    assert paid.reason["read_seconds"] == 120

    other = new_session(delivery)  # two short sessions do not add up
    viewed(nobody, other, page=1, ms=100_000)
    assert points_by_rule(nobody)["long_read"] == 10


def test_long_read_stops_at_its_cap(shop, nobody):
    delivery = make_delivery(shop.rep, nobody, shop.brochure).delivery
    for _ in range(5):
        viewed(nobody, new_session(delivery), page=1, ms=130_000)
    assert points_by_rule(nobody)["long_read"] == 30


def test_deep_read_needs_80_percent_of_the_pages_in_one_session(shop, nobody):
    delivery = make_delivery(shop.rep, nobody, shop.brochure).delivery  # two pages
    first, second = new_session(delivery), new_session(delivery)
    read = 5_000  # a page counts once it was read min_page_seconds (5 s by default)
    viewed(nobody, first, page=1, ms=read)
    viewed(nobody, second, page=2, ms=read)
    viewed(nobody, first, page=1, ms=read)
    viewed(nobody, first, page=2, ms=read - 1)  # not yet read for 5 s
    assert "deep_read" not in points_by_rule(nobody)

    [both] = viewed(nobody, first, page=2, ms=1)
    viewed(nobody, second, page=1, ms=read)  # another session, read in full: another 10
    paid = [e for e in entries(nobody) if e.rule_key == "deep_read"]
    assert [(e.points, e.reason["pages"]) for e in paid] == [(10, 2), (10, 2)]
    assert paid[0].event_id == both.id


# -- visits and interactions ----------------------------------------------------------------------


def test_return_visit_counts_calendar_days_in_shanghai(shop, nobody):
    delivery = make_delivery(shop.rep, nobody, shop.brochure).delivery
    evening = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai
    opened(nobody, delivery, occurred_at=evening)
    opened(nobody, delivery, occurred_at=evening + timedelta(minutes=50))  # 23:50: same day
    assert "return_visit" not in points_by_rule(nobody)

    [next_day] = opened(nobody, delivery, occurred_at=evening + timedelta(hours=1, minutes=30))
    record(nobody, EventType.PORTAL_VISITED, occurred_at=evening + timedelta(hours=2))
    [paid] = [e for e in entries(nobody) if e.rule_key == "return_visit"]
    assert (paid.points, paid.event_id) == (5, next_day.id)
    assert paid.reason == {"day": "2027-03-02", "previous_day": "2027-03-01"}

    for day in range(2, 8):  # a portal visit a day: max 3 return visits
        record(nobody, EventType.PORTAL_VISITED, occurred_at=evening + timedelta(days=day))
    assert points_by_rule(nobody)["return_visit"] == 15


def test_frequent_interaction_needs_five_interactions_within_seven_days(shop, nobody):
    delivery = make_delivery(shop.rep, nobody, shop.brochure).delivery
    session = new_session(delivery)
    start = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)
    for n in range(4):
        opened(nobody, delivery, occurred_at=start + timedelta(days=2 * n))  # days 0, 2, 4, 6
        viewed(nobody, session, page=1, occurred_at=start + timedelta(days=2 * n))
    record(nobody, EventType.EMAIL_OPENED, delivery_id=delivery.id)  # a pixel: not counted
    assert "frequent_interaction" not in points_by_rule(nobody)

    # day 8: the window (day 1, day 8] holds days 2, 4, 6 and 8: still four
    opened(nobody, delivery, occurred_at=start + timedelta(days=8))
    assert "frequent_interaction" not in points_by_rule(nobody)
    [fifth] = record(
        nobody,
        "external.wechat_message",
        occurred_at=start + timedelta(days=8, hours=1),
    )
    [paid] = [e for e in entries(nobody) if e.rule_key == "frequent_interaction"]
    assert (paid.points, paid.event_id, paid.reason["interactions"]) == (10, fifth.id, 5)

    # more interactions the same week pay nothing more
    record(nobody, EventType.FORM_SUBMITTED, count=5, occurred_at=start + timedelta(days=9))
    assert points_by_rule(nobody)["frequent_interaction"] == 10


def test_comments_pay_each_up_to_the_cap(shop, nobody):
    delivery = make_delivery(shop.rep, nobody, shop.brochure).delivery
    for n in range(5):
        record(
            nobody,
            EventType.COMMENT_CREATED,
            delivery_id=delivery.id,
            properties={"comment_id": n},
        )
    paid = [e for e in entries(nobody) if e.rule_key == "comment_created"]
    assert [e.points for e in paid] == [15, 15, 15]


# -- settings -------------------------------------------------------------------------------------


def test_a_disabled_rule_gives_nothing_until_enabled_again(shop, nobody):
    rules.update_rule("pricing_viewed", by=shop.admin, enabled=False)
    jobs.commit()
    delivery = make_delivery(shop.rep, nobody, shop.quote).delivery
    opened(nobody, delivery)
    assert points_by_rule(nobody) == {"doc_opened": 5}

    rules.update_rule("pricing_viewed", by=shop.admin, enabled=True)
    jobs.commit()
    opened(nobody, delivery)
    [paid] = [e for e in entries(nobody) if e.rule_key == "pricing_viewed"]
    assert paid.rule_version == 3  # seed, disabled, enabled


def test_every_edit_makes_a_version_and_the_ledger_records_it(shop, nobody):
    first = make_delivery(shop.rep, nobody, shop.brochure).delivery
    second = make_delivery(shop.rep, nobody, shop.quote).delivery
    opened(nobody, first)
    rule = rules.update_rule("doc_opened", by=shop.admin, points=8, cap=16)
    jobs.commit()
    assert rule.version == 2
    assert rules.update_rule("doc_opened", by=shop.admin, points=8).version == 2  # no change
    opened(nobody, second)

    paid = [(e.rule_version, e.points) for e in entries(nobody) if e.rule_key == "doc_opened"]
    assert paid == [(1, 5), (2, 8)]
    history = rules.revisions("doc_opened")
    assert [(r.version, r.points, r.cap, r.by_id) for r in history] == [
        (1, 5, 50, None),
        (2, 8, 16, shop.admin.id),
    ]


def test_only_an_admin_edits_rules_and_params_are_checked(shop):
    with pytest.raises(PermissionDenied):
        rules.update_rule("doc_opened", by=shop.rep, points=50)
    with pytest.raises(ValidationFailed, match="unknown params"):
        rules.update_rule("long_read", by=shop.admin, params={"minutes": 2})
    with pytest.raises(ValidationFailed, match="fraction"):
        rules.update_rule("deep_read", by=shop.admin, params={"ratio": 1.5})
    with pytest.raises(ValidationFailed, match="cap"):
        rules.update_rule("deep_read", by=shop.admin, cap=-1)
    with pytest.raises(ValidationFailed, match="kinds"):
        rules.update_rule("pricing_viewed", by=shop.admin, params={"kinds": ["spreadsheet"]})
    assert (
        db.session.scalar(
            select(ScoringRuleRevision.version)
            .where(ScoringRuleRevision.key == "doc_opened")
            .order_by(ScoringRuleRevision.version.desc())
            .limit(1)
        )
        == 1
    )


def test_a_lowered_cap_clamps_the_next_award(shop, nobody):
    rules.update_rule("comment_created", by=shop.admin, cap=20)
    delivery = make_delivery(shop.rep, nobody, shop.brochure).delivery
    record(nobody, EventType.COMMENT_CREATED, count=3, delivery_id=delivery.id)
    paid = [(e.points, e.reason.get("capped_from")) for e in entries(nobody)]
    assert paid == [(15, None), (5, 15)]


def test_without_rules_nothing_is_scored(make_user):
    from tests.delivery.helpers import make_template as template

    marketing, rep = make_user("marketing"), make_user("rep")
    customer = make_customer(rep, industry="制造业")
    delivery = make_delivery(rep, customer, template(marketing)).delivery
    opened(customer, delivery)
    assert score_of(customer) == (0, "C")
    assert db.session.scalar(select(ScoreEntry.id).limit(1)) is None


def test_the_scores_cli_lists_and_changes_rules(shop, runner):
    listed = runner.invoke(args=["scores", "rules"])
    assert listed.exit_code == 0, listed.output
    assert "pricing_viewed" in listed.output and "+20" in listed.output

    changed = runner.invoke(
        args=[
            *("scores", "set-rule", "long_read", "--points", "12", "--cap", "none"),
            *("--params", '{"min_seconds": 90}'),
        ]
    )
    assert changed.exit_code == 0, changed.output
    assert "version 2" in changed.output
    rule = rules.load_rules()["long_read"]
    assert (rule.points, rule.cap, rule.params, rule.version) == (12, None, {"min_seconds": 90}, 2)

    refused = runner.invoke(args=["scores", "set-rule", "deep_read", "--params", '{"x": 1}'])
    assert refused.exit_code != 0
    assert "unknown params" in refused.output
    disabled = runner.invoke(args=["scores", "set-rule", "deep_read", "--disable"])
    assert disabled.exit_code == 0
    assert rules.load_rules()["deep_read"].enabled is False
