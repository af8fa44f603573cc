"""Rendering untrusted templates: sandbox escapes, resource bombs, file and network access."""

from __future__ import annotations

import contextlib
import io
import re
import socket
import subprocess
import threading
import time
import uuid
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from weasyprint.urls import URLFetcher

from portal.errors import ValidationFailed
from portal.library.bundle import TemplateBundle, load_bundle
from portal.library.rendering import (
    TemplateRenderError,
    html_to_pdf,
    page_count,
    render_html,
    render_source_preview,
    sample_variables,
)
from portal.library.rendering import sandbox as sandbox_module
from portal.library.rendering.fetcher import (
    BUNDLE_ORIGIN,
    BundleURLFetcher,
    MissingAsset,
    RefusedURL,
    bundle_base_url,
)

# The renderer's own tests time renders and watch its log: no layout memo (tests/render_memo.py).
pytestmark = pytest.mark.real_renders

PASSWD_MARKER = b"root:x:0:0"

# --- the Jinja sandbox ---------------------------------------------------------------------

ESCAPES = [
    ("{{ ''.__class__.__mro__ }}", "access to attribute '__class__' is not allowed"),
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "'__class__' is not allowed"),
    ("{{ ().__class__.__base__.__subclasses__() }}", "'__class__' is not allowed"),
    ("{{ self.__init__.__globals__ }}", "'__init__' is not allowed"),
    ("{{ lipsum.__globals__ }}", "'lipsum' is undefined"),
    ("{{ cycler.__init__.__globals__ }}", "'__init__' is not allowed"),
    ("{{ joiner.__init__.__globals__.__builtins__ }}", "'__init__' is not allowed"),
    ("{{ namespace.__init__.__globals__ }}", "'__init__' is not allowed"),
    ("{{ config }}", "'config' is undefined"),
    ("{{ config.items() }}", "'config' is undefined"),
    ("{{ request }}", "'request' is undefined"),
    ("{{ request.environ }}", "'request' is undefined"),
    ("{{ ''|attr('__class__') }}", "'__class__' is not allowed"),
    ("{{ ''['__class__'] }}", "'__class__' is not allowed"),
    ("{{ '{0.__class__}'.format('') }}", "'__class__' is not allowed"),
    ("{{ dict.mro() }}", "'mro' is not allowed"),
    ("{{ range.__globals__ }}", "'__globals__' is not allowed"),
    ("{{ customer.update({'name': 'x'}) }}", "'update' is not allowed"),
    ("{% set l = [] %}{{ l.append(1) }}", "'append' is not allowed"),
    ("{% include '/etc/passwd' %}", "include, import and extends are not supported"),
    ("{% extends 'file:///etc/passwd' %}", "include, import and extends are not supported"),
    ("{% import 'os' as os %}{{ os }}", "include, import and extends are not supported"),
]


@pytest.mark.parametrize(("source", "message"), ESCAPES)
def test_sandbox_escapes_fail_with_a_clear_message(source, message):
    with pytest.raises(TemplateRenderError) as excinfo:
        render_html(source, sample_variables())
    error = excinfo.value
    assert isinstance(error, ValidationFailed) and error.status == 422
    assert error.message.startswith("Template line 1: ")
    assert message in error.message
    assert "Traceback" not in error.message


