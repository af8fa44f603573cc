"""Helpers for the staff web pages: users signed in through the real login form."""

from __future__ import annotations

import io
import re

import pytest

PASSWORD = "password123"  # make_user's default

BROCHURE_HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>智能工厂产品手册</title></head><body>
<h1>智能工厂产品手册</h1><p>尊敬的客户，您好！这是我们的 MES 解决方案介绍。</p>
<h2 id="pricing">价格</h2><p>标准版 ¥98,000 / 年</p></body></html>"""


@pytest.fixture
def marketing(make_user):
    return make_user("marketing", name="市场部 小王")


@pytest.fixture
def as_marketing(marketing, login, client):
    login(marketing)
    return client


@pytest.fixture
def admin(make_user):
    return make_user("admin", email="admin@example.com", name="管理员 老李")


@pytest.fixture
def as_admin(admin, login, client):
    login(admin)
    return client


def html_file(html: str = BROCHURE_HTML, filename: str = "产品手册.html") -> tuple:
    return (io.BytesIO(html.encode()), filename)


def _template_form(**overrides) -> dict:
    data = {
        "name": "智能工厂产品手册",
        "kind": "brochure",
        "industry": "制造业",
        "scenario": "初次拜访",
        "product_line": "MES",
        "description": "面向制造业客户的 MES 介绍",
        "tags": "MES, 2025",
        "version_policy": "",
        "allowed_teams": "",
        "allowed_regions": "",
        "changelog": "首个版本",
        "content_tags": "",
        "file": html_file(),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _text_of(response) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def template_form():
    """template_form(name=…, file=html_file(…)) -> the new-template form as a browser posts it."""
    return _template_form


@pytest.fixture
def html_upload():
    """html_upload(html, filename) -> a file tuple for the test client."""
    return html_file


@pytest.fixture
def text_of():
    """text_of(response) -> the page's visible text (tags stripped, whitespace collapsed)."""
    return _text_of
