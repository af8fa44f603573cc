"""Share cards (issue 12, item 4): a customer link pasted into a chat shows the document's
title, the sender's company and page 1, and nothing about the customer; the card's image is a
signed, cached thumbnail whose fetch is a preview of nothing (no open, no points, no event).
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import customer_side_support as support
import pypdfium2 as pdfium
import pytest
from customer_side_support import path_of, token_of
from PIL import Image
from sqlalchemy import func, select

from portal import jobs
from portal.branding import service as branding
from portal.customers.services import CustomerFields, create_customer
from portal.delivery import services as delivery_services
from portal.delivery import share_cards
from portal.delivery.models import Delivery
from portal.engagement.models import ScoreEntry
from portal.extensions import db
from portal.library.rendering import pdf_cache_key
from portal.library.rendering.variables import business_date, sample_variables
from portal.library.storage import get_storage
from portal.tracking import links
from portal.tracking.models import Event, Link, ViewSession

client = support.client
shop = support.shop

CHROME = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47"
)
ZH = {"Accept-Language": "zh-CN,zh;q=0.9", "User-Agent": CHROME}
EN = {"Accept-Language": "en", "User-Agent": CHROME}
CUSTOMER_NAME = "陈静"
CUSTOMER_COMPANY = "北方重工集团"


class _Head(HTMLParser):
    """The meta tags, the <title> and the first <img> of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.title = ""
        self.first_img: str | None = None
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "meta" and (attrs.get("property") or attrs.get("name")):
            self.meta[attrs.get("property") or attrs.get("name")] = attrs.get("content") or ""
        elif tag == "title":
            self._in_title = True
        elif tag == "img" and self.first_img is None:
            self.first_img = attrs.get("src")

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def _head(response) -> _Head:
    assert response.status_code == 200, response.status_code
    parsed = _Head()
    parsed.feed(response.get_data(as_text=True))
    return parsed


def _counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Event)),
        db.session.scalar(select(func.coalesce(func.sum(ScoreEntry.points), 0))),
        db.session.scalar(select(func.count()).select_from(ViewSession)),
    )


@pytest.fixture
def sent(shop):
    branding.save_brand(None, "远景智造科技", "#0a7d5a")
    customer = create_customer(
        shop.rep, CustomerFields(name=CUSTOMER_NAME, company=CUSTOMER_COMPANY, title="总经理")
    )
    jobs.commit()
    template = shop.template("智能工厂报价单", kind="quote")
    return shop.send(template, customer)


def _personal_bits(text: str) -> list[str]:
    return [bit for bit in (CUSTOMER_NAME, CUSTOMER_COMPANY) if bit in text]


@pytest.mark.parametrize("headers", [ZH, EN], ids=["zh", "en"])
def test_the_viewer_carries_a_card_with_title_company_and_an_absolute_image(
    app, client, sent, headers
):
    head = _head(client.get(path_of(sent.url), headers=headers))
    assert head.meta["og:title"] == "智能工厂报价单"
    assert head.meta["twitter:title"] == "智能工厂报价单"
    assert "远景智造科技" in head.meta["og:description"]
    assert "李雷" in head.meta["og:description"]  # the sender, not the customer
    assert head.meta["twitter:card"] == "summary_large_image"
    image = head.meta["og:image"]
    assert image.startswith(app.config["BASE_URL"] + "/thumb/") and image.endswith(".jpg")
    assert head.meta["twitter:image"] == image
    assert head.title.strip() == "智能工厂报价单"
    assert head.first_img == image  # WeChat's fallback: the first image on the page
    card_text = " ".join([head.title, *head.meta.values()])
    assert _personal_bits(card_text) == []


@pytest.mark.parametrize(
    ("headers", "title"),
    [(ZH, "远景智造科技的资料"), (EN, "Documents from 远景智造科技")],
    ids=["zh", "en"],
)
def test_the_portal_page_carries_a_card_without_the_customer(app, client, sent, headers, title):
    head = _head(client.get(path_of(sent.portal_url), headers=headers))
    assert head.meta["og:title"] == title
    assert head.meta["og:image"].startswith(app.config["BASE_URL"] + "/thumb/")
    assert head.first_img == head.meta["og:image"]
    assert _personal_bits(" ".join([head.title, *head.meta.values()])) == []
    thumb = client.get(urlsplit(head.meta["og:image"]).path, headers=headers)
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"


