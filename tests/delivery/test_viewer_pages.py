"""The document viewer and what hangs off it: opening (session, link.opened, seen version), page
images, the download, the tracked redirect for links inside the document, and the QR code."""

from __future__ import annotations

import html as html_lib
import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import customer_side_support as support
import pytest
from customer_side_support import LINK_HTML, path_of, token_of, visible_text
from sqlalchemy import select

from portal import jobs
from portal.db_types import utcnow
from portal.delivery import services as delivery_services
from portal.delivery.document_links import (
    REDIRECT_SALT,
    document_layout,
    layout_cache_key,
    sign_target,
)
from portal.delivery.models import Delivery, RenderStatus
from portal.extensions import db
from portal.library.storage import get_storage
from portal.tracking import links, sessions
from portal.tracking.models import Event, EventType, ViewSession
from tests.viewer_support import confirm, open_in_viewer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}

client = support.client  # fixtures shared by the customer-side tests
shop = support.shop


def events_of(type_: str) -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.type == type_).order_by(Event.id)))


def fresh(delivery_id: int) -> Delivery:
    db.session.expire_all()
    return db.session.get(Delivery, delivery_id)


@pytest.fixture
def linked(shop):
    """A delivery of a 2-page HTML template with a pricing link on page 1 (tagged pricing)."""
    return shop.send(shop.template("产品手册", html=LINK_HTML, content_tags="1:pricing,product"))


# --- opening -------------------------------------------------------------------------------------


def test_opening_records_link_opened_and_the_seen_version(client, shop, linked):
    doc = token_of(linked.url)
    response = client.get(f"/d/{doc}", headers={**ZH, "User-Agent": "Mozilla/5.0 MicroMessenger"})
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    # Serving the page is a fetch, not an open: the viewer script confirms it (issue 11).
    [fetched] = events_of(EventType.LINK_FETCHED)
    assert not events_of(EventType.LINK_OPENED)
    assert fresh(linked.delivery.id).first_opened_at is None
    assert confirm(client, response.get_data(as_text=True)).json == {"opened": True}
    [opened] = events_of(EventType.LINK_OPENED)
    assert opened.session_id == fetched.session_id
    session = db.session.get(ViewSession, opened.session_id)
    assert opened.customer_id == shop.customer.id
    assert opened.delivery_id == linked.delivery.id
    assert opened.properties["version"] == 1
    assert session.version_number == 1
    assert session.user_agent == "Mozilla/5.0 MicroMessenger"
    delivery = fresh(linked.delivery.id)
    assert delivery.seen_version_number == 1
    assert delivery.first_opened_at is not None
    assert delivery.last_opened_at == delivery.first_opened_at

    # The page hands the script its config: the collect URL and this session's token.
    html = response.get_data(as_text=True)
    token = re.search(r'data-ingest-token="([^"]+)"', html).group(1)
    assert sessions.session_for_token(token).id == session.id
    assert 'data-collect-url="/t/r"' in html
    assert 'data-confirm-url="/t/o"' in html
    assert 'data-page-count="2"' in html
    assert "/static/js/viewer.js" in html
    assert "在微信中" in visible_text(response)  # the download hint inside WeChat

    first = delivery.first_opened_at
    assert confirm(client, html).json == {"opened": False}  # a repeat confirms nothing more
    open_in_viewer(client, f"/d/{doc}")
    delivery = fresh(linked.delivery.id)
    assert len(events_of(EventType.LINK_OPENED)) == 2
    assert db.session.scalar(select(ViewSession).order_by(ViewSession.id.desc())).id != session.id
    assert delivery.first_opened_at == first
    assert delivery.last_opened_at > first


