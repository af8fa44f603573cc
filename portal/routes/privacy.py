"""A person's data on request: erase (admins, with a confirmation step)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import jobs
from portal.privacy import erasure
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