@pytest.mark.parametrize(
    "payload",
    [
        "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
        "{{ joiner.__init__.__globals__.os.system('touch MARKER') }}",
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os"
        ".popen('touch MARKER') }}",
        "{{ ''.__class__.__mro__[1].__subclasses__()[0]('touch MARKER') }}",
        "{{ namespace.__init__.__globals__.__builtins__.exec("
        "\"__import__('os').system('touch MARKER')\") }}",
        "{% for c in [].__class__.__base__.__subclasses__() %}"
        "{% if c.__name__ == 'Popen' %}{{ c(['touch', 'MARKER']) }}{% endif %}{% endfor %}",
    ],
)
def test_code_execution_payloads_execute_nothing(payload, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(TemplateRenderError, match="not allowed"):
        render_html(payload.replace("MARKER", str(marker)), sample_variables())
    assert not marker.exists()


def test_a_sandbox_error_names_the_line():
    source = "<p>{{ customer.name }}</p>\n<p>\n{{ ''.__class__ }}</p>"
    with pytest.raises(TemplateRenderError) as excinfo:
        render_html(source, sample_variables())
    assert (
        excinfo.value.message == "Template line 3: access to attribute '__class__' is not allowed"
    )
    assert excinfo.value.lineno == 3

    with pytest.raises(TemplateRenderError, match=r"^Template line 4: "):
        render_html("a\nb\nc\n{% for x in %}", sample_variables())
    with pytest.raises(TemplateRenderError, match=r"^Template line 2: .*'nmae'"):
        render_html("{{ customer.name }}\n{{ customer.nmae }}", sample_variables())
    with pytest.raises(TemplateRenderError, match=r"^Template line 1: ZeroDivisionError"):
        render_html("{{ 1 // 0 }}", {})


BOMBS = [
    ("{% for i in range(10**9) %}x{% endfor %}", "Range too big"),
    ("{{ range(10**10)|list }}", "Range too big"),
    ("{{ 'x' * 10**10 }}", "larger than 1,000,000"),
    ("{{ 10**10 * 'x' }}", "larger than 1,000,000"),
    ("{{ 'x' * 100000 * 100000 }}", "larger than 1,000,000"),
    ("{{ ['x'] * 10**9 }}", "larger than 1,000,000"),
    ("{{ ['x' * 100000] * 100000 }}", "larger than 1,000,000"),
    ("{{ 2 ** 100000000 }}", "too large"),
    ("{{ 3 * 2000000 * 1000 }}{{ (10 ** 300) * (10 ** 300) }}", None),
    (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "larger than 1,000,000",
    ),
    (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "larger than 1,000,000",
    ),
    (
        "{% set ns = namespace(n=3) %}{% for i in range(64) %}"
        "{% set ns.n = ns.n * ns.n %}{% endfor %}",
        "larger than 4096 bits",
    ),
    ("{{ 'x'|center(10**9) }}", "too large"),
    ("{{ 'x'.ljust(10**9) }}", "too large"),
    ("{{ 'x'.zfill(10**9) }}", "too large"),
    ("{{ ('a\t' * 1000).expandtabs(10**6) }}", "larger than 1,000,000"),
    ("{{ '%999999999s'|format('x') }}", "too large"),
    ("{{ '%999999999s' % 'x' }}", "too large"),
    ("{{ '%*s' % (999999999, 'x') }}", "not allowed"),
    ("{{ '{:>999999999}'.format('x') }}", "too large"),
    ("{{ '{:>{w}}'.format('x', w=999999999) }}", "not allowed"),
    ("{{ range(100000)|join('x' * 100000) }}", "larger than 1,000,000"),
    ("{{ ('x' * 100000).join(range(100000)|map('string')) }}", "larger than 1,000,000"),
    ("{{ ('x' * 100000)|replace('x', 'y' * 1000) }}", "larger than 1,000,000"),
    ("{{ ('x' * 100000).replace('x', 'y' * 1000) }}", "larger than 1,000,000"),
    ("{{ ('x\n' * 1000)|indent(10**6) }}", "larger than 1,000,000"),
    ("{{ [1]|batch(10**9, 0)|list }}", "too large"),
    ("{{ [1]|slice(10**9)|list }}", "too large"),
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "too much work",
    ),
    (
        "{% for i in 'x' * 1000000 %}{% for j in 'x' * 1000000 %}{% endfor %}{% endfor %}",
        "too much work",
    ),
    ("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}", "larger than 5,000,000"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "calls itself too deeply"),
]


@pytest.mark.parametrize(("source", "message"), BOMBS)
def test_resource_bombs_fail_fast_and_cleanly(source, message):
    if message is None:  # big numbers are fine, only huge ones are not
        assert render_html(source, {}).startswith("6000000000" + "1" + "0" * 600)
        return
    with pytest.raises(TemplateRenderError) as excinfo:
        render_html(source, sample_variables())
    assert message in excinfo.value.message


def test_a_slow_template_is_stopped_by_the_time_limit(monkeypatch):
    monkeypatch.setattr(sandbox_module, "TIME_LIMIT_SECONDS", 0.3)
    exponential = (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}"
    )
    with pytest.raises(TemplateRenderError, match=r"longer than 0\.3 seconds"):
        render_html(exponential, {})


def test_ordinary_templates_still_work():
    source = """{% set ns = namespace(total=0) %}
{%- for item in items if item.qty -%}
{% set ns.total = ns.total + item.qty * item.price %}{{ loop.index }}. {{ item.name|upper }}
{%- endfor %} {{ '%.2f'|format(ns.total) }} {{ '{:>6}'.format('ok') }} {{ 'ab' * 3 }}
{{ items|map(attribute='name')|join(', ') }} {{ (items|batch(2)|list)|length }} {{ 2 ** 10 }}
{{ '-' * 20 }} {{ customer.name ~ '先生' }} {{ 'x'|center(9) }}|"""
    items = [
        {"name": "a", "qty": 2, "price": 1.5},
        {"name": "b", "qty": 0, "price": 9},
        {"name": "c", "qty": 1, "price": 10},
    ]
    html = render_html(source, {**sample_variables(), "items": items})
    assert "1. A" in html and "2. C" in html and "13.00" in html and "    ok" in html
    assert "ababab" in html and "a, b, c" in html and " 2 " in html and "1024" in html
    assert "-" * 20 in html and "张伟先生" in html and "    x    |" in html


