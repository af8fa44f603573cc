"""Sending a material from the customer page: the link, the QR code, the rules of the service
shown as form errors, and withdrawing a link."""

from __future__ import annotations

import re

from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from portal.delivery import passcodes
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.library.models import VersionPolicy
from tests.delivery.helpers import make_template
from tests.routes.rep_support import team_fixture  # noqa: F401  (the `team` fixture)


def deliveries() -> list[Delivery]:
    return list(db.session.scalars(select(Delivery).order_by(Delivery.id)))


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Delivery))


def _send(client, customer_id: int, **fields):
    data = {"template_id": fields.pop("template_id"), "allow_download": "y", **fields}
    return client.post(f"/customers/{customer_id}/send", data=data)


def test_sending_creates_a_delivery_and_shows_the_link_and_qr(team, login, client, text_of):
    login(team.rep)
    page = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    assert f'<option value="{team.template.id}">方案报价</option>' in page

    response = _send(client, team.customer.id, template_id=team.template.id, message="请查收")
    assert response.status_code == 302
    [delivery] = deliveries()
    assert (delivery.customer_id, delivery.template_id, delivery.sender_id) == (
        team.customer.id,
        team.template.id,
        team.rep.id,
    )
    assert delivery.message == "请查收"
    assert delivery.policy == VersionPolicy.PINNED  # a quote keeps the version sent
    assert delivery.allow_download and delivery.expires_at is None
    assert delivery.watermark  # a quote carries its reader's mark unless the rep says otherwise
    assert delivery.passcode_hash is None
    location = response.headers["Location"]
    assert location.endswith(f"/customers/{team.customer.id}/sent/{delivery.id}")

    result = client.get(location)
    assert result.status_code == 200
    html = result.get_data(as_text=True)
    link = re.search(r'id="sent-link"[^>]*>(http://portal\.test/d/[^<]+)</span>', html)
    assert link, "the personal link is shown"
    token = link.group(1).rsplit("/", 1)[1]
    assert f'src="/d/{token}/qr.svg"' in html  # the QR code
    assert f'href="/d/{token}/qr.svg" download=' in html  # downloadable
    assert re.search(r'id="sent-portal"[^>]*>http://portal\.test/p/[^<]+</span>', html)
    assert "data-copy=" in html  # the copy buttons
    assert "张伟" in text_of(result)

    assert client.get(f"/d/{token}").status_code == 200  # the customer opens it
    qr = client.get(f"/d/{token}/qr.svg")
    assert qr.status_code == 200
    assert qr.mimetype == "image/svg+xml"


def test_the_options_reach_the_delivery(team, login, client):
    login(team.rep)
    response = _send(
        client,
        team.customer.id,
        template_id=team.template.id,
        version_policy="latest",
        expires_in_days="7",
        watermark="off",  # a quote's default is on
        allow_download="",
        send_email="y",
    )
    assert response.status_code == 302
    [delivery] = deliveries()
    assert delivery.policy == "latest"
    assert not delivery.watermark
    assert not delivery.allow_download
    assert delivery.expires_at is not None
    # No SMTP server in this app: the e-mail job ran after the commit (inline) and says so,
    # instead of counting a message written to the log as sent.
    assert delivery.email_status == "not_configured"
    assert delivery.email_sent_at is None


def test_without_a_mail_server_the_page_says_not_sent_and_gives_the_link(
    team, login, client, text_of
):
    login(team.rep)
    response = _send(client, team.customer.id, template_id=team.template.id, send_email="y")
    page = client.get(response.headers["Location"])
    text = text_of(page)
    assert "未发送（未配置邮件服务器）" in text
    assert "已发送邮件" not in text
    assert re.search(r'id="sent-link"[^>]*>http://portal\.test/d/[^<]+</span>', page.text)
    client.post("/lang", data={"lang": "en", "next": "/"})
    text = text_of(client.get(response.headers["Location"]))
    assert "Not sent (no mail server configured)" in text and "E-mailed" not in text


def test_a_template_the_rep_may_not_send_is_neither_offered_nor_sent(team, login, client):
    south_only = make_template(
        team.marketing, name="华南专用方案", kind="solution", allowed_teams=["华南"]
    )
    login(team.rep)
    page = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    assert "华南专用方案" not in page
    assert f'value="{south_only.id}"' not in page

    forged = _send(client, team.customer.id, template_id=south_only.id)
    assert forged.status_code == 404
    assert count() == 0
    assert "您无权发送这份资料" in forged.get_data(as_text=True)

    missing = _send(client, team.customer.id, template_id=987654)
    assert missing.status_code == 404
    assert count() == 0


