"""The people of the privacy tests: the person (a sent, opened, commented, scored customer),
another customer of the same rep, an admin."""

from __future__ import annotations

import pytest

from portal import jobs
from portal.delivery import link_grants
from portal.engagement import rules
from portal.extensions import db
from portal.tasks import rules as task_rules
from portal.webhooks.models import Webhook, WebhookDelivery
from tests.delivery.helpers import make_customer, make_delivery, make_template
from tests.privacy.person import EMAIL, HTML, NAME, PHONE, path_of
from tests.viewer_support import open_in_viewer


@pytest.fixture
def people(make_user, client):
    rules.install_defaults()  # the scoring and task rules the migrations seed
    task_rules.install_defaults()
    jobs.commit()
    admin = make_user("admin")
    rep = make_user("rep")
    marketing = make_user("marketing")
    template = make_template(marketing, html=HTML, content_tags="1:pricing")
    person = make_customer(rep, name=NAME, email=EMAIL, phone=PHONE, title="总经理")
    other = make_customer(rep, name="李雷", email="li.lei@example.com")
    sent = make_delivery(rep, person, template)
    other_sent = make_delivery(rep, other, template)
    for url in (sent.url, other_sent.url):
        open_in_viewer(client, url)
        assert client.get(path_of(url) + "/pages/1.png").status_code == 200
        assert client.get(path_of(url) + "/download").status_code == 200
    portal = path_of(sent.portal_url)
    response = client.post(
        f"{portal}/comments",
        data={"delivery_id": sent.delivery.id, "text": f"我是{NAME}，电话{PHONE}"},
    )
    assert response.status_code in (200, 302), response.status_code
    # The audit log names the person (a portal link rotated: its summary is their name), and a
    # webhook payload is about them.
    link_grants.rotate_for(person, by=rep, reason="revoked")
    hook = Webhook(url="https://hooks.example.com/in", secret="s", events=["doc.read"])
    hook.active = False
    db.session.add(hook)
    db.session.flush()
    payload = {"event": "doc.read", "data": {"customer_id": person.id}}
    db.session.add(WebhookDelivery(webhook_id=hook.id, event="doc.read", payload=payload))
    jobs.commit()
    db.session.expire_all()
    return admin, rep, person, other, sent
