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
    hits = _render_memo.hits
    plain = "<p>每次都排版</p>"
    HTML(string=plain).write_pdf()
    HTML(string=plain).write_pdf()
    assert _render_memo.hits == hits
