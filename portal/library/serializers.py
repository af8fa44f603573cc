"""Templates and versions as JSON-ready dicts (the API's shape)."""

from __future__ import annotations

from typing import Any

from portal.library.conversion import message_for
from portal.library.models import AccessAxis, Template, TemplateVersion, VersionStatus


def template_summary(template: Template) -> dict[str, Any]:
    latest = template.latest_version
    return {
        "id": template.id,
        "name": template.name,
        "kind": template.kind,
        "format": template.format,
        "industry": template.industry,
        "scenario": template.scenario,
        "product_line": template.product_line,
        "tags": template.tags,
        "version_policy": template.version_policy,
        "latest_version": latest.number if latest else None,
        "updated_at": template.updated_at.isoformat(),
        "allowed": {
            "roles": template.allowed(AccessAxis.ROLE),
            "teams": template.allowed(AccessAxis.TEAM),
            "regions": template.allowed(AccessAxis.REGION),
        },
        "archived": template.archived_at is not None,
    }


def version_summary(version: TemplateVersion) -> dict[str, Any]:
    return {
        "id": version.id,
        "version": version.number,
        "source_type": version.source_type,
        "filename": version.original_filename,
        "sha256": version.sha256,
        "size": version.size,
        "changelog": version.changelog,
        "content_tags": version.content_tags,
        "page_count": version.page_count,
        "author": version.author.name,
        "created_at": version.created_at.isoformat(),
        "published": version.published,
        # converting | ready | failed; a failed conversion says why (code + sentence)
        "status": version.status,
        "error": (
            {"code": version.error_code, "message": message_for(version.error_code)}
            if version.status == VersionStatus.FAILED
            else None
        ),
    }
