"""Issue 4's acceptance scenario, end to end through the customer's routes, ingest and the API."""

from __future__ import annotations

from portal.engagement.ledger import breakdown
from portal.tracking.ingest import ingest_batch
from portal.tracking.models import EventType
from tests.delivery.helpers import make_delivery
from tests.engagement.scoring_support import (
    BROWSER,
    events,
    ingest_token,
    path_of,
    points_by_rule,
    read,
    score_of,
)
from tests.viewer_support import open_in_viewer

EXPECTED = {
    "senior_title": 15,
    "target_industry": 10,
    "doc_opened": 5,
    "pricing_viewed": 20,
    "long_read": 10,
    "brochure_downloaded": 15,
}


def test_quote_read_130s_and_brochure_downloaded_score_75_grade_a(
    client, runner, api_headers, clock, shop, buyer
):
    quote = make_delivery(shop.rep, buyer, shop.quote)
    brochure = make_delivery(shop.rep, buyer, shop.brochure)

    # The customer opens the quote in the viewer (which confirms the open once a page shows) ...
    open_in_viewer(client, path_of(quote.url), headers=BROWSER)
    [opened] = events(buyer, EventType.LINK_OPENED)
    # ... reads its price page for 130 s (a report every 10 s, as the viewer sends them) ...
    token = ingest_token(quote.delivery)
    for _ in range(13):
        clock.advance(seconds=10)
        ingest_batch(token, read(token, page=2), now=clock.now)
    # ... then, from the portal, downloads the brochure without opening it in the viewer.
    clock.advance(seconds=60)
    assert client.get(path_of(quote.portal_url), headers=BROWSER).status_code == 200
    response = client.get(path_of(brochure.url, "/download"), headers=BROWSER)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    [downloaded] = events(buyer, EventType.DOC_DOWNLOADED)
    assert not events(buyer, EventType.LINK_OPENED)[1:]  # the brochure was never opened

    assert points_by_rule(buyer) == EXPECTED
    assert sum(EXPECTED.values()) == 75
    assert score_of(buyer) == (75, "A")

    views = events(buyer, EventType.PAGE_VIEWED)
    assert len(views) == 13
    crossed = views[11]  # the twelfth report brought the session to 120 s
    expected_events = {
        "senior_title": opened.id,  # profile rules: paid on the customer's first event
        "target_industry": opened.id,
        "doc_opened": opened.id,
        "pricing_viewed": opened.id,  # a quote opened (its page 2 is tagged pricing too)
        "long_read": crossed.id,
        "brochure_downloaded": downloaded.id,
    }

    answer = client.get(f"/api/v1/customers/{buyer.id}", headers=api_headers(shop.rep))
    assert answer.status_code == 200
    body = answer.json
    assert (body["score"], body["grade"]) == (75, "A")
    items = body["score_breakdown"]
    assert {item["rule"]: item["event_id"] for item in items} == expected_events
    assert {item["rule"]: item["points"] for item in items} == EXPECTED
    assert all(set(item) >= {"rule", "points", "event_id", "at"} for item in items)
    assert all(item["rule_version"] == 1 for item in items)
    times = [item["at"] for item in items]
    assert times == sorted(times, reverse=True)  # newest first
    assert items[0]["rule"] == "brochure_downloaded"
    assert items[0]["at"] == downloaded.occurred_at.isoformat()

    before = breakdown(buyer.id)
    result = runner.invoke(args=["scores", "recompute"])
    assert result.exit_code == 0, result.output
    assert "1 customers" in result.output
    assert score_of(buyer) == (75, "A")
    assert breakdown(buyer.id) == before