def test_the_viewer_shows_every_page_with_its_size_and_a_way_back(client, linked):
    doc = token_of(linked.url)
    html = client.get(f"/d/{doc}", headers=ZH).get_data(as_text=True)
    # the page images (the share card's hidden fallback image is not a page; the <noscript>
    # copies are for browsers without the script that gives later pages their images)
    shown = re.sub(r"<noscript>.*?</noscript>", "", html, flags=re.S)
    images = [i for i in re.findall(r"<img\s[^>]*>", shown) if "/pages/" in i]
    assert len(images) == 2
    first, second = images
    assert f'src="/d/{doc}/pages/1.png?v=1"' in first
    assert 'loading="eager"' in first and 'elementtiming="first-page"' in first
    assert 'loading="lazy"' in second
    assert f'data-src="/d/{doc}/pages/2.png?v=1"' in second  # viewer.js sets src after page 1
    [style, fallback] = re.findall(r"<noscript>(.*?)</noscript>", html, flags=re.S)
    assert "img[data-later]{display:none}" in style  # without script: the copies only
    assert f'src="/d/{doc}/pages/2.png?v=1"' in fallback
    for image in images:
        width = int(re.search(r'width="(\d+)"', image).group(1))
        height = int(re.search(r'height="(\d+)"', image).group(1))
        assert width == 1000
        assert height == 1414  # A4: 297 / 210
    assert 'alt="第 1 页，共 2 页"' in first
    portal_href = re.search(r'class="v-back" href="/p/([^"]+)"', html).group(1)
    assert links.unsign(portal_href, "portal") is not None
    assert f'href="/d/{doc}/download"' in html


def test_the_watermark_carries_the_customers_name_only_when_asked(client, shop):
    plain = shop.send(shop.template("无水印"))
    marked = shop.send(shop.template("有水印"), watermark=True)
    assert 'class="v-wm"' not in client.get(path_of(plain.url)).get_data(as_text=True)
    html = client.get(path_of(marked.url)).get_data(as_text=True)
    assert html.count('class="v-wm"') == 2  # one per page
    assert "张伟 · 华东精密制造有限公司" in html


def test_a_delivery_still_being_prepared_shows_a_self_refreshing_page(client, shop):
    sent = shop.send(shop.template())
    delivery = db.session.get(Delivery, sent.delivery.id)
    delivery.render_status = RenderStatus.PENDING
    get_storage().delete_prefix("renders/")  # not rendered yet
    jobs.commit()
    response = client.get(path_of(sent.url), headers=ZH)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<meta http-equiv="refresh"' in html
    assert "正在准备文档" in visible_text(response)
    assert "data-viewer" not in html
    assert not events_of(EventType.LINK_OPENED)  # counted once the document shows
    assert fresh(sent.delivery.id).seen_version_number is None

    # A render that is late beyond the grace period is done by the viewer itself.
    delivery = fresh(sent.delivery.id)
    delivery.created_at = utcnow() - timedelta(minutes=5)
    jobs.commit()
    response = open_in_viewer(client, path_of(sent.url))
    assert "data-viewer" in response.get_data(as_text=True)
    assert fresh(sent.delivery.id).render_status == RenderStatus.READY
    assert len(events_of(EventType.LINK_OPENED)) == 1


def test_a_pending_delivery_whose_render_exists_opens_at_once(client, shop):
    sent = shop.send(shop.template())
    fresh(sent.delivery.id).render_status = RenderStatus.PENDING  # the job's update was lost
    jobs.commit()
    assert "data-viewer" in client.get(path_of(sent.url)).get_data(as_text=True)
    assert fresh(sent.delivery.id).render_status == RenderStatus.READY


def test_a_failed_render_shows_a_friendly_message(client, shop):
    sent = shop.send(shop.template())
    delivery = fresh(sent.delivery.id)
    delivery.render_status = RenderStatus.FAILED
    delivery.render_error = "Template line 3: 'customer' has no attribute 'nmae'"
    jobs.commit()
    response = client.get(path_of(sent.url), headers=ZH)
    assert response.status_code == 200
    text = visible_text(response)
    assert "暂时无法显示此文档" in text
    assert "李雷" in text
    assert "nmae" not in text  # the technical reason is for the rep, not the customer
    assert not events_of(EventType.LINK_OPENED)


def test_the_viewer_follows_the_browsers_language(client, linked):
    english = visible_text(client.get(path_of(linked.url), headers=EN))
    assert "All documents" in english
    assert "Download PDF" in english
    chinese = visible_text(client.get(path_of(linked.url), headers=ZH))
    assert "全部资料" in chinese


# --- page images -------------------------------------------------------------------------------


def test_page_images_are_private_cached_pngs(client, linked):
    doc = token_of(linked.url)
    response = client.get(f"/d/{doc}/pages/1.png?v=1")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert response.data.startswith(PNG_MAGIC)
    cache = response.headers["Cache-Control"]
    assert "private" in cache and "max-age=" in cache
    etag = response.headers["ETag"]
    again = client.get(f"/d/{doc}/pages/1.png?v=1", headers={"If-None-Match": etag})
    assert again.status_code == 304
    second = client.get(f"/d/{doc}/pages/2.png")
    assert second.data.startswith(PNG_MAGIC) and second.data != response.data
    assert client.get(f"/d/{doc}/pages/3.png").status_code == 404
    assert client.get(f"/d/{doc}/pages/0.png").status_code == 404
    assert not events_of(EventType.LINK_OPENED)  # images record nothing


