"""The customer's portal home: what was sent, newest first, what changed since they last looked,
and a comment thread per document, in a constant number of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import customer_side_support as support
import pytest
from customer_side_support import path_of, token_of, visible_text
from sqlalchemy import func, select

from portal import jobs
from portal.db_types import utcnow
from portal.delivery import services as delivery_services
from portal.delivery.comments import add_staff_reply
from portal.delivery.models import Comment, Delivery, RenderStatus
from portal.extensions import db
from portal.library.rendering import render_version_page_png, render_version_pdf
from portal.statement_count import counted_statements
from portal.tracking import links
from portal.tracking.models import Event, EventType, Link, LinkPurpose
from tests.viewer_support import open_in_viewer, visit_portal

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en-US,en;q=0.9"}

client = support.client  # fixtures shared by the customer-side tests
shop = support.shop


def doc_blocks(html: str) -> dict[int, str]:
    """delivery id -> the HTML of its <li> on the portal page."""
    blocks = {}
    for match in re.finditer(
        r'<li class="c-doc[^"]*" id="doc-(\d+)">(.*?)</li>\s*(?=<li class="c-doc|</ul>)', html, re.S
    ):
        blocks[int(match.group(1))] = match.group(2)
    return blocks


def events_of(type_: str) -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.type == type_).order_by(Event.id)))


def test_the_portal_lists_every_delivery_newest_first(client, shop):
    first = shop.send(shop.template("产品手册 A"))
    second = shop.send(shop.template("客户案例 B", kind="case_study"))
    third = shop.send(shop.template("报价单 C", kind="quote"))
    # A second rep's delivery to the same customer is listed too.
    db.session.get(Delivery, first.delivery.id).created_at = utcnow() - timedelta(days=2)
    db.session.get(Delivery, second.delivery.id).created_at = utcnow() - timedelta(days=1)
    jobs.commit()
    response = visit_portal(client, path_of(third.portal_url), headers=ZH)
    text = visible_text(response)
    assert text.index("报价单 C") < text.index("客户案例 B") < text.index("产品手册 A")
    assert "你好，张伟" in text
    assert "3 份资料" in text
    assert text.count("查看") >= 3
    # Never opened: marked new.
    assert text.count("新") >= 3
    [visit] = events_of(EventType.PORTAL_VISITED)
    assert visit.customer_id == shop.customer.id
    assert visit.delivery_id is None


def test_every_rep_who_sent_something_is_listed(client, shop, make_user):
    other_rep = make_user("rep", name="韩梅梅")
    template = shop.template("产品手册 A")
    sent = shop.send(template)
    shop.customer.owner_id = other_rep.id  # the customer changed hands
    jobs.commit()
    delivery_services.send(
        other_rep,
        delivery_services.SendRequest(customer_id=shop.customer.id, template_id=template.id),
    )
    jobs.commit()
    db.session.commit()
    text = visible_text(client.get(path_of(sent.portal_url), headers=ZH))
    assert "来自 李雷" in text
    assert "来自 韩梅梅" in text


def test_a_new_version_shows_on_latest_and_not_on_pinned(client, shop):
    brochure = shop.template("产品手册", policy="latest")
    quote = shop.template("报价单", kind="quote")  # quotes are pinned by default
    latest = shop.send(brochure)
    pinned = shop.send(quote, watermark=False)  # the rendered copy itself, unstamped
    assert pinned.delivery.policy == "pinned"
    # The customer opens both: they have seen v1.
    open_in_viewer(client, path_of(latest.url))  # seen (the viewer confirmed the open)
    open_in_viewer(client, path_of(pinned.url))

    v2_brochure = shop.new_version(brochure, "新增设备联网章节")
    shop.new_version(quote, "调整折扣")

    response = client.get(path_of(latest.portal_url), headers=ZH)
    blocks = doc_blocks(response.get_data(as_text=True))
    latest_block = visible_text_of(blocks[latest.delivery.id])
    pinned_block = visible_text_of(blocks[pinned.delivery.id])
    assert "第 2 版" in latest_block
    assert "新版本" in latest_block
    assert "新增设备联网章节" in latest_block
    assert "自您上次查看后的更新" in latest_block
    assert "第 1 版" in pinned_block
    assert "新版本" not in pinned_block
    assert "调整折扣" not in pinned_block
    assert "1 份自您上次查看后有更新" in visible_text(response)

    # The pinned delivery's viewer and download still render v1 …
    delivery = db.session.get(Delivery, pinned.delivery.id)
    v1_quote = delivery.version
    variables = delivery_services.variables_for(delivery)
    doc = token_of(pinned.url)
    assert client.get(f"/d/{doc}/download").data == render_version_pdf(v1_quote, variables)
    page = client.get(f"/d/{doc}/pages/1.png").data
    assert page == render_version_page_png(v1_quote, variables, 1)
    assert "v1" in visible_text(client.get(f"/d/{doc}"))
    # … and the latest one v2.
    brochure_delivery = db.session.get(Delivery, latest.delivery.id)
    latest_vars = delivery_services.variables_for(brochure_delivery)
    latest_doc = token_of(latest.url)
    latest_pdf = client.get(f"/d/{latest_doc}/download").data
    assert latest_pdf == render_version_pdf(v2_brochure, latest_vars)
    assert latest_pdf != render_version_pdf(brochure_delivery.version, latest_vars)

    # Opening v2 clears the mark.
    open_in_viewer(client, f"/d/{latest_doc}")
    assert db.session.get(Delivery, latest.delivery.id).seen_version_number == 2
    blocks = doc_blocks(client.get(path_of(latest.portal_url), headers=ZH).get_data(as_text=True))
    assert "新版本" not in visible_text_of(blocks[latest.delivery.id])


def test_every_unseen_changelog_is_listed_newest_first(client, shop):
    brochure = shop.template("产品手册")
    sent = shop.send(brochure)
    open_in_viewer(client, path_of(sent.url))
    shop.new_version(brochure, "第二版：新增案例")
    shop.new_version(brochure, "第三版：更新价格")
    block = visible_text_of(
        doc_blocks(client.get(path_of(sent.portal_url), headers=ZH).get_data(as_text=True))[
            sent.delivery.id
        ]
    )
    assert block.index("第三版：更新价格") < block.index("第二版：新增案例")
    assert "首个版本" not in block


def visible_text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_comments_and_replies_appear_with_their_version_and_html_is_escaped(client, shop):
    brochure = shop.template("产品手册")
    sent = shop.send(brochure)
    portal = token_of(sent.portal_url)
    evil = '<script>alert("x")</script><b>加粗</b> & 价格能否再优惠？'
    response = client.post(
        f"/p/{portal}/comments", data={"delivery_id": sent.delivery.id, "text": evil}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/p/{portal}#doc-{sent.delivery.id}")
    [comment] = db.session.scalars(select(Comment)).all()
    assert comment.text == evil
    assert comment.author_type == "customer"
    assert comment.version_number == 1
    assert comment.customer_id == shop.customer.id
    [created] = events_of(EventType.COMMENT_CREATED)
    assert created.delivery_id == sent.delivery.id
    assert created.properties["comment_id"] == comment.id

    delivery = db.session.get(Delivery, sent.delivery.id)
    add_staff_reply(shop.rep, delivery, "可以，<i>九折</i>")
    jobs.commit()
    shop.new_version(brochure, "价格更新")  # the customer now sees v2
    client.post(f"/p/{portal}/comments", data={"delivery_id": delivery.id, "text": "收到 v2"})
    [_, reply, on_v2] = db.session.scalars(select(Comment).order_by(Comment.id)).all()
    assert reply.author_type == "staff"
    assert reply.version_number == 1  # about the customer's comment on v1
    assert on_v2.version_number == 2

    page = client.get(f"/p/{portal}", headers=ZH)
    html = page.get_data(as_text=True)
    assert "<script>alert" not in html
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;b&gt;加粗&lt;/b&gt; &amp; 价格" in html
    )
    assert "&lt;i&gt;九折&lt;/i&gt;" in html
    text = visible_text(page)
    assert "谢谢！您的留言已发送" in text  # the flash after the last comment
    assert "3 条留言" in text
    assert text.index("价格能否再优惠") < text.index("九折") < text.index("收到 v2")
    assert "李雷" in text
    assert "针对 v1" in text and "针对 v2" in text


def test_a_staff_reply_is_scoped_to_the_reps_customers(shop, make_user):
    from portal.errors import NotFound

    sent = shop.send(shop.template())
    stranger = make_user("rep", name="别的销售")
    with pytest.raises(NotFound):
        add_staff_reply(stranger, sent.delivery, "你好")


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "请先填写留言内容"), ("   ", "请先填写留言内容"), ("长" * 2001, "留言最多 2000 个字符")],
)
def test_an_empty_or_too_long_comment_is_refused(client, shop, text, message):
    sent = shop.send(shop.template())
    portal = token_of(sent.portal_url)
    response = client.post(
        f"/p/{portal}/comments",
        data={"delivery_id": sent.delivery.id, "text": text},
        headers=ZH,
    )
    # the page again (not a redirect, which would lose the text), the error by the box
    assert response.status_code == 422
    assert message in visible_text(response)
    assert db.session.scalar(select(func.count()).select_from(Comment)) == 0
    assert not events_of(EventType.COMMENT_CREATED)
    assert not events_of(EventType.LINK_FETCHED)  # sent back, not a new page load
    box = re.search(
        rf'<textarea id="comment-{sent.delivery.id}"[^>]*>([^<]*)</textarea>',
        response.get_data(as_text=True),
    )
    assert box is not None and box.group(1) == text  # nothing typed is lost


def test_the_comment_form_is_csrf_protected(app, client, shop):
    sent = shop.send(shop.template())
    portal = token_of(sent.portal_url)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        refused = client.post(
            f"/p/{portal}/comments",
            data={"delivery_id": sent.delivery.id, "text": "没有令牌"},
            headers=ZH,
        )
        assert refused.status_code == 400
        assert "页面已过期" in visible_text(refused)
        assert "customer.css" in refused.get_data(as_text=True)
        page = client.get(f"/p/{portal}").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        accepted = client.post(
            f"/p/{portal}/comments",
            data={"delivery_id": sent.delivery.id, "text": "有令牌", "csrf_token": csrf},
        )
        assert accepted.status_code == 302
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert [c.text for c in db.session.scalars(select(Comment))] == ["有令牌"]


def test_expired_deliveries_are_listed_without_a_link_and_revoked_ones_are_hidden(client, shop):
    kept = shop.send(shop.template("仍然有效"))
    expired = shop.send(shop.template("已过期的资料"))
    revoked = shop.send(shop.template("已撤回的资料"))
    db.session.get(Delivery, expired.delivery.id).expires_at = utcnow() - timedelta(days=1)
    delivery_services.revoke(shop.rep, revoked.delivery.id)
    jobs.commit()
    response = client.get(path_of(kept.portal_url), headers=ZH)
    html = response.get_data(as_text=True)
    text = visible_text(response)
    assert "已撤回的资料" not in text
    block = doc_blocks(html)[expired.delivery.id]
    assert "已过期的资料" in block
    assert "已过期" in visible_text_of(block)
    assert "/d/" not in block  # no viewer or download link
    assert "<form" not in block  # no new comments on it
    assert "/d/" in doc_blocks(html)[kept.delivery.id]


def test_the_download_button_follows_allow_download(client, shop):
    allowed = shop.send(shop.template("可下载"))
    online_only = shop.send(shop.template("仅在线查看"), allow_download=False)
    blocks = doc_blocks(client.get(path_of(allowed.portal_url)).get_data(as_text=True))
    assert "/download" in blocks[allowed.delivery.id]
    assert "/download" not in blocks[online_only.delivery.id]


def test_the_portal_speaks_the_browsers_language(client, shop):
    sent = shop.send(shop.template())
    english = visible_text(client.get(path_of(sent.portal_url), headers=EN))
    assert "Your documents" in english
    assert "View" in english
    chinese = visible_text(client.get(path_of(sent.portal_url), headers=ZH))
    assert "您的资料" in chinese
    assert "Your documents" not in chinese


# --- the query count does not grow with the number of deliveries ---------------------------------


def _bulk_deliveries(shop, templates, count: int) -> None:
    """count deliveries (ready, with their doc links and a comment each), inserted directly:
    what matters here is how the page reads them, not how they were sent."""
    versions = [t.latest_version for t in templates]
    now = utcnow()
    for i in range(count):
        template, version = templates[i % len(templates)], versions[i % len(versions)]
        delivery = Delivery(
            customer_id=shop.customer.id,
            template_id=template.id,
            version_id=version.id,
            policy=template.version_policy,
            sender_id=shop.rep.id,
            message="您好，请查收。" if i % 2 else "",
            allow_download=bool(i % 3),
            created_at=now - timedelta(minutes=i),
            render_status=RenderStatus.READY,
            seen_version_number=1 if i % 4 else None,
        )
        db.session.add(delivery)
        db.session.flush()
        db.session.add(
            Link(
                purpose=LinkPurpose.DOC.value, customer_id=shop.customer.id, delivery_id=delivery.id
            )
        )
        db.session.add(
            Comment(
                customer_id=shop.customer.id,
                delivery_id=delivery.id,
                version_number=1,
                author_type="customer" if i % 2 else "staff",
                staff_id=None if i % 2 else shop.rep.id,
                text=f"第 {i} 条留言",
            )
        )
    jobs.commit()


def _portal_statements(client, portal_path: str) -> tuple[int, str]:
    db.session.expire_all()
    with counted_statements() as seen:
        response = client.get(portal_path)
    assert response.status_code == 200
    return len(seen), response.get_data(as_text=True)


def test_the_portal_query_count_does_not_grow_with_the_deliveries(client, shop):
    templates = [
        shop.template("手册", policy="latest"),
        shop.template("报价", kind="quote"),
        shop.template("案例", kind="case_study"),
    ]
    for template in templates[:2]:
        shop.new_version(template, "第二版")
    portal_path = f"/p/{links.token_for(links.portal_link(shop.customer))}"
    jobs.commit()

    _bulk_deliveries(shop, templates, 5)
    few, html = _portal_statements(client, portal_path)
    assert html.count('<li class="c-doc') == 5

    _bulk_deliveries(shop, templates, 195)
    many, html = _portal_statements(client, portal_path)
    assert html.count('<li class="c-doc') == 200
    assert html.count("条留言") >= 200
    assert many == few, f"{few} statements for 5 deliveries, {many} for 200"
    assert few <= 12, few


def test_a_portal_comment_reaches_the_reps_page_and_the_api_timeline(
    client, shop, login, api_headers
):
    sent = shop.send(shop.template("产品手册"))
    portal = token_of(sent.portal_url)
    evil = "<img src=x onerror=alert(1)>能开发票吗？"
    client.post(f"/p/{portal}/comments", data={"delivery_id": sent.delivery.id, "text": evil})

    timeline = client.get(
        f"/api/v1/customers/{shop.customer.id}/timeline", headers=api_headers(shop.rep)
    ).json["items"]
    [item] = [i for i in timeline if i["type"] == "comment.created"]
    assert item["text"] == evil
    assert item["delivery_id"] == sent.delivery.id

    login(shop.rep)
    page = client.get(f"/customers/{shop.customer.id}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;能开发票吗？" in page
    assert "<img src=x onerror" not in page
