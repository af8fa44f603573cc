"""A member of staff's own settings: the contact card customers see beside their documents."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import jobs
from portal.branding import rep_cards
from portal.branding.forms import RepCardForm, attach_error
from portal.errors import PortalError
from portal.extensions import db

bp = Blueprint("profile", __name__, url_prefix="/me")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


@bp.route("/card", methods=["GET", "POST"])
def card():
    user = current_user._get_current_object()
    form = RepCardForm(
        data={"job_title": user.job_title, "phone": user.phone, "wechat_id": user.wechat_id}
    )
    status = 200
    if form.validate_on_submit():
        qr = form.wechat_qr.data.read() if form.wechat_qr.data else None
        try:
            rep_cards.save_card(
                user,
                form.job_title.data,
                form.phone.data,
                form.wechat_id.data,
                qr=qr,
                remove_qr=form.remove_qr.data,
            )
        except PortalError as exc:
            db.session.rollback()
            attach_error(form, exc)
            status = exc.status
        else:
            jobs.commit()
            flash(_("Your contact card is saved."), "success")
            return redirect(url_for(".card"))
    elif form.is_submitted():
        status = 422
    return render_template("profile/card.html", form=form, card=rep_cards.card_of(user)), status
