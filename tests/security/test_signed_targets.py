"""A signed /go target is bound to the delivery whose page shows it (issue 17, finding 7).

Before: `u=` carried only the target URL, so a `u=` copied from delivery B's page worked with
delivery A's token and recorded on A a click on a link A's document does not contain (a
`case` link: +10 and a task). Now the delivery id is signed with the target and a mismatch is
refused (404, nothing recorded)."""

from __future__ import annotations

import re

from sqlalchemy import select

from portal.extensions import db
from portal.tracking.models import Event, EventType
from tests.delivery.helpers import make_customer, make_delivery, make_template

BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0"}
CASE_HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>
<section><h1>客户案例 {{ customer.name }}</h1>
<a href="https://example.com/case-study">案例详情</a></section></body></html>"""


def path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def go_links(client, sent) -> list[str]:
    html = client.get(path(sent.url), headers=BROWSER).get_data(as_text=True)
    return [h.replace("&amp;", "&") for h in re.findall(r'<a class="v-link" href="([^"]+)"', html)]


def clicks() -> list[Event]:
    db.session.expire_all()
    return list(db.session.scalars(select(Event).where(Event.type == EventType.LINK_CLICKED)))


def test_a_go_target_from_another_delivery_is_refused(client, world):
    plain = make_delivery(world.rep, world.customer, world.template)  # "delivery 1"
    case = make_template(
        world.marketing, name="案例", kind="case_study", html=CASE_HTML, content_tags="1:case"
    )
    stranger = make_customer(world.rep, name="李四", email="li@example.com")
    other = make_delivery(world.rep, stranger, case)  # "delivery 13"
    [foreign] = go_links(client, other)
    query = foreign.partition("?")[2]

    response = client.get(f"{path(plain.url)}/go?{query}", headers=BROWSER)

    assert response.status_code == 404
    assert "Location" not in response.headers
    assert clicks() == []
    # Its own delivery follows it, and records the click there.
    assert client.get(foreign, headers=BROWSER).status_code == 302
    [click] = clicks()
    assert click.delivery_id == other.delivery.id
    assert click.properties["href"] == "https://example.com/case-study"


def test_the_same_customer_s_other_delivery_cannot_borrow_a_target_either(client, world):
    first = make_delivery(world.rep, world.customer, world.template)
    second = make_delivery(world.rep, world.customer, world.template)
    [own] = go_links(client, first)
    query = own.partition("?")[2]
    assert client.get(f"{path(second.url)}/go?{query}", headers=BROWSER).status_code == 404
    assert clicks() == []
    assert client.get(own, headers=BROWSER).status_code == 302
    assert [c.delivery_id for c in clicks()] == [first.delivery.id]
