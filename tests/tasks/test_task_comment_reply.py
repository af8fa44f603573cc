"""A staff reply resolves the "reply to the comment" task once no customer comment is left
unanswered."""

from __future__ import annotations

from sqlalchemy import select

from portal import jobs
from portal.delivery.comments import add_customer_comment
from portal.extensions import db
from portal.tasks.models import Task
from tests.delivery.helpers import make_delivery


def followups(customer) -> list[tuple[str, int | None]]:
    db.session.expire_all()
    rows = db.session.scalars(
        select(Task)
        .where(Task.customer_id == customer.id, Task.rule_key == "comment_followup")
        .order_by(Task.id)
    )
    return [(t.status, t.open_marker) for t in rows]


def reply(client, customer, delivery_id: int, text: str):
    response = client.post(
        f"/customers/{customer.id}/deliveries/{delivery_id}/reply",
        data={f"reply-{delivery_id}-text": text},
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def test_replying_to_every_comment_closes_the_followup_task(team, login, client):
    quote = make_delivery(team.rep, team.buyer, team.quote)
    brochure = make_delivery(team.rep, team.buyer, team.brochure)
    add_customer_comment(team.buyer.id, quote.delivery.id, "价格能再优惠吗？")
    add_customer_comment(team.buyer.id, brochure.delivery.id, "有英文版吗？")
    jobs.commit()
    assert followups(team.buyer) == [("open", 1)]

    login(team.rep)
    assert "回复评论" in client.get("/tasks").get_data(as_text=True)
    reply(client, team.buyer, quote.delivery.id, "可以，九折")
    assert followups(team.buyer) == [("open", 1)]  # the brochure question is still unanswered
    reply(client, team.buyer, brochure.delivery.id, "有的，稍后发您")
    assert followups(team.buyer) == [("done", None)]
    inbox = client.get("/tasks").get_data(as_text=True)
    assert "回复评论" not in inbox

    # a new comment opens a new task
    add_customer_comment(team.buyer.id, quote.delivery.id, "好的，何时签约？")
    jobs.commit()
    assert followups(team.buyer) == [("done", None), ("open", 1)]
