"""Task cards name what the customer did in words, never by event code (`doc.read`)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal import jobs
from portal.db_types import utcnow
from portal.tasks import rules
from portal.tasks.services import open_task
from portal.tracking.events import NewEvent, record_many
from portal.tracking.models import EventType
from tests.delivery.helpers import make_delivery

CAUSES = (EventType.LINK_OPENED, EventType.PAGE_VIEWED, EventType.DOC_READ, "external.wecom_chat")


@pytest.mark.parametrize(
    "lang, words",
    [
        ("zh_CN", ["打开", "浏览页面", "阅读", "其他渠道的活动"]),
        ("en", ["Opened", "Viewed a page", "Read", "Activity from another channel"]),
    ],
)
def test_a_task_card_names_its_causes_in_words(team, login, client, lang, words):
    sent = make_delivery(team.rep, team.buyer, team.quote)
    now = utcnow()
    stored = record_many(
        [
            NewEvent(
                customer_id=team.buyer.id,
                type=str(kind),
                delivery_id=sent.delivery.id,
                occurred_at=now - timedelta(minutes=5 - i),
                idempotency_key=f"cause-{i}",
            )
            for i, kind in enumerate(CAUSES)
        ]
    )
    open_task(
        team.buyer,
        rules.CALLBACK_24H,
        due_at=now + timedelta(hours=24),
        reason={"document": "方案报价", "read_seconds": 150},
        event_ids=[e.id for e in stored],
    )
    jobs.commit()
    login(team.rep)
    client.post("/lang", data={"lang": lang, "next": "/tasks"})
    page = client.get("/tasks")
    html = page.get_data(as_text=True)
    for code in CAUSES:
        assert str(code) not in html
    [causes] = re.findall(r'<ul class="task-events".*?</ul>', html, re.S)
    labels = [
        " ".join(re.sub(r"<[^>]+>", " ", a).split()) for a in re.findall(r"<a .*?</a>", causes)
    ]
    assert labels == words
