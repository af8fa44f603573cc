"""Shared helpers for the customer-side tests (portal home, viewer, links).

Imported by the test modules next to it (`from customer_side_support import ...`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from flask import g
from flask.testing import FlaskClient

from portal import jobs
from portal.accounts.models import User
from portal.customers.models import Customer
from portal.customers.services import CustomerFields, create_customer
from portal.delivery import services as delivery_services
from portal.extensions import db
from portal.library.models import Template, TemplateVersion
from portal.library.services import TemplateFields, add_version, create_template


def two_page_html(title: str = "智能工厂产品手册", extra: str = "") -> bytes:
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        "<style>body{font-family:'Noto Sans CJK SC',sans-serif} h1{color:#2456d3}</style>"
        f"</head><body><section style='break-after: page'><h1>{title}</h1>"
        f"<p>尊敬的{{{{ customer.name }}}}，您好！</p>{extra}</section>"
        "<section><h2>价格</h2><p>标准版 ¥98,000 / 年</p></section></body></html>"
    ).encode()


LINK_HTML = two_page_html(
    extra='<br><a href="https://example.com/pricing">查看价格详情</a>'
    ' <a href="mailto:sales@example.com">联系我们</a>'
)


class FreshClient(FlaskClient):
    """A client whose every request starts with an empty `g`, as in production (the app
    fixture keeps one app context pushed for the whole test)."""

    def open(self, *args, **kwargs):
        for name in list(g):
            g.pop(name)
        return super().open(*args, **kwargs)


@dataclass
class Shop:
    marketing: User
    rep: User
    customer: Customer

    def template(
        self,
        name: str = "智能工厂产品手册",
        *,
        kind: str = "brochure",
        html: bytes | None = None,
        policy: str | None = None,
        content_tags: str | None = None,
    ) -> Template:
        version = create_template(
            self.marketing,
            TemplateFields(name=name, kind=kind, version_policy=policy),
            filename="doc.html",
            data=html or two_page_html(name),
            changelog="首个版本",
            content_tags=content_tags,
        )
        jobs.commit()
        return version.template

    def new_version(
        self, template: Template, changelog: str, html: bytes | None = None
    ) -> TemplateVersion:
        version = add_version(
            template,
            self.marketing,
            filename="doc.html",
            data=html or two_page_html(template.name, extra=f"<p>{changelog}</p>"),
            changelog=changelog,
        )
        jobs.commit()
        return version

    def send(
        self, template: Template, customer: Customer | None = None, **fields
    ) -> delivery_services.Sent:
        sent = delivery_services.send(
            self.rep,
            delivery_services.SendRequest(
                customer_id=(customer or self.customer).id, template_id=template.id, **fields
            ),
        )
        jobs.commit()  # the rendering job runs inline, after the commit
        db.session.commit()  # and its result is saved, as a worker would
        return sent

    def other_customer(self, name: str = "王芳") -> Customer:
        customer = create_customer(self.rep, CustomerFields(name=name, company="南方零售"))
        jobs.commit()
        return customer


_CUSTOMER_PATH = re.compile(r"/[dp]/[^/?#]+(?:/[^?#]*)?(?:\?[^#]*)?$")


def path_of(url: str) -> str:
    """The /d/… or /p/… path (and query) of a customer URL.

    (Outside a request, Sent's URLs are currently BASE_URL + an already absolute URL; this
    takes the tail either way.)"""
    match = _CUSTOMER_PATH.search(url)
    assert match, url
    return match.group(0)


def token_of(url: str) -> str:
    """The token in /d/<token> or /p/<token>."""
    return urlsplit(path_of(url)).path.split("/")[2]


def visible_text(response) -> str:
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def client(app) -> FlaskClient:
    app.test_client_class = FreshClient
    return app.test_client()


@pytest.fixture
def shop(app, make_user) -> Shop:
    marketing = make_user("marketing", name="市场部 小王")
    rep = make_user("rep", name="李雷")
    customer = create_customer(
        rep, CustomerFields(name="张伟", company="华东精密制造有限公司", title="采购总监")
    )
    jobs.commit()
    return Shop(marketing, rep, customer)
