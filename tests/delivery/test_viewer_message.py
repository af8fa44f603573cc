"""The rep's message, promised "above the document" on the send form, is on the viewer page
above the first page, escaped."""

from __future__ import annotations

import customer_side_support as support
from customer_side_support import path_of, visible_text

client = support.client  # fixtures shared by the customer-side tests
shop = support.shop

BROWSER = {"Accept-Language": "zh-CN", "User-Agent": "Mozilla/5.0 (iPhone) Mobile Safari"}


def test_the_message_is_shown_above_the_document_and_escaped(client, shop):
    message = '张总您好，<b onmouseover="x()">报价</b>请查收\n如有问题随时联系'
    sent = shop.send(shop.template("报价单"), message=message)

    response = client.get(path_of(sent.url), headers=BROWSER)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<b onmouseover" not in html  # autoescaped
    escaped = "张总您好，&lt;b onmouseover=&#34;x()&#34;&gt;报价&lt;/b&gt;请查收\n如有问题随时联系"
    assert escaped in html
    assert html.index(escaped) < html.index('id="page-1"')  # above the document
    assert "李雷 留言" in visible_text(response)  # from whom


def test_no_message_no_box(client, shop):
    sent = shop.send(shop.template("手册"))
    html = client.get(path_of(sent.url), headers=BROWSER).get_data(as_text=True)
    assert "data-delivery-message" not in html
