"""Watermarked downloads (issue 12, item 2): a downloaded PDF carries its reader's mark on every
page (customer name · company · send date, and a forwarded reader's name once they said who
they are), in an embedded Noto CJK face; it is stamped once per delivery and kept like a render,
so a second download and every open render and stamp nothing. On by default for quotes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import customer_side_support as support
import pypdfium2 as pdfium
import pytest
from customer_side_support import path_of, two_page_html
from weasyprint import HTML

from portal.delivery import services as delivery_services
from portal.delivery.models import Delivery
from portal.extensions import db
from portal.library.rendering import render_version_pdf
from portal.library.rendering import watermark as watermark_module
from portal.library.rendering.variables import business_date
from portal.library.storage import get_storage
from tests.viewer_support import open_in_viewer

client = support.client
shop = support.shop

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


def page_texts(pdf: bytes, tmp_path: Path) -> list[str]:
    """Each page's text as poppler's pdftotext reads it (as a reader's tools would)."""
    path = tmp_path / "download.pdf"
    path.write_bytes(pdf)
    pages = len(pdfium.PdfDocument(pdf))
    return [
        subprocess.run(
            ["pdftotext", "-f", str(n), "-l", str(n), "-enc", "UTF-8", str(path), "-"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for n in range(1, pages + 1)
    ]


def fonts_of(pdf: bytes, tmp_path: Path) -> list[tuple[str, str]]:
    """(font name, embedded yes/no) of every font in the PDF, as poppler's pdffonts lists them."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf)
    listing = subprocess.run(
        ["pdffonts", str(path)], check=True, capture_output=True, text=True
    ).stdout.splitlines()[2:]
    return [(line.split()[0], line.split()[-5]) for line in listing if line.strip()]


class Counter:
    """Counts WeasyPrint renders (a document or a stamp page) and stampings, and lets them run."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.renders = 0
        self.stampings = 0
        write_pdf, stamp = HTML.write_pdf, watermark_module.watermark_pdf

        def counted_write_pdf(html, *args, **kwargs):
            self.renders += 1
            return write_pdf(html, *args, **kwargs)

        def counted_stamp(pdf, mark):
            self.stampings += 1
            return stamp(pdf, mark)

        monkeypatch.setattr(HTML, "write_pdf", counted_write_pdf)
        monkeypatch.setattr(watermark_module, "watermark_pdf", counted_stamp)


def _send_day(sent) -> str:
    delivery = db.session.get(Delivery, sent.delivery.id)
    return business_date(delivery.created_at).isoformat()


def test_every_page_of_a_downloaded_quote_names_its_reader_in_noto_cjk(client, shop, tmp_path):
    three_pages = two_page_html(
        "MES 报价单", extra="<p style='break-after: page'>实施计划</p><p>服务条款</p>"
    )
    sent = shop.send(shop.template("MES 报价单", kind="quote", html=three_pages))
    assert db.session.get(Delivery, sent.delivery.id).watermark  # a quote's default

    response = client.get(path_of(sent.url) + "/download", headers={"User-Agent": CHROME})
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    texts = page_texts(response.get_data(), tmp_path)
    assert len(texts) == 3
    mark = f"张伟 · 华东精密制造有限公司 · {_send_day(sent)}"
    for text in texts:
        assert mark in text  # the foot line, whole, on every page
    assert "尊敬的张伟，您好！" in texts[0]  # the document's own text is still there
    assert "标准版 ¥98,000 / 年" in texts[-1]
    fonts = fonts_of(response.get_data(), tmp_path)
    assert all(embedded == "yes" for _name, embedded in fonts), fonts
    assert any("Noto-Sans-CJK-SC" in name for name, _embedded in fonts), fonts


def test_a_second_download_renders_and_stamps_nothing_and_an_open_never_stamps(
    client, shop, monkeypatch
):
    sent = shop.send(shop.template("报价单", kind="quote"))  # rendered by its job, as sent
    counter = Counter(monkeypatch)
    path = path_of(sent.url)

    open_in_viewer(client, path, headers={"User-Agent": CHROME})
    assert client.get(f"{path}/pages/1.png").status_code == 200
    assert (counter.renders, counter.stampings) == (0, 0)  # opening reads the cache

    first = client.get(f"{path}/download", headers={"User-Agent": CHROME})
    assert first.status_code == 200
    assert counter.stampings == 1
    assert counter.renders == 1  # the stamp page: the copy itself was rendered at the send
    [stamped] = get_storage().list(f"watermarks/{sent.delivery.id}/")

    second = client.get(f"{path}/download", headers={"User-Agent": CHROME})
    assert second.get_data() == first.get_data()
    assert (counter.renders, counter.stampings) == (1, 1)  # nothing rendered, nothing stamped
    assert get_storage().list(f"watermarks/{sent.delivery.id}/") == [stamped]
    open_in_viewer(client, path, headers={"User-Agent": CHROME})
    assert (counter.renders, counter.stampings) == (1, 1)


def test_a_forwarded_reader_who_said_who_they_are_is_named_in_their_copy(app, shop, tmp_path):
    sent = shop.send(shop.template("报价单", kind="quote"), ask_visitor="optional")
    path = path_of(sent.url)
    app.test_client_class = support.FreshClient
    recipient, colleague = app.test_client(), app.test_client()
    open_in_viewer(recipient, path, headers={"User-Agent": CHROME})
    open_in_viewer(colleague, path, headers={"User-Agent": CHROME})
    answered = colleague.post(
        f"{path}/visitor", data={"name": "陈静", "title": "财务经理", "contact": ""}
    )
    assert answered.status_code == 302

    theirs = page_texts(colleague.get(f"{path}/download").get_data(), tmp_path)
    mine = page_texts(recipient.get(f"{path}/download").get_data(), tmp_path)
    mark = f"张伟 · 华东精密制造有限公司 · {_send_day(sent)}"
    assert all(f"{mark} · 陈静" in text for text in theirs)
    assert all(mark in text and "陈静" not in text for text in mine)
    # the viewer's overlay names them too
    page = colleague.get(path, headers={"User-Agent": CHROME}).get_data(as_text=True)
    assert f"{mark} · 陈静" in page


def test_without_a_watermark_the_download_is_the_rendered_copy(client, shop):
    brochure = shop.send(shop.template("产品手册"))  # not a quote: off by default
    quote = shop.send(shop.template("报价单", kind="quote"), watermark=False)
    for sent in (brochure, quote):
        delivery = db.session.get(Delivery, sent.delivery.id)
        assert not delivery.watermark
        served = client.get(path_of(sent.url) + "/download").get_data()
        rendered = render_version_pdf(
            delivery_services.current_version(delivery), delivery_services.variables_for(delivery)
        )
        assert served == rendered
        assert "v-wm" not in client.get(path_of(sent.url)).get_data(as_text=True)
    assert get_storage().list("watermarks/") == []


def test_an_uploaded_pdf_with_rotated_and_landscape_pages_is_marked_upright(tmp_path):
    html = (
        "<style>@page{size:A4} @page wide{size:A4 landscape} .w{page:wide}</style>"
        "<p style='break-after:page'>一</p><p class='w' style='break-after:page'>二</p><p>三</p>"
    )
    document = pdfium.PdfDocument(HTML(string=html).write_pdf())
    document[2].set_rotation(90)
    out = tmp_path / "in.pdf"
    document.save(out)
    marked = watermark_module.watermark_pdf(out.read_bytes(), "王芳 · 南方零售 · 2026-12-06")
    for text in page_texts(marked, tmp_path):
        assert "王芳 · 南方零售 · 2026-12-06" in text
    shown = pdfium.PdfDocument(marked)
    for index, (width, height) in enumerate([(595, 842), (842, 595), (842, 595)]):
        image = shown[index].render(scale=1).to_pil().convert("L")
        assert abs(image.width - width) <= 1 and abs(image.height - height) <= 1
        # The foot line is where the reader sees the page's foot, centred: ink in the bottom
        # band's middle, none in the bands along the sides (where a turned stamp would put it).
        foot = image.crop((width // 3, height - 18, 2 * width // 3, height - 4))
        assert foot.getextrema()[0] < 200, index
        for side in (
            image.crop((0, height // 3, 16, 2 * height // 3)),
            image.crop((width - 16, height // 3, width, 2 * height // 3)),
        ):
            assert side.getextrema()[0] > 240, index
