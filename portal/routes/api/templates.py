from __future__ import annotations

from flask import Response
from flask.views import MethodView

from portal import jobs
from portal.db_types import is_row_id
from portal.errors import NotFound, ValidationFailed
from portal.library import services
from portal.library.models import TemplateVersion, VersionStatus
from portal.library.serializers import template_summary, version_summary
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import declare, form, query
from portal.routes.api.schemas import templates as schemas
from portal.routes.api.schemas.common import Error

_UPLOAD_ERRORS = {
    201: (schemas.Created, "Created: the version is ready"),
    202: (
        schemas.Created,
        "Accepted: the Office file or image is being converted to PDF by a queued job; "
        "GET /templates/{template_id}/versions shows its `status` (converting, ready, failed)",
    ),
    400: (
        Error,
        "Bad upload (corrupt zip, unsafe entry, zip bomb, empty file), or, when jobs run inline, "
        "an Office file or image refused by the conversion: corrupt_office, encrypted_office, "
        "corrupt_image, conversion_failed (damaged or password-protected), conversion_timeout "
        "(killed after OFFICE_CONVERSION_TIMEOUT s). Nothing is stored.",
    ),
    403: (Error, "Only marketing and admins change the library"),
    413: (Error, "File over the size limit (upload_too_large), or an image with too many pixels"),
    415: (
        Error,
        "Not an .html, .zip, .pdf, Office (.pptx .ppt .docx .doc .xlsx .odp .odt) or image "
        "(.png .jpg .jpeg .webp) file (judged by content)",
    ),
}


def _upload(file) -> tuple[str, bytes]:
    if not file.filename:
        raise ValidationFailed(
            "a file is required (multipart field 'file')", code="file_required", field="file"
        )
    return file.filename, file.read()


@bp.post("/templates")
@declare(form=schemas.TemplateUpload, answers=_UPLOAD_ERRORS)
def create_template():
    """Create a template with its first version"""
    given = form(schemas.TemplateUpload)
    filename, data = _upload(given.file)
    fields = services.TemplateFields(
        name=given.name,
        kind=given.kind,
        industry=given.industry,
        scenario=given.scenario,
        product_line=given.product_line,
        description=given.description,
        tags=services.split_list(given.tags),
        version_policy=given.version_policy or None,
        allowed_roles=services.split_list(given.allowed_roles),
        allowed_teams=services.split_list(given.allowed_teams),
        allowed_regions=services.split_list(given.allowed_regions),
    )
    version = services.create_template(
        api_user(),
        fields,
        filename=filename,
        data=data,
        changelog=given.changelog,
        content_tags=given.content_tags,
    )
    return _created(version)


def _created(version: TemplateVersion) -> tuple[dict, int]:
    """201 when the version is ready; 202 while its Office file or image is being converted
    (GET /templates/<id>/versions shows when it is ready, or why it failed)."""
    body = {"id": version.template_id, "version": version.number}
    status = 202 if version.status == VersionStatus.CONVERTING else 201
    jobs.commit()  # then the conversion job is queued
    return body, status


@bp.get("/templates")
@declare(query=schemas.TemplateFilter, answers={200: schemas.TemplateList})
def list_templates():
    """Templates the caller may see"""
    given = query(schemas.TemplateFilter)
    filters = services.LibraryFilter(
        kind=given.kind or None,
        industry=given.industry or None,
        scenario=given.scenario or None,
        product_line=given.product_line or None,
        q=given.q or None,
    )
    items = services.list_templates(api_user(), filters)
    return {"items": [template_summary(t) for t in items]}


@bp.get("/templates/<int:template_id>")
@declare(answers={200: schemas.TemplateDetail})
def get_template(template_id: int):
    """One template with its published versions"""
    template = services.get_template(api_user(), template_id)
    return template_summary(template) | {
        "versions": [version_summary(v) for v in template.versions if v.published]
    }


class Versions(MethodView):
    # One rule for both methods (as /deals/<id>): with a rule each, an id past MAX_ID would
    # answer POST with 405 (werkzeug checks a rule's methods before its converter), not 404.

    @declare(answers={200: schemas.VersionList})
    def get(self, template_id: int):
        """A template's versions, newest first, each with its content_tags and conversion
        `status` (drafts and conversions: marketing, admins)"""
        versions = services.list_versions(api_user(), template_id)
        return {"items": [version_summary(v) for v in versions]}

    @declare(form=schemas.VersionUpload, answers=_UPLOAD_ERRORS)
    def post(self, template_id: int):
        """Upload a new version"""
        template = services.get_template(api_user(), template_id)
        given = form(schemas.VersionUpload)
        filename, data = _upload(given.file)
        version = services.add_version(
            template,
            api_user(),
            filename=filename,
            data=data,
            changelog=given.changelog,
            content_tags=given.content_tags,
            publish=given.publish,
        )
        return _created(version)


bp.add_url_rule("/templates/<int:template_id>/versions", view_func=Versions.as_view("versions"))


@bp.get("/templates/<int:template_id>/versions/<int:number>/file")
@declare(answers={200: (None, "The file, byte for byte as uploaded")})
def version_file(template_id: int, number: int):
    """A published version's file, byte for byte as uploaded"""
    template = services.get_template(api_user(), template_id)
    version = services.get_version(template, number)
    return Response(
        services.version_file(version),
        mimetype={"pdf": "application/pdf", "zip": "application/zip"}.get(
            version.source_type, "text/html"
        ),
        headers={"Content-Disposition": f'attachment; filename="v{number}.{version.source_type}"'},
    )


@bp.get("/templates/<int:template_id>/preview.pdf")
@declare(query=schemas.PreviewQuery, answers={200: (None, "PDF")})
def preview(template_id: int):
    """A version rendered with sample customer data"""
    number = query(schemas.PreviewQuery).version
    if number is not None and not is_row_id(number):
        raise NotFound("no such version")
    version, pdf = services.preview_pdf(api_user(), template_id, number)
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="preview-{template_id}-v{version.number}.pdf"'
        },
    )
