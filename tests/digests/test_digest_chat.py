"""The digest in the chat groups: through the outbox, in each vendor's format and signature
(the listeners refuse a bad one), in Chinese; and the "digest" preference: e-mail by default,
chat when chosen, never in the app."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.channels.models import OutboxMessage
from portal.channels.services import create_channel
from portal.errors import ValidationFailed
from portal.extensions import db
from portal.notifications.preferences import get_preferences, set_preferences, transports_for
from portal.tasks.tick import run_tick
from portal.tracking.models import ViewSession
from tests.channels.conftest import SECRETS, URLS
from tests.delivery.helpers import make_customer, make_delivery
from tests.digests.conftest import next_morning
from tests.engagement.scoring_support import BROWSER, path_of
from tests.viewer_support import open_in_viewer


def test_the_digest_reaches_the_chosen_chat_channels_in_their_format(
    app, browser, world, make_user, inbox, robots
):
    rep = world.rep  # a personal DingTalk robot
    teammate = make_user(
        "rep", email="east@example.com", team="华东", supervisor="boss@example.com"
    )
    create_channel(
        rep, kind="dingtalk", url=URLS["dingtalk"], secret=SECRETS["dingtalk"], user_email=rep.email
    )
    # the teammate has no robot of their own: their team's Feishu group
    create_channel(
        world.supervisor, kind="feishu", url=URLS["feishu"], secret=SECRETS["feishu"], team="华东"
    )
    theirs = make_customer(teammate, name="赵敏", email="zhao@example.com")
    for person in (rep, teammate):
        # the digest by chat only, and no reading alerts there: what the groups get is the digest
        set_preferences(
            person,
            {
                "alerts": {
                    "digest": ["chat"],
                    **{k: ["app"] for k in ("first_open", "pricing_viewed", "long_read")},
                }
            },
        )
    jobs.commit()
    for customer in (world.customer, theirs):
        sent = make_delivery(customer.owner, customer, world.template)
        open_in_viewer(browser(), path_of(sent.url), headers=BROWSER)
    jobs.commit()
    now = next_morning(db.session.scalar(select(func.max(ViewSession.confirmed_at))))

    run_tick(now)
    jobs.commit()

    [feishu] = robots["feishu"].accepted  # signed: the listener checked the signature
    assert feishu.body["msg_type"] == "interactive" and feishu.body["sign"]
    card = feishu.body["card"]
    assert card["header"]["title"]["content"].startswith("晨报")
    detail = card["elements"][0]["text"]["content"]
    assert "昨天的读者" in detail and "赵敏" in detail and world.customer.name not in detail
    assert card["elements"][1]["actions"][0]["url"] == "http://portal.test/"
    [ding] = robots["dingtalk"].accepted
    assert ding.query["sign"] and ding.body["msgtype"] == "markdown"
    assert ding.body["markdown"]["title"].startswith("晨报")
    text = ding.body["markdown"]["text"]
    assert world.customer.name in text and world.template.name in text and "赵敏" not in text
    assert not [m for m in inbox.digests() if m["To"] in (rep.email, teammate.email)]
    chats = db.session.scalars(select(OutboxMessage).where(OutboxMessage.transport == "chat")).all()
    assert sorted((m.user_id, m.status, m.channel.kind) for m in chats) == sorted(
        [(rep.id, "sent", "dingtalk"), (teammate.id, "sent", "feishu")]
    )


def test_digest_preference_defaults_to_email_and_is_never_in_app(world):
    rep = world.rep
    assert get_preferences(rep)["alerts"]["digest"] == ["email"]
    assert transports_for(rep, "digest.daily") == {"email"}
    with pytest.raises(ValidationFailed):
        set_preferences(rep, {"alerts": {"digest": ["app", "email"]}})
    db.session.rollback()
    set_preferences(rep, {"alerts": {"digest": []}})
    assert transports_for(rep, "digest.weekly") == set()
