"""Rendering: Chinese PDFs with embedded CJK fonts, bundle assets, variables, and the cache."""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import subprocess
import time
import zipfile
from datetime import date
from types import SimpleNamespace

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
import weasyprint
from PIL import Image

from portal.accounts.models import User
from portal.extensions import db
from portal.library import rendering
from portal.library.bundle import TemplateBundle, load_bundle
from portal.library.models import Template, TemplateVersion
from portal.library.rendering import (
    TemplateRenderError,
    customer_variables,
    html_to_pdf,
    page_count,
    page_png,
    pdf_cache_key,
    png_cache_key,
    render_html,
    render_source_preview,
    render_version_page_png,
    render_version_pdf,
    sample_variables,
    variables_hash,
)
from portal.library.rendering import pdf as pdf_module
from portal.library.storage import get_storage

# The renderer's own tests time renders and watch its log: no layout memo (tests/render_memo.py).
pytestmark = pytest.mark.real_renders

QUOTE_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>报价单</title>
<style>
  body { font-family: "Microsoft YaHei", "PingFang SC", Arial, sans-serif; font-size: 11pt; }
  table { border-collapse: collapse; width: 100%; }
  td, th { border: 1px solid #999; padding: 4px; }
  .total { font-weight: bold; }
</style></head>
<body>
  <h1>报价单</h1>
  <p>客户：{{ customer.company }} {{ customer.name }}（{{ customer.title }}）</p>
  <p>日期：{{ today_cn }}　销售代表：{{ rep.name }}</p>
  <table>
    <tr><th>项目</th><th>数量</th><th>单价</th><th>金额</th></tr>
    {% for item in items %}
    <tr><td>{{ item.name }}</td><td>{{ item.qty }}</td>
        <td>¥{{ "%.2f"|format(item.price) }}</td>
        <td>¥{{ "%.2f"|format(item.qty * item.price) }}</td></tr>
    {% endfor %}
  </table>
  <p class="total">合计 ¥{{ "%.2f"|format(items|sum(attribute="total")) }}</p>
  <p style="font-family: serif">备注：报价有效期三十天。</p>
</body></html>
"""

ITEMS = [
    {"name": "数控机床维护服务", "qty": 2, "price": 12800.0, "total": 25600.0},
    {"name": "精密主轴更换", "qty": 1, "price": 4500.5, "total": 4500.5},
]


def quote_variables() -> dict:
    return {**sample_variables(date(2026, 11, 28)), "items": ITEMS}


def pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    try:
        return "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()


def poppler(tool: str, pdf: bytes, tmp_path) -> str:
    path = tmp_path / f"{tool}.pdf"
    path.write_bytes(pdf)
    args = [tool, str(path)] + (["-"] if tool == "pdftotext" else [])
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


def make_zip(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content.encode() if isinstance(content, str) else content)
    return buffer.getvalue()


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (40, 20)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def image_objects(pdf: bytes) -> int:
    document = pdfium.PdfDocument(pdf)
    try:
        return sum(
            len(list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=5)))
            for page in document
        )
    finally:
        document.close()


# --- Chinese quote -------------------------------------------------------------------------


def test_chinese_quote_embeds_a_cjk_font_and_keeps_the_text(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="weasyprint")
    caplog.set_level(logging.DEBUG, logger="fontTools")
    html = render_html(QUOTE_HTML, quote_variables())

    latin = "<html><body><h1>Quote</h1><p>Total: 100,000</p></body></html>"
    html_to_pdf(latin, TemplateBundle(html=latin))  # warm-up: WeasyPrint, fontconfig
    started = time.perf_counter()
    html_to_pdf(latin, TemplateBundle(html=latin))
    baseline = time.perf_counter() - started
    started = time.perf_counter()
    pdf = html_to_pdf(html, TemplateBundle(html=html))
    elapsed = time.perf_counter() - started

    assert pdf.startswith(b"%PDF")
    # A ratio to a render measured in the same run, never an absolute time. Without
    # libharfbuzz-subset0 the CJK font subsetting alone makes this ~60x the baseline.
    assert elapsed < 20 * baseline, (
        f"a one-page Chinese quote took {elapsed:.2f} s, {elapsed / baseline:.0f}x a Latin page "
        "(is libharfbuzz-subset0 installed?)"
    )

    fonts = poppler("pdffonts", pdf, tmp_path).splitlines()[2:]
    cjk = [line for line in fonts if re.search(r"Noto.*CJK", line)]
    assert cjk, fonts
    for line in fonts:  # every font embedded (emb column = yes), CJK ones as subsets
        name, *_rest = line.split()
        assert re.search(r"\byes\s+yes\s+yes\b", line), line
        assert re.match(r"[A-Z]{6}\+", name), line
    assert any("Noto-Sans-CJK-SC" in line for line in cjk), cjk
    assert any("Noto-Serif-CJK-SC" in line for line in cjk), cjk  # serif falls back to CJK SC

    text = poppler("pdftotext", pdf, tmp_path)
    for expected in ("报价单", "华东精密制造有限公司", "张伟", "采购总监", "2026年11月28日"):
        assert expected in text
    assert "数控机床维护服务" in text
    assert "合计 ¥30100.50" in text
    assert "报价有效期三十天" in text
    assert "报价单" in pdf_text(pdf)

    complaints = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING
        and re.search(r"notdef|missing glyph|glyph.*missing", r.getMessage(), re.I)
    ]
    assert complaints == []


def test_page_count_and_page_png(tmp_path):
    html = (
        "<style>@page { size: A4; margin: 0 } .black { background: #000; height: 290mm }</style>"
        "<p style='break-after: page'>第一页</p><div class='black'>第二页</div>"
    )
    pdf = html_to_pdf(html, TemplateBundle(html=html))
    assert page_count(pdf) == 2

    first, second = page_png(pdf, 1), page_png(pdf, 2)
    for png in (first, second):
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image_1, image_2 = Image.open(io.BytesIO(first)), Image.open(io.BytesIO(second))
    assert image_1.size[0] == 1000
    assert abs(image_1.size[1] - 1000 * 297 / 210) <= 1
    # page 1 is mostly white, page 2 is a black box
    assert image_1.convert("L").getpixel((500, 700)) > 200
    assert image_2.convert("L").getpixel((500, 700)) < 50
    assert Image.open(io.BytesIO(page_png(pdf, 1, width=300))).size[0] == 300

    for page in (0, 3, -1):
        with pytest.raises(ValueError):
            page_png(pdf, page)
    with pytest.raises(ValueError):
        page_count(b"not a pdf")


# --- bundles -------------------------------------------------------------------------------


def test_zip_bundle_uses_its_own_css_and_images():
    index = """<html><head><link rel="stylesheet" href="css/style.css"></head><body>
      <h1 class="title">方案介绍</h1>
      <img src="img/logo.png" alt="logo">
      <div class="banner">横幅</div>
      <img src="img/标志.png" alt="标志">
    </body></html>"""
    style = """
      .title::before { content: "样式已加载 "; }
      .title { color: rgb(200, 0, 0); font-size: 30pt; }
      .banner { background: url(../img/bg.png); width: 100px; height: 50px; }
    """
    data = make_zip(
        {
            "site/index.html": index,
            "site/css/style.css": style,
            "site/img/logo.png": png_bytes((255, 0, 0)),
            "site/img/bg.png": png_bytes((0, 0, 255)),
            "site/img/标志.png": png_bytes((0, 255, 0)),
        }
    )
    bundle = load_bundle("zip", data)
    assert bundle.entry == "site/index.html"
    pdf = html_to_pdf(render_html(bundle.html, sample_variables()), bundle)

    assert "样式已加载 方案介绍" in pdf_text(pdf)  # the CSS file was fetched and applied
    assert image_objects(pdf) == 2  # the logo and the non-ASCII file name (<img>)

    png = Image.open(io.BytesIO(page_png(pdf, 1))).convert("RGB")
    colors = {color for _count, color in png.getcolors(maxcolors=1_000_000)}
    assert (255, 0, 0) in colors  # the red logo
    assert (0, 255, 0) in colors  # the green 标志
    assert (0, 0, 255) in colors  # the blue background, a URL relative to the CSS file


def test_without_its_assets_the_same_page_has_no_images():
    """The converse of the test above: the assets really come from the bundle."""
    html = '<img src="img/logo.png"><p class="title">x</p>'
    assert image_objects(html_to_pdf(html, TemplateBundle(html=html))) == 0
    with_logo = TemplateBundle(html=html, files={"img/logo.png": png_bytes((255, 0, 0))})
    assert image_objects(html_to_pdf(html, with_logo)) == 1


def test_data_urls_are_served():
    pixel = png_bytes((0, 0, 0), (2, 2))
    html = f'<img src="data:image/png;base64,{base64.b64encode(pixel).decode()}">'
    assert image_objects(html_to_pdf(html, TemplateBundle(html=html))) == 1


# --- variables -----------------------------------------------------------------------------


def test_customer_variables_are_plain_strings():
    customer = SimpleNamespace(
        name="王芳",
        company="深圳星海电子有限公司",
        title="总经理",
        email="wang.fang@example.com",
        phone=None,
        industry="电子",
        region=None,
        owner=object(),
    )
    rep = SimpleNamespace(
        name="陈强", email="chen@example.com", team="华南一部", region="华南", password_hash="x"
    )
    variables = customer_variables(customer, rep, today=date(2026, 1, 5))
    assert variables == {
        "customer": {
            "name": "王芳",
            "company": "深圳星海电子有限公司",
            "title": "总经理",
            "email": "wang.fang@example.com",
            "phone": "",
            "industry": "电子",
            "region": "",
        },
        "rep": {"name": "陈强", "email": "chen@example.com", "team": "华南一部", "region": "华南"},
        "today": "2026-01-05",
        "today_cn": "2026年1月5日",
    }
    assert render_html("{{ customer.phone }}|{{ rep.name }}", variables) == "|陈强"


def test_sample_variables():
    variables = sample_variables(date(2026, 11, 28))
    assert variables["customer"]["name"] == "张伟"
    assert variables["customer"]["company"] == "华东精密制造有限公司"
    assert variables["customer"]["title"] == "采购总监"
    assert variables["today"] == "2026-11-28"
    assert variables["today_cn"] == "2026年11月28日"
    assert set(variables["rep"]) == {"name", "email", "team", "region"}
    assert sample_variables()["today"] == date.today().isoformat()


def test_variables_hash_is_canonical():
    a = {"customer": {"name": "张伟", "company": "华东"}, "today": "2026-11-28"}
    b = {"today": "2026-11-28", "customer": {"company": "华东", "name": "张伟"}}
    assert variables_hash(a) == variables_hash(b)
    assert re.fullmatch(r"[0-9a-f]{64}", variables_hash(a))
    expected = hashlib.sha256(
        '{"customer":{"company":"华东","name":"张伟"},"today":"2026-11-28"}'.encode()
    ).hexdigest()
    assert variables_hash(a) == expected
    assert variables_hash(a) != variables_hash({**a, "today": "2026-11-29"})


def test_variables_are_escaped_and_never_evaluated():
    variables = {"customer": {"name": "<script>alert(1)</script>{{ 7*7 }}"}}
    html = render_html("<p>{{ customer.name }}</p>", variables)
    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}</p>"


# --- the service and its cache -------------------------------------------------------------


@pytest.fixture
def count_weasyprint(monkeypatch):
    calls: list[int] = []
    original = weasyprint.HTML.write_pdf

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(weasyprint.HTML, "write_pdf", counting)
    return calls


def make_version(source_type: str, data: bytes, number: int = 1) -> TemplateVersion:
    author = db.session.scalar(db.select(User).filter_by(email="mkt@example.com"))
    if author is None:
        author = User(email="mkt@example.com", name="市场部", password_hash="x", role="marketing")
        db.session.add(author)
        db.session.flush()
    template = Template(
        name="报价单", kind="quote", format="pdf" if source_type == "pdf" else "html"
    )
    template.created_by_id = author.id
    db.session.add(template)
    db.session.flush()
    sha = hashlib.sha256(data).hexdigest()
    key = f"templates/{template.id}/v{number}/source.{source_type}"
    get_storage().put(key, data)
    version = TemplateVersion(
        template_id=template.id,
        number=number,
        source_type=source_type,
        storage_key=key,
        sha256=sha,
        size=len(data),
        changelog="第一版",
        author_id=author.id,
    )
    db.session.add(version)
    db.session.commit()
    return version


def two_page_quote() -> bytes:
    return (
        QUOTE_HTML.replace(
            "</body>", "<p style='break-before: page'>第二页 {{ rep.email }}</p></body>"
        )
    ).encode()


def test_render_version_pdf_is_cached(app, count_weasyprint, monkeypatch):
    version = make_version("html", two_page_quote())
    variables = quote_variables()

    first = render_version_pdf(version, variables)
    assert count_weasyprint == [1]
    assert "张伟" in pdf_text(first)
    key = pdf_cache_key(version, variables)
    assert key == f"renders/{version.sha256}/{variables_hash(variables)}.pdf"
    assert get_storage().get(key) == first

    # the hit path never reaches WeasyPrint, nor html_to_pdf
    def no_render(*args, **kwargs):
        raise AssertionError("rendered again")

    original = pdf_module.html_to_pdf
    monkeypatch.setattr(pdf_module, "html_to_pdf", no_render)
    assert render_version_pdf(version, variables) == first
    assert render_version_pdf(version, quote_variables()) == first  # equal, not identical
    assert count_weasyprint == [1]
    monkeypatch.setattr(pdf_module, "html_to_pdf", original)

    other = {
        **variables,
        "customer": {**variables["customer"], "name": "刘洋", "company": "北方重工集团"},
    }
    second = render_version_pdf(version, other)
    assert "刘洋" in pdf_text(second) and "张伟" not in pdf_text(second)
    assert get_storage().exists(pdf_cache_key(version, other))
    assert pdf_cache_key(version, other) != key


def test_render_version_pdf_counts_weasyprint_calls(app, count_weasyprint):
    version = make_version("html", two_page_quote())
    a = quote_variables()
    b = {**a, "today": "2026-12-01", "today_cn": "2026年12月1日"}
    render_version_pdf(version, a)
    render_version_pdf(version, a)
    assert len(count_weasyprint) == 1
    render_version_pdf(version, b)
    render_version_pdf(version, b)
    render_version_pdf(version, a)
    assert len(count_weasyprint) == 2


def test_page_pngs_are_cached_per_page(app, count_weasyprint, monkeypatch):
    version = make_version("html", two_page_quote())
    variables = quote_variables()

    page_2 = render_version_page_png(version, variables, 2)
    assert page_2.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(page_2)).size[0] == 1000
    key = png_cache_key(version, variables, 2)
    assert key == f"renders/{version.sha256}/{variables_hash(variables)}/page-2.png"
    assert get_storage().get(key) == page_2
    assert len(count_weasyprint) == 1

    page_1 = render_version_page_png(version, variables, 1)  # the PDF comes from the cache
    assert len(count_weasyprint) == 1
    assert page_1 != page_2
    pdf = render_version_pdf(version, variables)
    assert page_1 == page_png(pdf, 1) and page_2 == page_png(pdf, 2)

    for page in (0, 3, -1):
        with pytest.raises(ValueError):
            render_version_page_png(version, variables, page)
    assert not get_storage().exists(png_cache_key(version, variables, 3))

    calls: list[int] = []
    monkeypatch.setattr(pdf_module, "page_png", lambda *a, **k: calls.append(1) or b"")
    assert render_version_page_png(version, variables, 2) == page_2
    assert calls == []


def test_pdf_versions_are_served_as_uploaded(app, count_weasyprint):
    html = "<p>上传的PDF</p>"
    uploaded = html_to_pdf(html, TemplateBundle(html=html))
    count_weasyprint.clear()
    version = make_version("pdf", uploaded)

    assert render_version_pdf(version, quote_variables()) == uploaded
    assert render_version_pdf(version, {"other": "variables"}) == uploaded
    png = render_version_page_png(version, quote_variables(), 1)
    assert png == render_version_page_png(version, {"other": "variables"}, 1)
    assert png.startswith(b"\x89PNG")
    assert count_weasyprint == []
    assert not any(k.endswith(".pdf") for k in get_storage().list("renders/"))


def test_zip_versions_render_with_assets(app):
    index = '<link rel="stylesheet" href="s.css"><p class="c">{{ customer.name }}</p>'
    data = make_zip({"index.html": index, "s.css": '.c::after { content: " 已加载"; }'})
    version = make_version("zip", data)
    assert "张伟 已加载" in pdf_text(render_version_pdf(version, sample_variables()))


def test_a_broken_stored_template_raises_template_render_error(app):
    version = make_version("html", b"<p>{{ customer.nmae }}</p>")
    with pytest.raises(TemplateRenderError, match="nmae"):
        render_version_pdf(version, sample_variables())
    assert get_storage().list("renders/") == []


def test_render_source_preview():
    pdf = render_source_preview("html", b"<h1>{{ customer.company }}</h1>")
    assert "华东精密制造有限公司" in pdf_text(pdf)
    assert page_count(pdf) == 1

    zipped = make_zip({"deck/index.html": "<p>{{ rep.name }}</p>"})
    assert "李娜" in pdf_text(render_source_preview("zip", zipped))

    assert render_source_preview("pdf", pdf) == pdf

    with pytest.raises(TemplateRenderError, match=r"^Template line 2: .*undefined"):
        render_source_preview("html", b"<p>ok</p>\n{{ nope }}")
    with pytest.raises(TemplateRenderError, match="line 1"):
        render_source_preview("html", b"{% for %}")
    with pytest.raises(TemplateRenderError, match="UTF-8"):
        render_source_preview("html", "<p>报价</p>".encode("gbk"))
    with pytest.raises(TemplateRenderError):
        render_source_preview("zip", b"not a zip")
    with pytest.raises(TemplateRenderError, match=r"index\.html"):
        render_source_preview("zip", make_zip({"a.css": "p{}", "b.txt": "x"}))
    with pytest.raises(TemplateRenderError, match="PDF"):
        render_source_preview("pdf", b"%PDF-1.7 garbage")


def test_package_exports_lazily():
    assert rendering.html_to_pdf is html_to_pdf
    assert rendering.page_count is page_count
    with pytest.raises(AttributeError):
        _ = rendering.no_such_name
