"""Every customer page tells the reader, in zh and en, that reading is recorded, and links to
the company's privacy statement, which admins set (issue 18)."""

from __future__ import annotations

import re

from tests.privacy.person import path_of

ZH = "我们会记录您阅读这些文档的情况"
EN = "We record how you read these documents"


def portal_path(client, doc_url: str) -> str:
    """The portal home the viewer links to (the fixture rotated the one the rep handed out)."""
    page = client.get(path_of(doc_url)).get_data(as_text=True)
    return re.search(r'href="(/p/[^"]+)"', page).group(1)


def notice_link(html: str) -> str:
    found = re.search(r'data-privacy-notice>.*?<a href="([^"]+)"', html, re.S)
    assert found, "no privacy notice on the page"
    return found.group(1)


def test_portal_and_viewer_carry_the_notice_in_both_languages(client, people):
    _admin, _rep, _person, _other, sent = people
    for url in (path_of(sent.url), portal_path(client, sent.url)):
        zh = client.get(url, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
        en = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert ZH in zh and "隐私声明" in zh, url
        assert EN in en and "Privacy statement" in en, url
        assert notice_link(en) == "/privacy"
    standard = client.get("/privacy", headers={"Accept-Language": "en"})
    assert standard.status_code == 200 and "which pages you view" in standard.get_data(True)


def test_admins_set_the_statement_url_or_text(client, login, people):
    admin, rep, _person, _other, sent = people
    login(rep)
    assert client.get("/admin/privacy").status_code == 403
    client.post("/logout")
    login(admin)
    bad = client.post("/admin/privacy", data={"url": "javascript:alert(1)", "text": ""})
    assert bad.status_code == 422
    saved = client.post(
        "/admin/privacy", data={"url": "https://corp.example.com/privacy", "text": ""}
    )
    assert saved.status_code == 302
    client.post("/logout")
    page = client.get(path_of(sent.url)).get_data(as_text=True)
    assert notice_link(page) == "https://corp.example.com/privacy"

    login(admin)
    client.post("/admin/privacy", data={"url": "", "text": "本公司隐私声明全文"})
    client.post("/logout")
    page = client.get(portal_path(client, sent.url)).get_data(as_text=True)
    assert notice_link(page) == "/privacy"
    assert "本公司隐私声明全文" in client.get("/privacy").get_data(as_text=True)