def test_archived_templates_are_not_offered(team, login, client):
    from portal.library.services import set_archived

    set_archived(team.template, team.marketing, True)
    db.session.commit()
    login(team.rep)
    page = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    assert f'value="{team.template.id}"' not in page
    assert _send(client, team.customer.id, template_id=team.template.id).status_code == 404
    assert count() == 0


def test_sending_to_another_reps_customer_is_a_404(team, login, client):
    login(team.rep)
    response = _send(client, team.other_customer.id, template_id=team.template.id)
    assert response.status_code == 404
    assert count() == 0


def test_e_mail_without_an_address_is_a_clear_form_error(team, login, client, make_user):
    login(team.stranger)  # their customer has no e-mail address
    customer_id = team.stranger_customer.id
    page = client.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert re.search(
        r'<input[^>]*disabled[^>]*name="send_email"|name="send_email"[^>]*disabled', page
    )

    response = _send(client, customer_id, template_id=team.template.id, send_email="y")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "该客户没有电子邮件地址" in html
    assert 'id="send_email-error"' in html  # on the field
    assert count() == 0


def test_form_mistakes_keep_what_was_typed(team, login, client):
    login(team.rep)
    response = _send(client, team.customer.id, template_id="", message="留言还在")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "请选择要发送的资料" in html
    assert "留言还在" in html

    response = _send(client, team.customer.id, template_id=team.template.id, expires_in_days="999")
    assert response.status_code == 422
    assert "请填写 1 到 365 之间的天数" in response.get_data(as_text=True)
    assert count() == 0


def test_withdrawing_a_link_makes_it_410(team, login, client, text_of):
    sent = team.send()
    token = sent.url.rsplit("/d/", 1)[1]
    login(team.rep)
    page = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    action = f"/customers/{team.customer.id}/deliveries/{sent.delivery.id}/revoke"
    assert f'action="{action}" data-confirm=' in page

    response = client.post(action)
    assert response.status_code == 302
    assert client.get(f"/d/{token}").status_code == 410
    page = client.get(f"/customers/{team.customer.id}")
    assert "已撤回" in text_of(page)
    assert action not in page.get_data(as_text=True)  # nothing left to withdraw
    assert f'id="link-{sent.delivery.id}"' not in page.get_data(as_text=True)  # no dead link
    assert client.get(f"/customers/{team.customer.id}/sent/{sent.delivery.id}").status_code == 200


def test_only_the_owner_side_can_withdraw(team, login, client):
    sent = team.send()
    token = sent.url.rsplit("/d/", 1)[1]
    login(team.stranger)
    action = f"/customers/{team.customer.id}/deliveries/{sent.delivery.id}/revoke"
    assert client.post(action).status_code == 404
    # a delivery id under another customer's URL is not found either
    client.post("/logout")
    login(team.rep)
    wrong = f"/customers/{team.other_customer.id}/deliveries/{sent.delivery.id}/revoke"
    assert client.post(wrong).status_code == 404
    assert client.get(f"/d/{token}").status_code == 200


def test_a_supervisor_sends_to_a_reps_customer(team, login, client):
    login(team.supervisor)
    response = _send(client, team.other_customer.id, template_id=team.template.id)
    assert response.status_code == 302
    [delivery] = deliveries()
    assert delivery.sender_id == team.supervisor.id
    assert delivery.customer_id == team.other_customer.id


def test_a_passcode_is_shown_to_the_rep_once_and_stored_hashed(team, login, client, text_of):
    login(team.rep)
    form = client.get(f"/customers/{team.customer.id}").get_data(as_text=True)
    assert 'name="passcode"' in form and 'inputmode="numeric"' in form
    assert "报价单开启，其他资料关闭" in form  # the watermark's default, in Chinese
    english = client.get(
        f"/customers/{team.customer.id}", headers={"Accept-Language": "en"}
    ).get_data(as_text=True)
    assert "Passcode" in english and "On for quotes, off for other materials" in english

    refused = _send(client, team.customer.id, template_id=team.template.id, passcode="12ab")
    assert refused.status_code == 422
    assert "密码须为 4–8 位数字" in text_of(refused)
    assert count() == 0

    response = _send(client, team.customer.id, template_id=team.template.id, passcode="7351")
    assert response.status_code == 302
    [delivery] = deliveries()
    assert delivery.passcode_hash.startswith(f"{passcodes.HASH_METHOD}$")  # salted, not "7351"
    assert check_password_hash(delivery.passcode_hash, "7351")
    shown = client.get(response.headers["Location"])
    assert "7351" in text_of(shown) and "唯一一次显示" in text_of(shown)
    again = client.get(response.headers["Location"])
    assert "7351" not in again.get_data(as_text=True)  # once
    assert "此链接需要输入您发送时设置的密码" in text_of(again)
