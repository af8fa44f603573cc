"""The layout memo of the test suite (tests/render_memo.py) rests on WeasyPrint being
deterministic, and must never answer for HTML that fetches something."""

from __future__ import annotations

import pytest
from weasyprint import CSS, HTML

from tests.render_memo import RenderMemo


def test_the_same_html_lays_out_to_the_same_bytes():
    html = '<html lang="zh-CN"><body><h1>第一页 张伟</h1><p>合计 ¥100,000</p></body></html>'
    sheet = "html { font-family: 'Noto Sans CJK SC' }"
    memo = RenderMemo()  # a second one: the session's is installed below it
    first = memo._write_pdf(HTML(string=html), stylesheets=[CSS(string=sheet)])
    second = memo._write_pdf(HTML(string=html), stylesheets=[CSS(string=sheet)])
    assert first == second


def test_the_same_page_draws_to_the_same_image_bytes():
    from portal.library.rendering import pdf

    document = HTML(string="<h1>第一页 张伟</h1><p>合计 ¥100,000</p>").write_pdf()
    png, webp = pdf.page_png.__wrapped__, pdf.page_webp.__wrapped__  # below the memo
    assert png(document, 1, 400) == png(document, 1, 400)
    assert webp(document, 1, 480) == webp(document, 1, 480)


def test_remembers_page_images_by_the_pdfs_bytes(_render_memo):
    from portal.library.rendering import pdf

    first = HTML(string="<p>第一份</p>").write_pdf()
    other = HTML(string="<p>第二份</p>").write_pdf()
    hits = _render_memo.hits
    drawn = pdf.page_webp(first, 1, 480)
    assert pdf.page_webp(first, 1, 480) == drawn
    assert _render_memo.hits == hits + 1
    assert pdf.page_webp(other, 1, 480) != drawn  # another PDF: drawn, not recalled
    assert pdf.page_png(first, 1, 480) != drawn  # another format
    assert pdf.page_webp(first, 1, 960) != drawn  # another width
    assert _render_memo.hits == hits + 1
    with pytest.raises(ValueError):
        pdf.page_png(first, 2, 480)  # no page 2: raised every time
    with pytest.raises(ValueError):
        pdf.page_png(first, 2, 480)


def test_remembers_self_contained_html_only(_render_memo):
    hits = _render_memo.hits
    plain = "<p>记住我 remember me</p>"
    assert HTML(string=plain).write_pdf() == HTML(string=plain).write_pdf()
    assert _render_memo.hits == hits + 1
    for fetching in (
        '<img src="data:image/png;base64,iVBORw0KGgo=">',
        "<style>@import 'x.css';</style><p>a</p>",
        '<div style="background: url(x.png)">b</div>',
    ):
        HTML(string=fetching).write_pdf()
        HTML(string=fetching).write_pdf()
    assert _render_memo.hits == hits + 1
    # A different stylesheet is a different layout.
    HTML(string=plain).write_pdf(stylesheets=[CSS(string="p { color: red }")])
    assert _render_memo.hits == hits + 1


@pytest.mark.real_renders
def test_a_marked_test_lays_out_every_time(_render_memo):
    from portal.library.rendering import pdf

    hits = _render_memo.hits
    plain = "<p>每次都排版</p>"
    HTML(string=plain).write_pdf()
    document = HTML(string=plain).write_pdf()
    pdf.page_png(document, 1, 300)
    pdf.page_png(document, 1, 300)
    assert _render_memo.hits == hits