def _srcset(tag: str, attribute: str = "srcset") -> dict[int, str]:
    """width -> URL of a srcset attribute in tag."""
    value = html_lib.unescape(re.search(rf'\b{attribute}="([^"]+)"', tag).group(1))
    pairs = (candidate.strip().rsplit(" ", 1) for candidate in value.split(","))
    return {int(width.removesuffix("w")): url for url, width in pairs}


def test_pages_come_as_webp_per_width_and_the_first_is_preloaded(client, linked):
    doc = token_of(linked.url)
    html = client.get(f"/d/{doc}", headers=ZH).get_data(as_text=True)
    widths = {480, 720, 960, 1280, 1800}
    [preload] = re.findall(r'<link rel="preload"[^>]*>', html)
    assert 'as="image"' in preload and 'type="image/webp"' in preload
    first_srcset = _srcset(preload, "imagesrcset")
    assert set(first_srcset) == widths
    assert first_srcset[1280] == f"/d/{doc}/pages/1/1280.webp?v=1"
    sources = re.findall(r'<source type="image/webp"[^>]*>', html)
    assert len(sources) == 2  # one per page
    assert _srcset(sources[0]) == first_srcset  # the preload is the first page's own srcset
    assert _srcset(sources[1], "data-srcset")[480] == f"/d/{doc}/pages/2/480.webp?v=1"
    assert all('sizes="(min-width: 700px) min(868px' in source for source in sources)
    assert html.index('rel="preload"') < html.index('rel="stylesheet"')  # asked for first


