"""The Excel bridge's staff pages: upload → preview → confirm, and the .xlsx export.

The upload is kept in object storage between the preview and the confirm step
(portal.exchange.staging), so the confirm may reach any app node.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template
from flask_babel import gettext as _
from flask_login import current_user

from portal import jobs
from portal.customers.services import may_have_customers
from portal.db_types import utcnow
from portal.errors import PortalError
from portal.exchange import staging
from portal.exchange.columns import KINDS, field_labels, lang
from portal.exchange.exporting import XLSX_TYPE, export_workbook, sheet_titles
from portal.exchange.forms import ConfirmForm, ImportForm
from portal.exchange.importing import run_import
from portal.exchange.reading import SheetLimits
from portal.extensions import db

bp = Blueprint("exchange", __name__, url_prefix="/exchange")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if not may_have_customers(current_user):
        abort(403)
    return None


def _page(form: ImportForm, report=None, confirm: ConfirmForm | None = None, status: int = 200):
    return (
        render_template(
            "exchange/import.html",
            form=form,
            report=report,
            confirm=confirm,
            columns=KINDS,
            lang=lang(),
            labels=field_labels(report.kind) if report else {},
        ),
        status,
    )


@bp.get("/import")
def import_page():
    return _page(ImportForm())


@bp.post("/import")
def preview():
    form = ImportForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    data = form.file.data.read()
    try:
        report = run_import(current_user, form.kind.data, data, apply=False, limits=_limits())
    except PortalError as exc:
        db.session.rollback()
        form.file.errors = [exc.message]
        return _page(form, status=exc.status)
    confirm = None
    if report.has_changes:
        confirm = ConfirmForm(formdata=None, key=staging.stage(current_user, report.kind, data))
    return _page(ImportForm(formdata=None, kind=report.kind), report, confirm)


@bp.post("/import/confirm")
def confirm():
    form = ConfirmForm()
    new_form = ImportForm(formdata=None)
    if not form.validate_on_submit():
        new_form.form_errors.append(
            _("This upload has expired or was already imported; upload the file again.")
        )
        return _page(new_form, status=422)
    try:
        staged = staging.load(current_user, form.key.data)
        report = run_import(current_user, staged.kind, staged.data, apply=True, limits=_limits())
    except PortalError as exc:
        db.session.rollback()
        new_form.form_errors.append(exc.message)
        return _page(new_form, status=exc.status)
    jobs.commit()
    staging.discard(staged.key)
    new_form.kind.data = report.kind
    return _page(new_form, report)


def _limits() -> SheetLimits:
    return SheetLimits.from_config(current_app.config)


@bp.get("/export")
def export_page():
    return render_template("exchange/export.html", sheets=sheet_titles())


@bp.get("/export.xlsx")
def export_file():
    data = export_workbook(current_user)
    name = f"portal-{utcnow():%Y%m%d}.xlsx"
    return Response(
        data,
        mimetype=XLSX_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
