"""Templates are code written by marketing: none of it may escape the sandbox or fetch anything.

The detailed sandbox and fetcher tests live in tests/library/test_render_security.py; this corpus
replays the classic payloads through every way a template reaches the renderer (the service,
the staff upload form, the API), proves the marker file of a would-be command never appears,
and proves with a loopback HTTP server that counts every request (redirects included) that no
URL in a template is ever fetched: the count stays 0 while a control request counts 1.
"""

from __future__ import annotations

import base64
import http.server
import io
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from portal.delivery import services as delivery_services
from portal.extensions import db
from portal.library.bundle import TemplateBundle
from portal.library.models import TemplateVersion
from portal.library.rendering import (
    TemplateRenderError,
    render_html,
    render_version_pdf,
    sample_variables,
)
from portal.library.rendering.fetcher import (
    MAX_DATA_URL_CHARS,
    BundleURLFetcher,
    RefusedURL,
)
from portal.library.rendering.service import render_source_preview
from tests.delivery.helpers import make_customer, make_delivery, make_template
from tests.threaded_servers import serve_in_thread, stop_serving

SSTI = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__()[132].__init__.__globals__['popen']('id') }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('touch MARKER').read() }}",
    "{{ lipsum.__globals__['os'].popen('touch MARKER').read() }}",
    "{{ lipsum.__globals__.__builtins__.__import__('os').system('touch MARKER') }}",
    "{{ config }}",
    "{{ config.__class__.__init__.__globals__['os'].popen('touch MARKER') }}",
    "{{ request }}",
    "{{ request.application.__globals__.__builtins__.__import__('os').system('touch MARKER') }}",
    "{{ self }}{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.system('touch MARKER') }}",
    "{{ url_for.__globals__ }}",
    "{{ get_flashed_messages.__globals__ }}",
    "{{ '{0.__class__}'.format(customer) }}",
    "{{ '{0.__class__.__init__.__globals__}'.format(customer) }}",
    "{{ '%s'.format_map({}) }}{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ (''|attr('\\x5f\\x5fclass\\x5f\\x5f')) }}",
    "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "{{ customer|attr('__dict__') }}",
    "{{ customer.__class__.__base__.__subclasses__() }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{% if c.__name__ == 'Popen' %}"
    "{{ c(['touch', 'MARKER']) }}{% endif %}{% endfor %}",
    "{% set x = ''.__class__ %}{{ x }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% extends '../../../../etc/passwd' %}",
    "{% for i in range(10**9) %}x{% endfor %}",
    "{{ range(10**10)|list }}",
    "{{ 'x' * 10**10 }}",
    "{{ 9 ** (9 ** 9) }}",  # (Jinja reads 9**9**9 as (9**9)**9: small)
    "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
]