def test_webp_page_images_are_rasterised_per_width_and_cached_privately(client, linked):
    from PIL import Image

    doc = token_of(linked.url)
    response = client.get(f"/d/{doc}/pages/1/1280.webp?v=1")
    assert response.status_code == 200
    assert response.mimetype == "image/webp"
    assert response.data[:4] == b"RIFF" and response.data[8:12] == b"WEBP"
    cache = response.headers["Cache-Control"]
    assert "private" in cache and "max-age=86400" in cache
    again = client.get(
        f"/d/{doc}/pages/1/1280.webp?v=1", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304
    small = client.get(f"/d/{doc}/pages/1/480.webp?v=1")
    assert small.headers["ETag"] != response.headers["ETag"]
    with Image.open(io.BytesIO(response.data)) as big, Image.open(io.BytesIO(small.data)) as low:
        assert (big.width, low.width) == (1280, 480)  # each width drawn at its size
        assert abs(big.height - 1280 * 297 / 210) <= 2  # A4
    assert client.get(f"/d/{doc}/pages/1/1000.webp").status_code == 404  # widths are fixed
    assert client.get(f"/d/{doc}/pages/3/480.webp").status_code == 404
    assert client.get(f"/d/{doc}/pages/0/480.webp").status_code == 404
    assert not events_of(EventType.LINK_OPENED)  # images record nothing


def test_a_sent_copy_has_its_first_page_ready_at_the_phones_widths(shop, linked):
    from portal.delivery.services import current_version, variables_for
    from portal.library.rendering import PREPARED_WEBP_WIDTHS, png_cache_key, webp_cache_key

    delivery = db.session.get(Delivery, linked.delivery.id)
    version, variables = current_version(delivery), variables_for(delivery)
    for width in PREPARED_WEBP_WIDTHS:
        assert get_storage().exists(webp_cache_key(version, variables, 1, width))
    assert get_storage().exists(png_cache_key(version, variables, 1))
    assert not get_storage().exists(webp_cache_key(version, variables, 2, 1280))


def test_preparing_a_prepared_copy_again_reads_and_writes_nothing(shop, linked, monkeypatch):
    """A retried job, or a second send of the same copy: no PDF fetched, no image drawn again."""
    from portal.delivery.services import current_version, variables_for
    from portal.library.rendering import pdf, prepare_copy

    delivery = db.session.get(Delivery, linked.delivery.id)
    storage_class = type(get_storage())
    calls: list[str] = []
    monkeypatch.setattr(storage_class, "get", lambda _s, key: calls.append(f"get {key}"))
    monkeypatch.setattr(storage_class, "put", lambda _s, key, *_a: calls.append(f"put {key}"))
    monkeypatch.setattr(pdf, "page_images", lambda *_a: calls.append("drawn"))
    prepare_copy(current_version(delivery), variables_for(delivery))
    assert calls == []


# --- download ----------------------------------------------------------------------------------


def test_download_sends_the_personal_pdf_and_records_it(client, shop, linked):
    response = client.get(f"/d/{token_of(linked.url)}/download")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    # RFC 5987: the Chinese name survives, with an ASCII fallback for old clients.
    assert "filename*=UTF-8''%E4%BA%A7%E5%93%81%E6%89%8B%E5%86%8C.pdf" in disposition
    [downloaded] = events_of(EventType.DOC_DOWNLOADED)
    assert downloaded.delivery_id == linked.delivery.id
    assert downloaded.customer_id == shop.customer.id
    assert downloaded.properties["version"] == 1


def test_download_respects_allow_download(client, shop):
    sent = shop.send(shop.template("仅在线查看"), allow_download=False)
    doc = token_of(sent.url)
    response = client.get(f"/d/{doc}/download", headers=ZH)
    assert response.status_code == 403
    assert "此文档不支持下载" in visible_text(response)
    assert f'href="/d/{doc}"' in response.get_data(as_text=True)  # back to reading online
    assert not events_of(EventType.DOC_DOWNLOADED)
    viewer = client.get(f"/d/{doc}").get_data(as_text=True)
    assert "/download" not in viewer


# --- links inside the document -----------------------------------------------------------------


def overlay_links(html: str) -> list[str]:
    return [
        html_lib.unescape(href) for href in re.findall(r'<a class="v-link" href="([^"]+)"', html)
    ]


def test_links_in_the_document_become_overlays(client, linked):
    html = client.get(path_of(linked.url)).get_data(as_text=True)
    hrefs = overlay_links(html)
    assert len(hrefs) == 2
    targets = {}
    for href in hrefs:
        query = parse_qs(urlsplit(href).query)
        assert query["p"] == ["1"]
        signed_for, target = links.unsign(query["u"][0], REDIRECT_SALT)
        assert signed_for == linked.delivery.id
        targets[target] = href
    assert set(targets) == {"https://example.com/pricing", "mailto:sales@example.com"}
    # Placed as percentages of the page, inside it.
    # (in the page's nonce'd <style>, one rule per overlay id: no style attributes under the CSP)
    ids = re.findall(r'class="v-link"[^>]*id="([^"]+)"', html)
    rules = dict(re.findall(r"#(vl-\d+-\d+)\{([^}]+)\}", html))
    styles = [rules[overlay] for overlay in ids]
    assert len(styles) == 2
    for style in styles:
        values = [float(v) for v in re.findall(r"([\d.]+)%", style)]
        assert len(values) == 4
        assert all(0 <= v <= 100 for v in values)
    # Web links open in a new tab; mail links do not.
    web = re.search(r'<a class="v-link"[^>]*title="https://example.com/pricing"[^>]*>', html)
    assert 'target="_blank"' in web.group(0)


def test_the_link_layout_is_cached_next_to_the_render(linked):
    delivery = fresh(linked.delivery.id)
    version = delivery_services.current_version(delivery)
    variables = delivery_services.variables_for(delivery)
    key = layout_cache_key(version, variables)
    assert key.endswith(".pdf.links.json")
    storage = get_storage()
    storage.delete(key)
    pages = document_layout(version, variables)
    assert storage.exists(key)
    assert [p.number for p in pages] == [1, 2]
    assert [a.href for a in pages[0].links] == [
        "https://example.com/pricing",
        "mailto:sales@example.com",
    ]
    assert pages[1].links == []
    assert document_layout(version, variables) == pages  # from the cache


def test_the_redirect_records_link_clicked_with_the_content_tag(client, shop, linked):
    html = client.get(path_of(linked.url)).get_data(as_text=True)
    pricing = next(
        h
        for h in overlay_links(html)
        if links.unsign(parse_qs(urlsplit(h).query)["u"][0], REDIRECT_SALT)[1]
        == "https://example.com/pricing"
    )
    response = client.get(pricing)
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/pricing"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    [clicked] = events_of(EventType.LINK_CLICKED)
    assert clicked.customer_id == shop.customer.id
    assert clicked.delivery_id == linked.delivery.id
    assert clicked.page == 1
    assert clicked.properties["href"] == "https://example.com/pricing"
    assert clicked.properties["content_tag"] == "pricing"  # the page's first tag
    assert clicked.properties["page"] == 1


def test_a_link_on_an_untagged_page_has_no_content_tag(client, linked):
    doc = token_of(linked.url)
    target = sign_target("https://example.com/contact", linked.delivery.id)
    assert client.get(f"/d/{doc}/go?u={target}&p=2").status_code == 302
    assert client.get(f"/d/{doc}/go?u={target}").status_code == 302
    first, second = events_of(EventType.LINK_CLICKED)
    assert first.properties == {
        "href": "https://example.com/contact",
        "content_tag": None,
        "page": 2,
        "version": 1,
    }
    assert second.properties["page"] is None


@pytest.mark.parametrize(
    "make_u",
    [
        pytest.param(lambda d: "https://evil.example/phish", id="unsigned"),
        pytest.param(lambda d: links.sign([d, "https://evil.example/"], "doc"), id="other-salt"),
        pytest.param(
            lambda d: sign_target("https://example.com/x", d)[:-6] + "AAAAAA", id="tampered"
        ),
        pytest.param(
            lambda d: links.sign([d, "javascript:alert(1)"], REDIRECT_SALT), id="javascript"
        ),
        pytest.param(
            lambda d: links.sign([d, "//evil.example/"], REDIRECT_SALT), id="scheme-relative"
        ),
        pytest.param(lambda d: links.sign([d, "data:text/html,x"], REDIRECT_SALT), id="data"),
        pytest.param(
            lambda d: sign_target("https://example.com/pricing", d + 1), id="another-delivery"
        ),
        pytest.param(lambda d: links.sign("https://example.com/pricing", REDIRECT_SALT), id="old"),
        pytest.param(lambda d: "", id="empty"),
    ],
)
def test_the_redirect_refuses_targets_it_did_not_sign(client, linked, make_u):
    doc = token_of(linked.url)
    response = client.get(f"/d/{doc}/go", query_string={"u": make_u(linked.delivery.id), "p": 1})
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert not events_of(EventType.LINK_CLICKED)


# --- QR ------------------------------------------------------------------------------------------


def test_the_qr_code_is_an_svg_of_the_absolute_viewer_url(client, linked):
    from portal.delivery.viewer import qr_svg

    doc = token_of(linked.url)
    response = client.get(f"/d/{doc}/qr.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith("<svg")
    assert "<path" in body
    assert response.data == qr_svg(f"http://portal.test/d/{doc}")
    assert "private" in response.headers["Cache-Control"]
    assert not db.session.scalars(select(Event)).all()  # no event for the QR image


# --- robots and previews are served but not counted --------------------------------------------


@pytest.mark.parametrize(
    "user_agent",
    [
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "WhatsApp/2.23.20.0",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.5.0",
        "python-requests/2.32",
        "",
    ],
)
def test_link_previews_and_scripts_are_not_counted_as_reading(client, linked, user_agent):
    doc = token_of(linked.url)
    headers = {"User-Agent": user_agent}
    viewer = client.get(f"/d/{doc}", headers=headers)
    assert viewer.status_code == 200
    assert "/static/js/viewer.js" not in viewer.get_data(as_text=True)
    assert client.get(f"/d/{doc}/download", headers=headers).status_code == 200
    assert client.get(path_of(linked.portal_url), headers=headers).status_code == 200
    target = sign_target("https://example.com/pricing", linked.delivery.id)
    assert client.get(f"/d/{doc}/go?u={target}&p=1", headers=headers).status_code == 302
    assert db.session.scalars(select(Event)).all() == []
    assert db.session.scalars(select(ViewSession)).all() == []
    assert fresh(linked.delivery.id).seen_version_number is None


def test_head_requests_are_not_counted(client, linked):
    doc = token_of(linked.url)
    assert client.head(f"/d/{doc}").status_code == 200
    assert client.head(path_of(linked.portal_url)).status_code == 200
    assert db.session.scalars(select(Event)).all() == []
    assert fresh(linked.delivery.id).first_opened_at is None
    # A real browser afterwards is counted (once its viewer confirms the open).
    open_in_viewer(
        client, f"/d/{doc}", headers={"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0"}
    )
    assert len(events_of(EventType.LINK_OPENED)) == 1
