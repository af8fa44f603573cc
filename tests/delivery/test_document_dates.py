"""A personalised document is dated in PORTAL_TIMEZONE, not by the UTC timestamp's date.

The zone is chosen when the test runs so that its date differs from UTC's right now (UTC+14
from 10:00 UTC on, UTC-12 before 12:00 UTC): the bug (the date of the UTC timestamp) then gives
a different day, whatever the hour of the run.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pypdfium2 as pdfium
import pytest

from portal.delivery import served_files
from portal.delivery import services as delivery_services
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.library.rendering import render_version_pdf
from portal.library.rendering.variables import date_cn
from tests.delivery.helpers import make_customer, make_delivery, make_template

DATED_HTML = """<!doctype html><html><head><meta charset="utf-8"></head><body>
<p>Quote for {{ customer.name }}, dated {{ today }}</p></body></html>"""


def _zone_off_utc_date() -> str:
    """An Etc zone whose date differs from UTC's now (Etc/GMT-14 is UTC+14)."""
    return "Etc/GMT-14" if datetime.now(UTC).hour >= 10 else "Etc/GMT+12"


@pytest.fixture
def app_config(app_config):
    return {**app_config, "BABEL_DEFAULT_TIMEZONE": _zone_off_utc_date()}


def _pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def test_a_copy_is_dated_on_the_send_day_in_portal_timezone(app, make_user):
    rep = make_user("rep")
    template = make_template(make_user("marketing"), html=DATED_HTML, content_tags="")
    sent = make_delivery(rep, make_customer(rep, name="Zhang"), template)
    delivery = db.session.get(Delivery, sent.delivery.id)
    local_day = delivery.created_at.astimezone(ZoneInfo(app.config["BABEL_DEFAULT_TIMEZONE"]))
    local_day = local_day.date()
    assert local_day != delivery.created_at.astimezone(UTC).date()  # the zone does its job

    variables = delivery_services.variables_for(delivery)
    assert variables["today"] == local_day.isoformat()
    assert variables["today_cn"] == date_cn(local_day)

    # the served copy (download, page images) names the same day
    token = re.search(r"/d/([^/?#]+)", sent.url).group(1)
    copy = served_files.resolve(token)
    assert copy.variables["today"] == local_day.isoformat()

    pdf = render_version_pdf(delivery_services.current_version(delivery), variables)
    assert f"dated {local_day.isoformat()}" in " ".join(_pdf_text(pdf).split())
