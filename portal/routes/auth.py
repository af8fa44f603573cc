"""Signing in and out, and the language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from portal import i18n
from portal.accounts import services
from portal.accounts.forms import LanguageForm, LoginForm, LogoutForm
from portal.accounts.models import User
from portal.library import permissions
from portal.routes import rate_limits

bp = Blueprint("auth", __name__)


def safe_next(target: str | None) -> str | None:
    """A local path to go back to, or None: never another host (no open redirect)."""
    if not target:
        return None
    target = target.strip()
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def landing_url(user: User) -> str:
    """Marketing and admins work in the library; reps and supervisors start on the dashboard."""
    if permissions.can_manage_library(user):
        return url_for("library.index")
    return url_for("main.index")


# Guessing is slowed per address and per (account, address), so one attacker's failures do not
# lock the account's owner out; the per-account limit, from every address together, is high and
# only stops many addresses guessing one account (docs/security.md, "Abuse limits").
@bp.route("/login", methods=["GET", "POST"])
@rate_limits.limit("LOGIN_RATE_LIMIT", rate_limits.address, methods=["POST"])
@rate_limits.limit(
    "LOGIN_ACCOUNT_ADDRESS_RATE_LIMIT",
    rate_limits.login_account_and_address,
    methods=["POST"],
    deduct_when=rate_limits.failed_sign_in,
)
@rate_limits.limit(
    "LOGIN_ACCOUNT_RATE_LIMIT",
    rate_limits.login_account,
    methods=["POST"],
    deduct_when=rate_limits.failed_sign_in,
)
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")) or landing_url(current_user))
    form = LoginForm()
    if not form.is_submitted():
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        user = services.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            login_user(user, remember=bool(form.remember.data))
            return redirect(safe_next(form.next.data) or landing_url(user))
        # The same words whether the account exists or not.
        form.form_errors.append(_("Wrong e-mail or password."))
        form.password.data = ""
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
def logout():
    if LogoutForm().validate_on_submit():
        logout_user()
        session.pop("_flashes", None)  # the next person at this browser must not see them
        flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/lang")
def set_language():
    form = LanguageForm()
    if not form.validate_on_submit():
        abort(400)
    session[i18n.SESSION_KEY] = form.lang.data
    return redirect(safe_next(form.next.data) or url_for("main.index"))
