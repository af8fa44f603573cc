"""Page and section tags of a version (`pricing`, `case`, …) for content-aware scoring.

Stored as {"<page number>": ["tag", ...]}; written by marketing as "2:pricing; 3:case,pricing".
"""

from __future__ import annotations

import re
from typing import Any

from portal.errors import ValidationFailed

_TAG_RE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
KNOWN_TAGS = ("pricing", "case", "product", "contact", "terms")


def _clean_tags(page: int, raw: Any) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else list(raw or [])
    tags = sorted({str(t).strip().lower() for t in items if str(t).strip()})
    for tag in tags:
        if not _TAG_RE.match(tag):
            raise ValidationFailed(
                f"page {page}: tag {tag!r} must be lower-case letters, digits, '-' or '_'",
                code="bad_content_tag",
                field="content_tags",
                page=page,
                tag=tag,
            )
    return tags


def parse_content_tags(raw: str | dict | None, page_count: int | None) -> dict[str, list[str]]:
    """Parse "2:pricing; 3:case" or {"2": ["pricing"]}; page numbers must exist."""
    if raw is None or raw == "" or raw == {}:
        return {}
    if isinstance(raw, str):
        pairs: list[tuple[str, str]] = []
        for chunk in re.split(r"[;\n]+", raw):
            if not chunk.strip():
                continue
            page, sep, tags = chunk.partition(":")
            if not sep:
                raise ValidationFailed(
                    f"content tags {chunk.strip()!r}: write them as 'page:tag,tag', "
                    "e.g. '2:pricing; 3:case'",
                    code="bad_content_tags",
                    field="content_tags",
                )
            pairs.append((page.strip(), tags))
        items: list[tuple[str, Any]] = list(pairs)
    elif isinstance(raw, dict):
        items = list(raw.items())
    else:
        raise ValidationFailed(
            "content tags must be text like '2:pricing' or an object",
            code="bad_content_tags",
            field="content_tags",
        )
    result: dict[str, list[str]] = {}
    for page_text, tags in items:
        try:
            page = int(str(page_text))
        except ValueError:
            raise ValidationFailed(
                f"content tags: {page_text!r} is not a page number",
                code="bad_content_tags_page",
                field="content_tags",
                page=page_text,
            ) from None
        if page < 1 or (page_count is not None and page > page_count):
            limit = f" (the document has {page_count} pages)" if page_count else ""
            raise ValidationFailed(
                f"content tags: there is no page {page}{limit}",
                code="no_such_page",
                field="content_tags",
                page=page,
            )
        cleaned = _clean_tags(page, tags)
        if cleaned:
            result[str(page)] = sorted(set(result.get(str(page), [])) | set(cleaned))
    return result


def format_content_tags(tags: dict[str, list[str]]) -> str:
    return "; ".join(
        f"{page}:{','.join(t)}" for page, t in sorted(tags.items(), key=lambda kv: int(kv[0]))
    )


def tags_of_page(tags: dict[str, list[str]], page: int) -> list[str]:
    return tags.get(str(page), [])
