"""Read-time batches checked without the database: everything that can refuse a batch.

Both ingest paths (portal.tracking.ingest) run these checks before a batch is stored or queued,
so a batch that gets past them is never refused later: JSON shape and types, key pattern, absurd
values, the page range (from the ingest token, which carries the page count of the copy the
viewer shows) and the token itself (signature, age, the delivery's expiry).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.errors import NotFound, PayloadTooLarge, PortalError, ValidationFailed
from portal.tracking.models import EventType
from portal.tracking.sessions import IngestClaims, TokenExpired, claims_of

MAX_BODY_BYTES = 64 * 1024
MAX_REPORTS = 100
ABSURD_MS = 24 * 3600 * 1000  # a claim beyond a day is refused, not clamped
UNKNOWN_PAGE_COUNT_MAX = 500  # pages accepted when the version's page count is unknown
MAX_SECTION_LENGTH = 80
MAX_EPOCH_MS = 4_102_444_800_000  # 2100-01-01: beyond it `at` is not a timestamp
CLIENT_TYPES = frozenset({EventType.PAGE_VIEWED.value})
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class MalformedBatch(PortalError):
    status = 400
    code = "malformed_batch"


class InvalidReport(ValidationFailed):
    code = "invalid_report"


class SessionNotFound(NotFound):
    code = "session_not_found"


class SessionNotConfirmed(PortalError):
    """The session's page was fetched but the viewer never confirmed the open: no read time."""

    status = 409
    code = "not_confirmed"


class SessionGone(PortalError):
    status = 410
    code = "gone"


class IngestBusy(PortalError):
    """The batch kept losing races with concurrent batches; nothing was stored, retry it."""

    status = 503
    code = "busy"


@dataclass(frozen=True)
class Report:
    index: int
    key: str
    type: str
    page: int | None
    section: str | None
    ms: int
    at: int | None
    final: bool

    def as_row(self) -> list[Any]:
        """A compact JSON form, for the queue (portal.tracking.ingest_queue)."""
        return [self.key, self.type, self.page, self.section, self.ms, self.at, self.final]

    @classmethod
    def from_row(cls, index: int, row: list[Any]) -> Report:
        key, kind, page, section, ms, at, final = row
        return cls(index, key, kind, page, section, ms, at, final)


# -- parsing and validation (no database) ---------------------------------------------------------


def parse_body(raw: bytes | str) -> Any:
    """The JSON of a request body, whatever its Content-Type (sendBeacon sends text/plain)."""
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is larger than {MAX_BODY_BYTES} bytes")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise MalformedBatch("the body is not UTF-8 text") from exc
    except (ValueError, RecursionError) as exc:
        raise MalformedBatch(f"the body is not valid JSON: {exc}") from exc


def token_of(payload: Any) -> Any:
    """The ingest token a parsed body carries (`s`), if any; checked by ingest_batch."""
    return payload.get("s") if isinstance(payload, dict) else None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _report(index: int, item: Any) -> Report:
    where = f"reports[{index}]"
    if not isinstance(item, dict):
        raise MalformedBatch(f"{where} must be an object")

    def refuse(field: str, rule: str) -> InvalidReport:
        got = _describe(item.get(field)) if field in item else "nothing"
        return InvalidReport(f"{where}.{field} {rule} (got {got})")

    key = item.get("k")
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        raise refuse("k", "must be 1 to 64 characters of A-Z, a-z, 0-9, _ or -")
    kind = item.get("type")
    if kind not in CLIENT_TYPES:
        raise refuse("type", f"must be one of: {', '.join(sorted(CLIENT_TYPES))}")
    ms = item.get("ms")
    if not _integer(ms) or not 0 <= ms <= ABSURD_MS:
        raise refuse("ms", f"must be a whole number of milliseconds from 0 to {ABSURD_MS}")
    page = item.get("page")
    if page is not None and (not _integer(page) or page < 1):
        raise refuse("page", "must be a page number from 1")
    section = item.get("section")
    if section is not None and (
        not isinstance(section, str) or not 0 < len(section) <= MAX_SECTION_LENGTH
    ):
        raise refuse("section", f"must be text of 1 to {MAX_SECTION_LENGTH} characters")
    if page is None and section is None:
        raise refuse("page", "is required (or a section)")
    at = item.get("at")
    if at is not None and (not _integer(at) or not 0 < at < MAX_EPOCH_MS):
        raise refuse("at", "must be the client's time in milliseconds since 1970")
    final = item.get("final", False)
    if not isinstance(final, bool):
        raise refuse("final", "must be true or false")
    return Report(index, key, kind, page, section, ms, at, final)


def validate(token: Any, payload: Any) -> list[Report]:
    """The batch's reports, or the first reason it is refused (400, 413 or 422)."""
    if not isinstance(payload, dict):
        raise MalformedBatch('the body must be a JSON object {"s": ..., "reports": [...]}')
    if not isinstance(token, str) or not token:
        raise MalformedBatch("s (the session token) must be a non-empty string")
    items = payload.get("reports")
    if not isinstance(items, list):
        raise MalformedBatch("reports must be a list")
    if len(items) > MAX_REPORTS:
        raise PayloadTooLarge(
            f"at most {MAX_REPORTS} reports per batch (got {len(items)})",
            code="too_many_reports",
        )
    return [_report(i, item) for i, item in enumerate(items)]


def check_pages(reports: list[Report], page_max: int | None) -> None:
    """InvalidReport (422) for a report on a page the document does not have."""
    page_max = page_max or UNKNOWN_PAGE_COUNT_MAX
    for report in reports:
        if report.page is not None and report.page > page_max:
            raise InvalidReport(
                f"reports[{report.index}].page must be a page of this document, "
                f"1 to {page_max} (got {report.page})"
            )


def claims(token: str) -> IngestClaims | None:
    """The token's claims; None when unknown or tampered; SessionGone when too old."""
    try:
        return claims_of(token)
    except TokenExpired:
        raise SessionGone("this reading session has ended; open the document again") from None


def check_live(found: IngestClaims | None, now: datetime) -> IngestClaims:
    """The claims of a token that may report now: SessionNotFound (404) for an unknown token,
    SessionGone (410) once the delivery has expired. (Revocation is checked where the path
    looks it up: the database, or Redis.)"""
    if found is None:
        raise SessionNotFound("unknown tracking session")
    if found.expired(now):
        raise SessionGone("this document link has expired or was revoked")
    return found
