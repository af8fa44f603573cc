"""Response headers that make the browser part of the defence.

Every HTML page gets a Content-Security-Policy with no inline script and no inline style:
scripts come only from /static, and the few styles computed per page (link overlays in the
viewer, bar widths) sit in a <style> element carrying this response's nonce (`csp_nonce()` in
templates). Nothing of ours may be framed by another site (`frame-ancestors 'none'`, also for the
customer viewer: a forwarded link must not become a clickjacking target); non-HTML files
(the staff PDF preview is shown in an <iframe>) may be framed by Portal itself only.

Behind a reverse proxy (PORTAL_PROXY_FIX=<number of proxies>) the scheme comes from
X-Forwarded-Proto. Over https, or when PORTAL_BASE_URL is https, every cookie is Secure and
HSTS is sent.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from werkzeug.middleware.proxy_fix import ProxyFix

HSTS = "max-age=31536000"  # one year; subdomains are not ours to decide
_NONCE = "_portal_csp_nonce"

# The policy of every HTML page; "{style}" gets this response's nonce when a template used one.
HTML_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'{style}",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "frame-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
# JSON and other data: nothing to run, nothing to frame.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"


def csp_nonce() -> str:
    """This response's nonce, for a <style nonce="..."> element in a template."""
    if not has_request_context():
        return ""
    nonce = g.get(_NONCE)
    if nonce is None:
        nonce = secrets.token_urlsafe(18)
        setattr(g, _NONCE, nonce)
    return nonce


def content_security_policy(nonce: str | None) -> str:
    style = f" 'nonce-{nonce}'" if nonce else ""
    return "; ".join(HTML_POLICY).replace("{style}", style)


def _with_secure(header: tuple[str, str]) -> tuple[str, str]:
    name, value = header
    if name.lower() != "set-cookie":
        return header
    attributes = {part.strip().lower() for part in value.split(";")[1:]}
    return (name, value) if "secure" in attributes else (name, value + "; Secure")


class SecureCookies:
    """WSGI middleware: over https, every cookie is Secure.

    Flask writes the session cookie after the after_request hooks, so this works one level
    below, on the headers as they leave; inside ProxyFix it sees the forwarded scheme.
    """

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]], always: bool) -> None:
        self.wsgi_app = wsgi_app
        self.always = always

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        if not (self.always or environ.get("wsgi.url_scheme") == "https"):
            return self.wsgi_app(environ, start_response)

        def secure_start_response(status, headers, exc_info=None):
            return start_response(status, [_with_secure(h) for h in headers], exc_info)

        return self.wsgi_app(environ, secure_start_response)


def _set_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")  # customer pages say no-referrer
    if response.mimetype == "text/html" and "attachment" in headers.get(
        "Content-Disposition", ""
    ):  # a template's own HTML, downloaded: if a browser shows it anyway, it runs nothing
        headers["Content-Security-Policy"] = f"{DATA_POLICY}; sandbox"
        headers["X-Frame-Options"] = "DENY"
    elif response.mimetype == "text/html":
        headers["Content-Security-Policy"] = content_security_policy(g.get(_NONCE))
        headers["X-Frame-Options"] = "DENY"
    elif response.mimetype == "application/json":
        headers.setdefault("Content-Security-Policy", DATA_POLICY)
        headers["X-Frame-Options"] = "DENY"
    else:
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    if request.is_secure:  # browsers ignore HSTS received over http
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    secure = app.config.get("BASE_URL", "").startswith("https:")
    wsgi_app: Any = SecureCookies(app.wsgi_app, always=secure)
    proxies = int(app.config.get("PROXY_FIX") or 0)
    if proxies > 0:
        wsgi_app = ProxyFix(wsgi_app, x_for=proxies, x_proto=proxies)
    app.wsgi_app = wsgi_app  # type: ignore[method-assign]
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        app.config[name] = bool(app.config.get(name)) or secure
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", "Lax")
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(_set_headers)