def test_fetching_the_card_image_is_a_jpeg_and_records_no_open_and_no_points(client, sent):
    head = _head(client.get(path_of(sent.url), headers=ZH))  # the chat's preview fetch
    before = _counts()
    fetched = db.session.scalar(
        select(func.count()).select_from(Event).where(Event.type == "link.fetched")
    )
    assert fetched == 1  # the page's GET is a preview, as before
    for _ in range(2):  # the chat's server, then a phone showing the card
        response = client.get(urlsplit(head.meta["og:image"]).path, headers=ZH)
        assert response.status_code == 200
        assert response.mimetype == "image/jpeg"
        with Image.open(io.BytesIO(response.get_data())) as image:
            assert image.format == "JPEG"
            assert image.width == share_cards.THUMB_WIDTH and image.height > image.width
        assert "public" in response.headers["Cache-Control"]
    assert _counts() == before
    opened = db.session.scalar(
        select(func.count()).select_from(Event).where(Event.type == "link.opened")
    )
    assert opened == 0
    delivery = db.session.get(Delivery, sent.delivery.id)
    assert delivery.first_opened_at is None


def test_the_thumbnail_is_page_one_with_sample_data_made_once_per_version(client, sent):
    head = _head(client.get(path_of(sent.url), headers=ZH))
    first = client.get(urlsplit(head.meta["og:image"]).path).get_data()
    version = delivery_services.current_version(db.session.get(Delivery, sent.delivery.id))
    storage = get_storage()
    assert storage.get(f"thumbs/{version.sha256}.jpg") == first  # cached in storage
    sample = sample_variables(today=business_date(version.created_at))
    pdf = pdfium.PdfDocument(storage.get(pdf_cache_key(version, sample)))
    text = pdf[0].get_textpage().get_text_range()
    assert sample["customer"]["name"] in text and CUSTOMER_NAME not in text
    again = client.get(urlsplit(head.meta["og:image"]).path).get_data()
    assert again == first


def _thumb_path(sent) -> str:
    link = db.session.get(Link, links.unsign(token_of(sent.url), "doc"))
    return f"/thumb/{share_cards.thumbnail_token(link)}.jpg"


def _forge(token: str) -> list[str]:
    _payload, _, rest = token.partition(".")
    signature = rest.rsplit(".", 1)[-1]
    swapped = "A" if signature[5] != "A" else "B"
    return [
        token[:-1],
        token.replace(signature, signature[:5] + swapped + signature[6:]),
        token + "x",
    ]


def test_a_forged_or_foreign_thumbnail_token_is_404_and_records_nothing(client, sent):
    good = _thumb_path(sent)
    assert client.get(good).status_code == 200
    before = _counts()
    token = re.match(r"/thumb/(.+)\.jpg$", good).group(1)
    for forged in _forge(token):
        assert client.get(f"/thumb/{forged}.jpg").status_code == 404, forged
    # a doc or portal link's own token is not a thumbnail token
    assert client.get(f"/thumb/{token_of(sent.url)}.jpg").status_code == 404
    assert client.get(f"/thumb/{token_of(sent.portal_url)}.jpg").status_code == 404
    # the payload of another link signed with the thumbnail salt's neighbour: refused
    assert client.get(f"/thumb/{links.sign(['d', 1], 'doc')}.jpg").status_code == 404
    assert _counts() == before


def test_a_revoked_link_s_thumbnail_is_gone(client, sent):
    path = _thumb_path(sent)
    delivery_services.revoke(sent.delivery.sender, sent.delivery.id)
    jobs.commit()
    assert client.get(path).status_code == 410


def test_a_passcode_protected_send_shows_no_title_and_no_page_in_a_chat(app, client, shop):
    """A chat fetching the link has not entered the passcode: its card names no document and
    shows no page 1, and the thumbnail of that link (or the portal's, for that send) is 404."""
    branding.save_brand(None, "远景智造科技", "#0a7d5a")
    customer = create_customer(
        shop.rep, CustomerFields(name=CUSTOMER_NAME, company=CUSTOMER_COMPANY, title="总经理")
    )
    jobs.commit()
    locked = shop.send(shop.template("保密报价单", kind="quote"), customer, passcode="482613")

    head = _head(client.get(path_of(locked.url), headers=ZH))
    card_text = " ".join([head.title, *head.meta.values()])
    assert "保密报价单" not in card_text
    assert "og:image" not in head.meta and "/thumb/" not in (head.first_img or "")
    assert client.get(_thumb_path(locked)).status_code == 404

    portal = _head(client.get(path_of(locked.portal_url), headers=ZH))
    assert "保密报价单" not in " ".join([portal.title, *portal.meta.values()])
    if "og:image" in portal.meta:  # the only send is locked: nothing to show
        assert client.get(urlsplit(portal.meta["og:image"]).path).status_code == 404
