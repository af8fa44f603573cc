from __future__ import annotations

from flask import Response, request

from portal import jobs
from portal.db_types import is_row_id
from portal.errors import NotFound, ValidationFailed
from portal.library import services
from portal.library.models import TemplateVersion, VersionStatus
from portal.library.serializers import template_summary, version_summary
from portal.routes.api.base import api_user, bp


def _upload() -> tuple[str, bytes]:
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ValidationFailed(
            "a file is required (multipart field 'file')", code="file_required", field="file"
        )
    return file.filename, file.read()


def _fields_from_form() -> services.TemplateFields:
    form = request.form
    return services.TemplateFields(
        name=form.get("name", ""),
        kind=form.get("kind", ""),
        industry=form.get("industry", ""),
        scenario=form.get("scenario", ""),
        product_line=form.get("product_line", ""),
        description=form.get("description", ""),
        tags=services.split_list(form.get("tags")),
        version_policy=form.get("version_policy") or None,
        allowed_roles=services.split_list(form.get("allowed_roles")),
        allowed_teams=services.split_list(form.get("allowed_teams")),
        allowed_regions=services.split_list(form.get("allowed_regions")),
    )


@bp.post("/templates")
def create_template():
    filename, data = _upload()
    version = services.create_template(
        api_user(),
        _fields_from_form(),
        filename=filename,
        data=data,
        changelog=request.form.get("changelog"),
        content_tags=request.form.get("content_tags"),
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
def list_templates():
    filters = services.LibraryFilter(
        kind=request.args.get("kind") or None,
        industry=request.args.get("industry") or None,
        scenario=request.args.get("scenario") or None,
        product_line=request.args.get("product_line") or None,
        q=request.args.get("q") or None,
    )
    items = services.list_templates(api_user(), filters)
    return {"items": [template_summary(t) for t in items]}


@bp.get("/templates/<int:template_id>")
def get_template(template_id: int):
    template = services.get_template(api_user(), template_id)
    return template_summary(template) | {
        "versions": [version_summary(v) for v in template.versions if v.published]
    }


# One rule for both methods (as /deals/<id>): with a rule each, an id past MAX_ID would answer
# POST with 405 (werkzeug checks a rule's methods before its converter) instead of 404.
@bp.route("/templates/<int:template_id>/versions", methods=["GET", "POST"])
def versions(template_id: int):
    if request.method == "POST":
        return _add_version(template_id)
    return {"items": [version_summary(v) for v in services.list_versions(api_user(), template_id)]}


def _add_version(template_id: int):
    template = services.get_template(api_user(), template_id)
    filename, data = _upload()
    version = services.add_version(
        template,
        api_user(),
        filename=filename,
        data=data,
        changelog=request.form.get("changelog"),
        content_tags=request.form.get("content_tags"),
        publish=request.form.get("publish", "true").lower() not in {"0", "false", "no"},
    )
    return _created(version)


@bp.get("/templates/<int:template_id>/versions/<int:number>/file")
def version_file(template_id: int, number: int):
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
def preview(template_id: int):
    number = request.args.get("version", type=int)
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
