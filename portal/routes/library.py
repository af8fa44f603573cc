"""The template library for staff: browse, preview, download; marketing also uploads and edits.

Every look-up goes through the library services, which scope it to the signed-in user: a
template outside their scope is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from portal import jobs
from portal.errors import PortalError
from portal.extensions import db
from portal.form_errors import attach
from portal.library import conversion, permissions, services
from portal.library.content_tags import format_content_tags
from portal.library.forms import (
    ActionForm,
    ContentTagsForm,
    LibraryFilterForm,
    NewTemplateForm,
    NewVersionForm,
    TemplateForm,
)
from portal.library.models import Template, TemplateVersion, VersionStatus
from portal.read_models import analytics, visits

bp = Blueprint("library", __name__, url_prefix="/library")

_MIMETYPES = {"pdf": "application/pdf", "zip": "application/zip", "html": "text/html"}


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


def _is_keeper() -> bool:
    return permissions.can_manage_library(current_user)


def keepers_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Marketing and admins only; everyone else gets the 403 page (the service checks again)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not _is_keeper():
            abort(403)
        return view(*args, **kwargs)

    return wrapped


@dataclass
class Outcome:
    ok: bool
    value: Any = None
    status: int = 200


# What the generic codes mean on the library's forms.
_LIBRARY_TEXTS = {
    "forbidden": _l("Only marketing and administrators can change the library."),
    "not_found": _l("That template or version was not found."),
    "name_required": _l("Give the template a name."),
}


def _attempt(form: FlaskForm, action: Callable[[], Any]) -> Outcome:
    """Validate a submitted form and run one service call in a transaction.

    A PortalError rolls back and lands on the form (field or whole form) with its status, so the
    page is shown again with everything the user typed.
    """
    if not form.is_submitted():
        return Outcome(False)
    if not form.validate():
        return Outcome(False, status=422)
    try:
        value = action()
    except PortalError as exc:
        db.session.rollback()
        attach(form, exc, texts=_LIBRARY_TEXTS)
        return Outcome(False, status=exc.status)
    jobs.commit()  # then any job the change asked for (an Office conversion) is queued
    return Outcome(True, value)


def _upload(form: NewTemplateForm | NewVersionForm) -> dict[str, Any]:
    file = form.file.data
    return {
        "filename": file.filename or "",
        "data": file.read(),
        "changelog": form.changelog.data,
        "content_tags": form.content_tags.data,
    }


# --- browsing ----------------------------------------------------------------------------------


@bp.get("/")
def index():
    form = LibraryFilterForm(formdata=request.args)
    form.set_facets(services.library_facets(current_user))
    templates = services.list_templates(current_user, form.to_filter(include_archived=_is_keeper()))
    return render_template("library/index.html", form=form, templates=templates)


def _preview_version(template: Template, versions: list[TemplateVersion]) -> TemplateVersion | None:
    """The version shown in the preview: ?version=N, else the latest published one."""
    wanted = request.args.get("version", type=int)
    ready = [v for v in versions if v.status == VersionStatus.READY]  # others have no PDF yet
    for version in ready:
        if version.number == wanted:
            return version
    return template.latest_version or (ready[0] if ready else None)


def _render_detail(
    template: Template,
    *,
    action_form: ActionForm | None = None,
    tags_form: ContentTagsForm | None = None,
    tags_version: int | None = None,
    status: int = 200,
):
    keeper = _is_keeper()
    versions = [v for v in template.versions if keeper or v.published]
    tags_forms = {}
    if keeper:
        for version in versions:
            if version.number == tags_version and tags_form is not None:
                tags_forms[version.number] = tags_form
            else:
                tags_forms[version.number] = ContentTagsForm(
                    formdata=None,
                    prefix=f"v{version.number}",
                    content_tags=format_content_tags(version.content_tags),
                )
    return render_template(
        "library/detail.html",
        template=template,
        versions=versions,
        preview=_preview_version(template, versions),
        action_form=action_form or ActionForm(formdata=None),
        tags_forms=tags_forms,
        allowed={axis: template.allowed(axis) for axis in ("role", "team", "region")},
        conversion_message=conversion.message_for,
        may_see_analytics=analytics.may_see_template_analytics(current_user),
    ), status


@bp.get("/<int:template_id>")
def detail(template_id: int):
    return _render_detail(services.get_template(current_user, template_id))


@bp.get("/<int:template_id>/analytics")
def analytics_page(template_id: int):
    page = analytics.template_page(current_user, template_id, request.args)
    return render_template(
        "library/analytics.html",
        page=page,
        args=request.args,
        may_export=visits.may_export_visits(current_user),
    )


@bp.get("/<int:template_id>/preview.pdf")
def preview(template_id: int):
    number = request.args.get("version", type=int)
    version, pdf = services.preview_pdf(current_user, template_id, number)
    filename = f"preview-{template_id}-v{version.number}.pdf"
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "private, max-age=300",
        },
    )


@bp.get("/<int:template_id>/versions/<int:number>/file")
def download(template_id: int, number: int):
    template = services.get_template(current_user, template_id)
    version = services.get_version(template, number, drafts=_is_keeper())
    response = send_file(
        io.BytesIO(services.version_file(version)),
        mimetype=_MIMETYPES.get(version.source_type, "application/octet-stream"),
        as_attachment=True,
        download_name=_download_name(version),
        etag=version.sha256,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    return response


def _download_name(version: TemplateVersion) -> str:
    """The uploaded name, with .pdf for an Office file or image (what is kept is its PDF)."""
    name = version.original_filename or f"v{version.number}.{version.source_type}"
    stem, dot, extension = name.rpartition(".")
    if version.source_type == "pdf" and extension.lower() != "pdf":
        return f"{stem or name}.pdf" if dot else f"{name}.pdf"
    return name


# --- changing the library (marketing, admin) -----------------------------------------------------


def _render_template_form(form: TemplateForm, template: Template | None, status: int):
    return render_template(
        "library/template_form.html",
        form=form,
        template=template,
        facets=services.library_facets(current_user),
    ), status


@bp.route("/new", methods=["GET", "POST"])
@keepers_only
def new():
    form = NewTemplateForm()
    outcome = _attempt(
        form,
        lambda: services.create_template(current_user, form.to_fields(), **_upload(form)),
    )
    if outcome.ok:
        version = outcome.value
        flash(_("Template “%(name)s” created.", name=version.template.name), "success")
        _flash_converting(version)
        return redirect(url_for(".detail", template_id=version.template_id))
    return _render_template_form(form, None, outcome.status)


@bp.route("/<int:template_id>/edit", methods=["GET", "POST"])
@keepers_only
def edit(template_id: int):
    template = services.get_template(current_user, template_id)
    form = TemplateForm.for_template(template)
    outcome = _attempt(
        form, lambda: services.update_template(template, current_user, form.to_fields())
    )
    if outcome.ok:
        flash(_("Changes saved."), "success")
        return redirect(url_for(".detail", template_id=template_id))
    return _render_template_form(form, template, outcome.status)


@bp.route("/<int:template_id>/versions/new", methods=["GET", "POST"])
@keepers_only
def new_version(template_id: int):
    template = services.get_template(current_user, template_id)
    form = NewVersionForm()
    if not form.is_submitted():
        form.content_tags.data = format_content_tags(services.previous_content_tags(template))
    outcome = _attempt(
        form,
        lambda: services.add_version(
            template, current_user, publish=bool(form.publish.data), **_upload(form)
        ),
    )
    if outcome.ok:
        version = outcome.value
        if _flash_converting(version):
            pass
        elif version.published:
            flash(_("Version %(number)d is published.", number=version.number), "success")
        else:
            flash(_("Version %(number)d is saved as a draft.", number=version.number), "success")
        return redirect(url_for(".detail", template_id=template_id))
    return render_template(
        "library/version_form.html", form=form, template=template
    ), outcome.status


def _flash_converting(version: TemplateVersion) -> bool:
    if version.status != VersionStatus.CONVERTING:
        return False
    flash(
        _(
            "Version %(number)d is being converted to PDF; this page shows when it is ready.",
            number=version.number,
        ),
        "info",
    )
    return True


def _version_action(
    template_id: int,
    number: int,
    action: Callable[[TemplateVersion], Any],
    done: str,
):
    """Run a button's service call on one version; show the detail page again on failure."""
    template = services.get_template(current_user, template_id)
    version = services.get_version(template, number, drafts=True)
    form = ActionForm()
    outcome = _attempt(form, lambda: action(version))
    if outcome.ok:
        flash(done, "success")
        return redirect(url_for(".detail", template_id=template_id))
    return _render_detail(template, action_form=form, status=outcome.status or 400)


