"""A company account's page: its buying committee as the signed-in rep or supervisor may see it.

One service call (portal.read_models.accounts.account_page), scoped like customers: another
team's account is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask_login import current_user

from portal.read_models import accounts as overview

bp = Blueprint("companies", __name__, url_prefix="/accounts")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


@bp.get("/<int:account_id>")
def detail(account_id: int):
    page = overview.account_page(current_user, account_id)
    return render_template("companies/detail.html", page=page, account=page.account)
