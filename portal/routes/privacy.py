"""A person's data on request: export (admins and the owning rep), erase (admins, after a
confirmation step)."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import jobs
from portal.exchange.exporting import XLSX_TYPE
from portal.privacy import erasure, export
from portal.privacy.forms import EraseForm

bp = Blueprint("privacy", __name__, url_prefix="/customers")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


@bp.route("/<int:customer_id>/erase", methods=["GET", "POST"])
def erase(customer_id: int):
    customer = erasure.erasable(current_user, customer_id)  # 404 / 403 before anything else
    form = EraseForm()
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("privacy/erase.html", customer=customer, form=form), status
    erasure.erase(current_user, customer_id)
    jobs.commit()
    flash(_("The customer's personal data was erased."), "success")
    return redirect(url_for("customers.index"))


@bp.get("/<int:customer_id>/export.json")
def export_json(customer_id: int):
    data = export.export(current_user, customer_id)
    jobs.commit()
    body = json.dumps(data, ensure_ascii=False, indent=2)
    return Response(body, mimetype="application/json", headers=_attachment(customer_id, "json"))


@bp.get("/<int:customer_id>/export.xlsx")
def export_xlsx(customer_id: int):
    data = export.export(current_user, customer_id)
    jobs.commit()
    return Response(
        export.workbook(data), mimetype=XLSX_TYPE, headers=_attachment(customer_id, "xlsx")
    )


def _attachment(customer_id: int, extension: str) -> dict[str, str]:
    name = f"customer-{customer_id}.{extension}"
    return {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