@pytest.mark.parametrize("payload", SSTI)
def test_sandbox_escapes_execute_nothing(payload, tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(TemplateRenderError) as excinfo:
        render_html(payload.replace("MARKER", str(marker)), sample_variables())
    assert "Traceback" not in excinfo.value.message
    assert not marker.exists()


def test_uploads_with_an_escape_are_refused_with_the_reason_and_store_nothing(
    app, client, make_user, api_headers, login
):
    marketing = make_user("marketing")
    headers = api_headers(marketing)
    login(marketing)
    for payload in SSTI[:8] + SSTI[-6:]:
        html = f"<p>{payload}</p>".encode()
        response = client.post(
            "/api/v1/templates",
            data={
                "file": (io.BytesIO(html), "x.html"),
                "name": "攻击",
                "kind": "quote",
                "changelog": "v1",
            },
            headers=headers,
        )
        assert response.status_code == 422, payload
        assert response.get_json()["error"]["message"].startswith("Template line 1: ")
        page = client.post(
            "/library/new",
            data={
                "file": (io.BytesIO(html), "x.html"),
                "name": "攻击",
                "kind": "quote",
                "changelog": "v1",
            },
        )
        assert page.status_code in (200, 400, 422), payload
        assert "Template line 1" in page.get_data(as_text=True) or "模板第 1 行" in page.get_data(
            as_text=True
        ), payload
    assert db.session.scalar(select(func.count()).select_from(TemplateVersion)) == 0


def test_customer_data_is_data_never_template_code(app, make_user):
    """Second-order injection: a customer named like a template renders as text."""
    marketing, rep = make_user("marketing"), make_user("rep")
    customer = make_customer(rep, name="{{ 7*7 }}{{ ''.__class__ }}", company="{% raw %}x")
    template = make_template(
        marketing,
        html="<p>客户 {{ customer.name }} / {{ customer.company }}</p>",
        content_tags="",
    )
    sent = make_delivery(rep, customer, template)
    db.session.commit()
    delivery = sent.delivery
    version = delivery_services.current_version(delivery)
    pdf = render_version_pdf(version, delivery_services.variables_for(delivery))
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    assert "{{ 7*7 }}" in text and "49" not in text
    assert "{% raw %}x" in text


# --- nothing is fetched --------------------------------------------------------------------


class CountingServer:
    """A loopback HTTP server counting every request; /redirect answers 302 to itself."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                hits.append(self.path)
                if self.path.startswith("/redirect"):
                    self.send_response(302)
                    self.send_header("Location", "/landed")
                    self.end_headers()
                    return
                body = b"body { color: red }"
                self.send_response(200)
                self.send_header("Content-Type", "text/css")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = serve_in_thread(self.server)

    def close(self) -> None:
        stop_serving(self.server, self.thread)


@pytest.fixture
def counting() -> Iterator[CountingServer]:
    server = CountingServer()
    yield server
    server.close()


def hostile_urls(port: int) -> list[str]:
    base = f"http://127.0.0.1:{port}"
    return [
        "file:///etc/passwd",
        "file:///proc/self/environ",
        f"{base}/plain.css",
        f"{base}/redirect",
        f"http://localhost:{port}/by-name.css",
        f"http://[::ffff:127.0.0.1]:{port}/v6-mapped.css",
        f"http://0x7f000001:{port}/hex.css",
        f"http://2130706433:{port}/decimal.css",
        f"//127.0.0.1:{port}/protocol-relative.css",
        f"https://bundle.portal.invalid@127.0.0.1:{port}/userinfo.css",
        f"http://127.0.0.1:{port}#@bundle.portal.invalid/fragment.css",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "https://example.com/tracker.png",
        "ftp://127.0.0.1/x",
        "gopher://127.0.0.1:6379/_INFO",
        "jar:file:///etc/passwd!/",
        "../../../../../../etc/passwd",
        "/etc/passwd",
    ]


def _page_with(urls: list[str]) -> str:
    parts = ["<html><head>"]
    for url in urls:
        parts.append(f'<link rel="stylesheet" href="{url}">')
        parts.append(f'<style>@import url("{url}"); .x {{ background: url("{url}") }}</style>')
    parts.append("</head><body><p class='x'>{{ customer.name }}</p>")
    for url in urls:
        parts.append(f'<img src="{url}"><object data="{url}"></object>')
        parts.append(f'<a rel="attachment" href="{url}">a</a>')
    parts.append("</body></html>")
    return "\n".join(parts)


def test_no_url_in_a_template_is_ever_fetched(counting):
    pdf = render_source_preview("html", _page_with(hostile_urls(counting.port)).encode())
    assert pdf.startswith(b"%PDF")
    assert counting.hits == []
    # The server does count: a request made on purpose is seen, redirect and all.
    with urllib.request.urlopen(f"http://127.0.0.1:{counting.port}/redirect", timeout=5):
        pass
    assert counting.hits == ["/redirect", "/landed"]


def test_the_fetcher_refuses_every_hostile_url_itself(counting):
    fetcher = BundleURLFetcher(TemplateBundle(html=""))
    for url in hostile_urls(counting.port):
        absolute = url if ":" in url.split("/")[0] else f"https://elsewhere.example/{url}"
        with pytest.raises(RefusedURL):
            fetcher.fetch(absolute)
    assert counting.hits == []


def test_a_huge_data_url_is_refused_and_a_small_one_still_works():
    fetcher = BundleURLFetcher(TemplateBundle(html=""))
    small = "data:text/css;base64," + base64.b64encode(b"p { color: red }").decode()
    assert fetcher.fetch(small).read() == b"p { color: red }"
    huge = "data:image/png;base64," + "A" * (MAX_DATA_URL_CHARS + 1)
    with pytest.raises(RefusedURL, match="too large"):
        fetcher.fetch(huge)
    html = f'<p>x</p><img src="{huge}">'
    pdf = render_source_preview("html", html.encode())  # renders, without the image
    assert pdf.startswith(b"%PDF") and len(pdf) < 200_000
