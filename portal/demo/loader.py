"""Loads the demo dataset through the same services the app uses."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from sqlalchemy import func, select

from portal import jobs
from portal.accounts.models import User
from portal.accounts.services import create_user, get_user_by_email
from portal.customers.services import CustomerFields, create_customer
from portal.demo import activity, dataset, deals
from portal.extensions import db
from portal.library import services as library

CONTENT = Path(__file__).parent / "content"


def is_empty() -> bool:
    return not db.session.scalar(select(func.count()).select_from(User))


def _file(name: str) -> tuple[str, bytes]:
    path = CONTENT / name
    if path.is_dir():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in sorted(path.iterdir()):
                archive.write(item, item.name)
        return f"{name}.zip", buffer.getvalue()
    return name, path.read_bytes()


def load() -> dict[str, int]:
    """Create the demo users, templates and customers; returns counts."""
    for email, name, role, supervisor, team, region in dataset.USERS:
        create_user(
            email,
            name=name,
            role=role,
            password=dataset.DEMO_PASSWORD,
            supervisor_email=supervisor,
            team=team,
            region=region,
        )
    marketing = get_user_by_email("marketing@demo.portal")
    assert marketing is not None
    quote = None
    for (
        source,
        name,
        kind,
        industry,
        scenario,
        product_line,
        tags,
        changelog,
        content_tags,
        teams,
    ) in dataset.TEMPLATES:
        filename, data = _file(source)
        version = library.create_template(
            marketing,
            library.TemplateFields(
                name=name,
                kind=kind,
                industry=industry,
                scenario=scenario,
                product_line=product_line,
                tags=library.split_list(tags),
                allowed_teams=teams,
            ),
            filename=filename,
            data=data,
            changelog=changelog,
            content_tags=content_tags,
        )
        if source == "quote_zh.html":
            quote = version.template
    if quote is not None:
        revised = (
            (CONTENT / "quote_zh.html")
            .read_text(encoding="utf-8")
            .replace("40 人天", "36 人天")
            .replace("100,000", "90,000")
            .replace("617,600", "607,600")
            .encode()
        )
        library.add_version(
            quote,
            marketing,
            filename="quote_zh.html",
            data=revised,
            changelog=dataset.QUOTE_V2_CHANGELOG,
            content_tags="2:pricing",
        )
    for name, company, title, email, phone, industry, region, owner in dataset.CUSTOMERS:
        owner_user = get_user_by_email(owner)
        assert owner_user is not None
        create_customer(
            owner_user,
            CustomerFields(
                name=name,
                company=company,
                title=title,
                email=email,
                phone=phone,
                industry=industry,
                region=region,
            ),
        )
    jobs.commit()
    return {
        "users": len(dataset.USERS),
        "templates": len(dataset.TEMPLATES),
        "customers": len(dataset.CUSTOMERS),
        "deliveries": activity.load(),
        "deals": deals.load(),
    }