@bp.post("/<int:template_id>/versions/<int:number>/publish")
@keepers_only
def publish_version(template_id: int, number: int):
    return _version_action(
        template_id,
        number,
        lambda v: services.publish_version(v, current_user),
        _("Version %(number)d is published.", number=number),
    )


@bp.post("/<int:template_id>/versions/<int:number>/delete")
@keepers_only
def delete_version(template_id: int, number: int):
    return _version_action(
        template_id,
        number,
        lambda v: services.delete_draft(v, current_user),
        _("Draft version %(number)d is deleted.", number=number),
    )


@bp.post("/<int:template_id>/versions/<int:number>/tags")
@keepers_only
def version_tags(template_id: int, number: int):
    template = services.get_template(current_user, template_id)
    version = services.get_version(template, number, drafts=True)
    form = ContentTagsForm(prefix=f"v{number}")
    outcome = _attempt(
        form, lambda: services.set_content_tags(version, current_user, form.content_tags.data)
    )
    if outcome.ok:
        flash(_("Content tags of version %(number)d saved.", number=number), "success")
        return redirect(url_for(".detail", template_id=template_id, _anchor=f"v{number}"))
    return _render_detail(template, tags_form=form, tags_version=number, status=outcome.status)


def _set_archived(template_id: int, archived: bool, done: str):
    template = services.get_template(current_user, template_id)
    form = ActionForm()
    outcome = _attempt(form, lambda: services.set_archived(template, current_user, archived))
    if outcome.ok:
        flash(done, "success")
        return redirect(url_for(".detail", template_id=template_id))
    return _render_detail(template, action_form=form, status=outcome.status or 400)


@bp.post("/<int:template_id>/archive")
@keepers_only
def archive(template_id: int):
    return _set_archived(template_id, True, _("Archived: reps no longer see this template."))


@bp.post("/<int:template_id>/unarchive")
@keepers_only
def unarchive(template_id: int):
    return _set_archived(template_id, False, _("Restored: the template is back in the library."))