# --- files and the network -----------------------------------------------------------------


class Listener:
    """A TCP server on a free loopback port that records every connection it accepts."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.connections: list[tuple[str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, address = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(address)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, bytes]:
    marker = f"PORTAL-SECRET-{uuid.uuid4().hex}".encode()
    path = tmp_path / "secret.txt"
    path.write_bytes(marker + b"\n")
    return path, marker


@contextlib.contextmanager
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Record any Python-level connection attempt or DNS lookup inside the block."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self, address):
        attempts.append(address)
        return real_connect(self, address)

    def getaddrinfo(*args, **kwargs):
        attempts.append(args)
        return real_getaddrinfo(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)
        yield attempts


def decompressed_streams(pdf: bytes) -> list[bytes]:
    streams = []
    for raw in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            streams.append(zlib.decompress(raw))
        except zlib.error:
            streams.append(raw)
    return streams


def assert_leaks_nothing(pdf: bytes, markers: list[bytes], tmp_path: Path) -> None:
    assert pdf.startswith(b"%PDF") and page_count(pdf) >= 1
    everything = [pdf, *decompressed_streams(pdf)]
    for marker in markers:
        assert not any(marker in blob for blob in everything), marker
    assert b"/EmbeddedFile" not in pdf and b"/FileAttachment" not in pdf
    assert b"/EmbeddedFiles" not in pdf
    document = pdfium.PdfDocument(pdf)
    try:
        assert document.count_attachments() == 0
        text = "".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
    path = tmp_path / "rendered.pdf"
    path.write_bytes(pdf)
    poppler_text = subprocess.run(
        ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    for marker in markers:
        assert marker.decode() not in text and marker.decode() not in poppler_text
    detach = subprocess.run(["pdfdetach", "-list", str(path)], capture_output=True, text=True)
    if detach.returncode == 0:  # poppler-utils ships pdfdetach too
        assert detach.stdout.startswith("0 embedded files")


def hostile_html(urls: list[str]) -> str:
    parts = ["<html><head>"]
    for url in urls:
        parts += [
            f'<link rel="stylesheet" href="{url}">',
            f'<link rel="attachment" href="{url}" title="x">',
            f'<style>@import url("{url}");</style>',
        ]
    parts.append("<style>")
    for i, url in enumerate(urls):
        parts += [
            f'@font-face {{ font-family: leak{i}; src: url("{url}"); }}',
            f'.bg{i} {{ background: url("{url}"); height: 10px; font-family: leak{i}; }}',
            f'.bg{i}::after {{ content: url("{url}"); }}',
        ]
    parts.append("</style></head><body><p>报价单 {{ customer.name }}</p>")
    for i, url in enumerate(urls):
        parts += [
            f'<img src="{url}">',
            f'<a rel="attachment" href="{url}">附件{i}</a>',
            f'<object data="{url}"></object><embed src="{url}">',
            f'<div class="bg{i}">x</div>',
            f'<svg width="10" height="10"><image href="{url}" width="10" height="10"/></svg>',
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def test_file_and_network_urls_are_refused(tmp_path, secret, listener, monkeypatch):
    secret_path, marker = secret
    base = f"http://127.0.0.1:{listener.port}"
    urls = [
        "file:///etc/passwd",
        secret_path.as_uri(),
        f"{base}/",
        f"{base}/logo.png",
        f"{base}/style.css",
        f"https://127.0.0.1:{listener.port}/x.png",
        f"//127.0.0.1:{listener.port}/protocol-relative.png",
        "ftp://127.0.0.1/x",
        "/etc/passwd",
        "../../../../../../etc/passwd",
    ]
    with no_sockets(monkeypatch) as attempts:
        pdf = render_source_preview("html", hostile_html(urls).encode())
    time.sleep(0.2)
    assert listener.connections == []
    assert attempts == []

    assert (
        "张伟"
        in subprocess.run(
            ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
        ).stdout.decode()
    )
    assert_leaks_nothing(pdf, [marker, PASSWD_MARKER], tmp_path)

    # The listener does record connections: the assertion above means something.
    with socket.create_connection(("127.0.0.1", listener.port), timeout=2):
        pass
    deadline = time.monotonic() + 2
    while not listener.connections and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(listener.connections) == 1


def test_a_base_element_cannot_point_into_the_filesystem(tmp_path, secret):
    secret_path, marker = secret
    html = f"""<html><head><base href="{secret_path.parent.as_uri()}/">
      <link rel="attachment" href="secret.txt"><link rel="stylesheet" href="secret.txt">
      </head><body><img src="secret.txt"><a rel="attachment" href="secret.txt">附件</a>
      <p>正文</p></body></html>"""
    pdf = html_to_pdf(html, TemplateBundle(html=html))
    assert_leaks_nothing(pdf, [marker], tmp_path)


def test_a_zip_bundle_cannot_reach_outside_itself(tmp_path, secret):
    _secret_path, marker = secret  # tmp_path/secret.txt, next to the bundle's folder
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "secret.txt").write_bytes(marker)
    index = """<html><head>
      <link rel="stylesheet" href="../shared/brand.css">
      <link rel="stylesheet" href="../../secret.txt">
      <link rel="attachment" href="../secret.txt">
      <link rel="attachment" href="../../secret.txt">
      </head><body>
      <p class="brand">方案</p>
      <img src="../secret.txt"><img src="../../secret.txt"><img src="../../../etc/passwd">
      <img src="%2e%2e/%2e%2e/secret.txt"><img src="..%2f..%2fsecret.txt">
      <a rel="attachment" href="../../bundle/secret.txt">附件</a>
      </body></html>"""
    data = zipfile_bytes(
        {
            "site/index.html": index,
            "shared/brand.css": '.brand::before { content: "品牌样式 "; }',
        }
    )
    zip_path = tmp_path / "bundle" / "template.zip"
    zip_path.write_bytes(data)

    pdf = render_source_preview("zip", zip_path.read_bytes())
    # '..' inside the bundle is fine: site/ -> shared/brand.css was applied
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "品牌样式 方案" in text
    assert_leaks_nothing(pdf, [marker, PASSWD_MARKER], tmp_path)


def zipfile_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


# --- the fetcher itself --------------------------------------------------------------------


def test_fetcher_serves_bundle_files_and_data_urls_only(listener):
    bundle = load_bundle(
        "zip",
        zipfile_bytes(
            {"site/index.html": "<p>x</p>", "site/css/a.css": "p{}", "site/图/标志.svg": "<svg/>"}
        ),
    )
    fetcher = BundleURLFetcher(bundle)
    assert isinstance(fetcher, URLFetcher)
    base = bundle_base_url(bundle)
    assert base == BUNDLE_ORIGIN + "site/"

    css = fetcher.fetch(base + "css/a.css")
    assert css.read() == b"p{}" and css.content_type == "text/css"
    svg = fetcher.fetch(BUNDLE_ORIGIN + "site/%E5%9B%BE/%E6%A0%87%E5%BF%97.svg?v=2#x")
    assert svg.read() == b"<svg/>" and svg.content_type == "image/svg+xml"
    data = fetcher.fetch("data:text/plain;base64,5oql5Lu3")
    assert data.read() == "报价".encode() and data.content_type == "text/plain"
    assert fetcher("data:,hello").read() == b"hello"  # WeasyPrint calls the fetcher itself

    refused = [
        "file:///etc/passwd",
        "FILE:///etc/passwd",
        f"http://127.0.0.1:{listener.port}/",
        f"https://127.0.0.1:{listener.port}/",
        "https://example.com/site/css/a.css",
        "http://bundle.portal.invalid/site/css/a.css",
        f"https://bundle.portal.invalid@127.0.0.1:{listener.port}/site/css/a.css",
        "https://bundle.portal.invalid:443/site/css/a.css",
        "ftp://bundle.portal.invalid/site/css/a.css",
        "gopher://127.0.0.1/",
    ]
    for url in refused:
        with pytest.raises(RefusedURL):
            fetcher.fetch(url)
    missing = [
        BUNDLE_ORIGIN + "../../etc/passwd",
        BUNDLE_ORIGIN + "%2e%2e/%2e%2e/etc/passwd",
        BUNDLE_ORIGIN + "site/../../etc/passwd",
        BUNDLE_ORIGIN + "etc/passwd",
        BUNDLE_ORIGIN,
        base + "nope.css",
    ]
    for url in missing:
        with pytest.raises(MissingAsset):
            fetcher.fetch(url)
    # The urllib side of URLFetcher is disarmed too: no handlers, nothing to open with.
    assert fetcher.handlers == []
    with pytest.raises(RefusedURL):
        fetcher.open("file:///etc/passwd")
    assert len(fetcher.refused) == len(refused) + 1
    time.sleep(0.1)
    assert listener.connections == []
