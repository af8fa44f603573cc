"""Security headers on every page, cookies, HTTPS, and templates the CSP can keep.

Every GET route of the URL map is requested (staff pages signed in as the owner of the objects,
customer pages with their tokens): every HTML answer carries a CSP with no inline script or
style (a per-response nonce for the few computed styles), frame-ancestors 'none', nosniff; the
customer pages also `Referrer-Policy: no-referrer` (their URLs are the customer's key).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.security_headers import HSTS
from tests.security.attack_support import (
    arena_fixture,  # noqa: F401  (the `arena` fixture)
    attack_fixture,  # noqa: F401  (the `attack` fixture)
    sign_in,
)
from tests.security.test_access import (
    all_routes,
    url_for_route,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# E-mail bodies are not web pages (no CSP applies; mail clients need inline styles).
NOT_WEB_PAGES = {"email"}


def directives(policy: str) -> dict[str, str]:
    return {
        part.strip().split(" ", 1)[0]: [*part.strip().split(" ", 1), ""][1]
        for part in policy.split(";")
        if part.strip()
    }


def check_html_response(response, where: str, problems: list[str]) -> None:
    policy = response.headers.get("Content-Security-Policy", "")
    rules = directives(policy)
    if "unsafe-inline" in policy or "unsafe-eval" in policy:
        problems.append(f"{where}: unsafe CSP {policy}")
    if rules.get("script-src") != "'self'":
        problems.append(f"{where}: script-src {rules.get('script-src')!r}")
    if rules.get("frame-ancestors") != "'none'" or rules.get("object-src") != "'none'":
        problems.append(f"{where}: framing/object rules missing in {policy!r}")
    if response.headers.get("X-Content-Type-Options") != "nosniff":
        problems.append(f"{where}: no nosniff")
    if response.headers.get("X-Frame-Options") != "DENY":
        problems.append(f"{where}: X-Frame-Options {response.headers.get('X-Frame-Options')}")
    html = response.get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", rules.get("style-src", ""))
    for tag in re.findall(r"<style\b[^>]*>", html):
        if not nonce or f'nonce="{nonce.group(1)}"' not in tag:
            problems.append(f"{where}: a <style> without this response's nonce: {tag}")
    for script in re.findall(r"<script\b[^>]*>", html):
        if "src=" not in script:
            problems.append(f"{where}: inline script {script}")
    if re.search(r"<[^>]+\sstyle=", html):
        problems.append(f"{where}: a style attribute (blocked by the CSP)")
    if re.search(r"<[^>]+\son[a-z]+\s*=", html):
        problems.append(f"{where}: an inline event handler")


def test_every_html_page_has_the_headers(attack, client, app):
    a = attack.a
    problems: list[str] = []
    seen = 0
    for signed_in in (a.rep, attack.admin, attack.marketing):
        sign_in(client, signed_in)
        for route in all_routes(app):
            if route.method != "GET" or route.is_api:
                continue
            token = getattr(a, route.token_kind) if route.token_kind else None
            response = client.get(url_for_route(route, attack, token=token))
            customer_page = route.token_kind and response.mimetype == "text/html"
            if customer_page and response.headers.get("Referrer-Policy") != "no-referrer":
                problems.append(f"{route}: customer page without no-referrer")
            if "attachment" in response.headers.get("Content-Disposition", ""):
                # someone's file (a template's HTML): downloaded; if shown, sandboxed
                policy = response.headers.get("Content-Security-Policy", "")
                if response.mimetype == "text/html" and "sandbox" not in policy:
                    problems.append(f"{route}: an HTML download without a sandbox CSP")
                continue
            if response.mimetype != "text/html":
                if response.headers.get("X-Content-Type-Options") != "nosniff":
                    problems.append(f"{route}: {response.mimetype} without nosniff")
                continue
            seen += 1
            check_html_response(response, f"{signed_in.role} {route}", problems)
        client.post("/logout")
    for url in ("/login", "/d/unknown-token", "/no-such-page"):  # signed out, and error pages
        check_html_response(client.get(url), url, problems)
    assert not problems, "\n".join(problems)
    assert seen > 30


def test_the_nonce_changes_with_every_response(attack, client):
    url = f"/d/{attack.a.doc_token}"
    nonces = {
        re.search(r"'nonce-([^']+)'", client.get(url).headers["Content-Security-Policy"]).group(1)
        for _ in range(5)
    }
    assert len(nonces) == 5


def test_json_and_files_have_their_own_headers(attack, client, api_headers):
    response = client.get("/api/v1/tasks", headers=api_headers(attack.a.rep))
    assert (
        response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    sign_in(client, attack.marketing)
    preview = client.get(f"/library/{attack.a.template.id}/preview.pdf")
    assert preview.status_code == 200 and preview.mimetype == "application/pdf"
    # shown in an <iframe> of the template page: framed by Portal itself only
    assert preview.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_templates_hold_no_inline_script_handler_or_style_attribute():
    problems = []
    for path in TEMPLATES.rglob("*.html"):
        if path.relative_to(TEMPLATES).parts[0] in NOT_WEB_PAGES:
            continue
        text = path.read_text()
        for script in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in script:
                problems.append(f"{path.name}: inline <script>")
        if re.search(r"\son[a-z]+\s*=", text):
            problems.append(f"{path.name}: inline event handler")
        if re.search(r"\sstyle\s*=", text):
            problems.append(f"{path.name}: style attribute")
        for style in re.findall(r"<style\b[^>]*>", text):
            if "csp_nonce()" not in style:
                problems.append(f"{path.name}: <style> without the nonce")
        if "javascript:" in text:
            problems.append(f"{path.name}: javascript: URL")
    assert problems == []


# --- cookies and HTTPS --------------------------------------------------------------------


def _cookie(response, name: str) -> str:
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no {name} cookie in {response.headers.getlist('Set-Cookie')}")


def _attrs(cookie: str) -> set[str]:
    return {part.strip().lower() for part in cookie.split(";")[1:]}


def _login(client, user, **kwargs):
    return client.post("/login", data={"email": user.email, "password": "password123"}, **kwargs)


def test_over_http_the_session_cookie_is_httponly_samesite_and_not_secure(client, make_user):
    response = _login(client, make_user("rep"))
    attributes = _attrs(_cookie(response, "session"))
    assert {"httponly", "samesite=lax"} <= attributes
    assert "secure" not in attributes  # it would never come back over http
    assert "Strict-Transport-Security" not in response.headers


@pytest.fixture
def https_base(app_config):
    return {**app_config, "BASE_URL": "https://portal.example.com"}


class TestBehindHttpsBaseUrl:
    @pytest.fixture
    def app_config(self, https_base):
        return https_base

    def test_cookies_are_secure(self, client, make_user):
        response = _login(client, make_user("rep"))
        assert {"secure", "httponly", "samesite=lax"} <= _attrs(_cookie(response, "session"))


class TestBehindAProxy:
    @pytest.fixture
    def app_config(self, app_config):
        return {**app_config, "PROXY_FIX": 1}

    def test_x_forwarded_proto_https_means_secure_cookies_and_hsts(self, client, make_user):
        response = _login(client, make_user("rep"), headers={"X-Forwarded-Proto": "https"})
        assert "secure" in _attrs(_cookie(response, "session"))
        assert response.headers["Strict-Transport-Security"] == HSTS
        page = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert page.headers["Strict-Transport-Security"] == HSTS

    def test_plain_http_through_the_proxy_gets_no_hsts(self, client):
        assert "Strict-Transport-Security" not in client.get("/login").headers


def test_without_proxy_fix_a_forged_forwarded_proto_is_ignored(client, make_user):
    response = _login(client, make_user("rep"), headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
    assert "secure" not in _attrs(_cookie(response, "session"))
