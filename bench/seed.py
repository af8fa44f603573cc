"""Loading what the figures need through the app's own services (inside an app context).

Every row is made the way the product makes it: accounts by the accounts service, templates
by the library (upload checks, storage), customers by the customers service, sends by
delivery.send (links, the prepared copy), opens by the viewer service. Jobs run inline in the
bench's own app, so everything is in place when a figure starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from portal import jobs
from portal.accounts.models import User
from portal.accounts.services import create_user
from portal.customers.models import Customer
from portal.customers.services import CustomerFields, create_customer
from portal.delivery.services import SendRequest, send
from portal.library import services as library
from portal.library.models import Template

PASSWORD = "bench-password-1"  # noqa: S105  (throwaway accounts of a throwaway schema)
INDUSTRIES = ["制造", "能源", "医疗", "零售", "物流"]
TITLES = ["采购总监", "工程师", "总经理", "采购专员", "CTO", "项目经理"]


@dataclass
class Staff:
    marketing: User
    supervisor: User
    rep: User


def staff(tag: str) -> Staff:
    """A marketing user, a supervisor and a rep reporting to them (tag keeps e-mails apart)."""
    supervisor = create_user(
        f"boss-{tag}@bench.portal", name=f"主管 {tag}", role="supervisor", password=PASSWORD
    )
    jobs.commit()
    rep = create_user(
        f"rep-{tag}@bench.portal",
        name=f"销售 {tag}",
        role="rep",
        password=PASSWORD,
        supervisor_email=supervisor.email,
    )
    marketing = create_user(
        f"marketing-{tag}@bench.portal", name=f"市场 {tag}", role="marketing", password=PASSWORD
    )
    jobs.commit()
    return Staff(marketing=marketing, supervisor=supervisor, rep=rep)


def template(
    author: User,
    *,
    name: str,
    kind: str,
    filename: str,
    data: bytes,
    content_tags: str | None = None,
) -> Template:
    version = library.create_template(
        author,
        library.TemplateFields(name=name, kind=kind, industry=INDUSTRIES[0]),
        filename=filename,
        data=data,
        changelog="首版",
        content_tags=content_tags,
    )
    jobs.commit()
    return version.template


def customers(owner: User, count: int, tag: str) -> list[Customer]:
    made = []
    for n in range(count):
        made.append(
            create_customer(
                owner,
                CustomerFields(
                    name=f"客户{tag}-{n}号",
                    company=f"{INDUSTRIES[n % len(INDUSTRIES)]}公司{n}",
                    title=TITLES[n % len(TITLES)],
                    email=f"c{n}-{tag}@customer.example",
                    industry=INDUSTRIES[n % len(INDUSTRIES)],
                ),
            )
        )
        if n % 200 == 199:
            jobs.commit()
    jobs.commit()
    return made


def send_to(sender: User, customer_id: int, template_id: int) -> str:
    """Send a template; the path of the customer's document link (/d/<token>)."""
    sent = send(sender, SendRequest(customer_id=customer_id, template_id=template_id))
    jobs.commit()
    return urlsplit(sent.url).path


def portal_path(sender: User, customer_id: int, template_id: int) -> str:
    """The customer's portal home path (/p/<token>) from a send's links."""
    sent = send(sender, SendRequest(customer_id=customer_id, template_id=template_id))
    jobs.commit()
    return urlsplit(sent.portal_url).path
