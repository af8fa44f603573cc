"""Friendly error pages in the reader's language; JSON for everything under /api/."""

from __future__ import annotations

import logging

from flask import Flask, current_app, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, ServiceUnavailable

from portal import metrics, outage_log, outages
from portal.errors import PortalError
from portal.extensions import db
from portal.routes import json_errors

log = logging.getLogger(__name__)

API_PREFIX = "/api/"

PAGES = {
    400: (
        _l("Something is wrong with that request"),
        _l("Go back, reload the page and try again."),
    ),
    403: (
        _l("You do not have access to this page"),
        _l("Your role cannot open or change this. Ask marketing or an administrator for it."),
    ),
    404: (
        _l("Page not found"),
        _l("This page does not exist, or it is not shared with you."),
    ),
    405: (_l("That action is not possible here"), _l("Go back and use the buttons on the page.")),
    410: (
        _l("This link is no longer available"),
        _l("It has expired or was withdrawn. Ask the sender for a new link."),
    ),
    413: (
        _l("The file is too large"),
        _l("Uploads may be at most %(limit)s. Compress the images or split the document."),
    ),
    429: (_l("Too many attempts"), _l("Please wait a minute, then try again.")),
    500: (
        _l("Something went wrong on our side"),
        _l("The error has been logged. Please try again in a moment."),
    ),
    503: (
        _l("Portal is briefly unavailable"),
        _l("A service it depends on is not answering. Please try again in a minute."),
    ),
}
# What an API client is told when a dependency is down (see portal.outages).
OUTAGE_MESSAGES = {
    outages.DATABASE: "the database is not answering: try again in a minute",
    outages.STORAGE: "document storage is not answering: try again in a minute",
    outages.REDIS: "the queue (Redis) is not answering: try again in a minute",
}
OUTAGE_RETRY_AFTER = 30  # seconds, sent as Retry-After
CSRF_PAGE = (
    _l("This form has expired"),
    _l("For your safety, forms expire. Reload the page and submit it again."),
)


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MB"


def _page(status: int, page: tuple | None = None, headers: list | None = None):
    title, message = page or PAGES.get(status, PAGES[500] if status >= 500 else PAGES[400])
    message = str(message)
    if status == 413:
        message %= {"limit": _megabytes(_upload_max())}
    try:
        html = render_template("errors/error.html", status=status, title=title, message=message)
    except Exception:  # the page itself failed (e.g. the database is down): plain text
        log.exception("error page %s failed to render", status)
        return f"{status} {title}", status, {"Content-Type": "text/plain; charset=utf-8"}
    return html, status, headers or []


def _upload_max() -> int:
    return int(current_app.config.get("UPLOAD_MAX_BYTES", 0))


def _is_api() -> bool:
    return request.path.startswith(API_PREFIX)


def register(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        db.session.rollback()  # unhandled exceptions were already logged by Flask
        if _is_api():
            return json_errors.http_error(exc)
        status = exc.code or 500
        # Keep what the exception says about the response (Allow on 405, Retry-After on 429).
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return _page(status, CSRF_PAGE if isinstance(exc, CSRFError) else None, headers)

    @app.errorhandler(PortalError)
    def portal_error(exc: PortalError):
        if _is_api():
            return json_errors.portal_error(exc)
        db.session.rollback()
        return _page(exc.status)

    def outage(exc: Exception):
        """A dependency is down: 503 with Retry-After (JSON under /api/, else the page of the
        blueprint's own 503 handler), never a 500. Other errors of the same types are bugs."""
        service = outages.which(exc)
        if service is None:
            raise exc  # Flask logs it and answers 500
        # Expected while it lasts: one line when the outage starts and one when it ends
        # (portal.outage_log), never one (or a traceback) per refused request.
        # The reason's first line only: a database error goes on with the statement and its
        # parameters, which have no place in the log.
        reason = (str(exc).splitlines() or [""])[0][:300]
        outage_log.of(app).refused(service, f"{type(exc).__name__}: {reason}")
        metrics.REFUSED.labels(service).inc()
        try:
            db.session.rollback()  # the connection may be dead: the pool replaces it
        except Exception:
            log.exception("rollback after a %s outage failed", service)
        unavailable = ServiceUnavailable(OUTAGE_MESSAGES[service], retry_after=OUTAGE_RETRY_AFTER)
        response = app.make_response(app.handle_http_exception(unavailable))
        response.headers.setdefault("Retry-After", str(OUTAGE_RETRY_AFTER))
        return response

    for exception in outages.EXCEPTIONS:
        app.register_error_handler(exception, outage)
