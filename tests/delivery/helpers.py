"""Building blocks for delivery tests: a library template, a rep, a customer, a send."""

from __future__ import annotations

from dataclasses import dataclass

from portal import jobs
from portal.accounts.models import User
from portal.customers.models import Customer
from portal.customers.services import CustomerFields, create_customer
from portal.delivery.services import SendRequest, Sent, send
from portal.library import services as library
from portal.library.models import Template

TWO_PAGE_HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<style>section { page-break-after: always; } section:last-child { page-break-after: auto; }</style>
</head><body>
<section><h1>第一页 {{ customer.name }}</h1><p>方案概述</p></section>
<section><h1>第二页 报价</h1><p>合计 ¥100,000</p>
<a href="https://example.com/pricing">价格详情</a></section>
</body></html>"""


def make_template(
    marketing: User,
    *,
    name: str = "方案报价",
    kind: str = "quote",
    html: str = TWO_PAGE_HTML,
    content_tags: str = "2:pricing",
    **fields,
) -> Template:
    version = library.create_template(
        marketing,
        library.TemplateFields(name=name, kind=kind, **fields),
        filename="doc.html",
        data=html.encode(),
        changelog="v1",
        content_tags=content_tags,
    )
    jobs.commit()
    return version.template


def make_customer(owner: User, name: str = "张伟", **fields) -> Customer:
    customer = create_customer(
        owner,
        CustomerFields(
            name=name,
            company=fields.pop("company", "华东精密制造"),
            title=fields.pop("title", "采购总监"),
            email=fields.pop("email", "zhang@example.com"),
            **fields,
        ),
    )
    jobs.commit()
    return customer


def make_delivery(rep: User, customer: Customer, template: Template, **options) -> Sent:
    sent = send(rep, SendRequest(customer_id=customer.id, template_id=template.id, **options))
    jobs.commit()
    return sent


@dataclass
class World:
    marketing: User
    rep: User
    supervisor: User
    customer: Customer
    template: Template
