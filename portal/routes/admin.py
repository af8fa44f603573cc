"""Admin settings: staff accounts, scoring rules, the keyword map, outbound webhooks, solution
packs; the audit log.

Administrators only; everyone else (signed in) gets the 403 page. Each change is one service
call in a transaction; a service error lands on the form, with what the admin typed kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectChoice

from portal import jobs
from portal.accounts.forms import ROLE_LABELS
from portal.accounts.models import Role, User
from portal.accounts.services import change_user, create_user
from portal.admin.forms import (
    EVENT_LABELS,
    ActionForm,
    KeywordForm,
    SolutionPackForm,
    UserChangeForm,
    UserForm,
    WebhookForm,
    params_text,
    rule_form_for,
)
from portal.audit import service as audit
from portal.audit.forms import AuditFilterForm
from portal.audit.labels import action_label, detail_text
from portal.branding import service as branding
from portal.branding.forms import BrandForm
from portal.branding.forms import attach_error as attach_brand_error
from portal.engagement import rules
from portal.engagement.labels import rule_label
from portal.errors import PortalError
from portal.extensions import db
from portal.form_errors import attach
from portal.library.forms import CONTENT_TAG_LABELS
from portal.library.models import Template
from portal.privacy import notice as privacy_notice
from portal.privacy.forms import StatementForm
from portal.recommendations import keywords
from portal.recommendations.models import KeywordRule
from portal.tasks import packs
from portal.webhooks import service as webhooks
from portal.webhooks.models import WebhookDelivery

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def admins_only():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if current_user.role != Role.ADMIN:
        abort(403)
    return None


@bp.app_context_processor
def admin_nav() -> dict[str, Any]:
    signed_in = current_user and current_user.is_authenticated
    return {"is_admin": bool(signed_in and current_user.role == Role.ADMIN)}


def _attach(form: FlaskForm, exc: PortalError) -> None:
    """A service error on the admin form: on its field (a rule's parameter `days` is the form's
    `param_days`), else on the whole form."""
    params = getattr(form, "param_names", ())
    fields = {"supervisor_email": "supervisor", **{n: f"param_{n}" for n in params}}
    attach(form, exc, fields=fields, texts=_TEXTS)


# What a generic code means on the admin's forms (the only names here are people's).
_TEXTS = {"name_required": _l("Enter the person's name.")}


def _attempt(form: FlaskForm, action: Callable[[], Any]) -> tuple[bool, Any, int]:
    """(ok, value, status) of validating the form and running action in a transaction."""
    if not form.validate_on_submit():
        return False, None, 422 if form.is_submitted() else 200
    try:
        value = action()
    except PortalError as exc:
        db.session.rollback()
        _attach(form, exc)
        return False, None, exc.status if exc.status != 400 else 422
    jobs.commit()
    return True, value, 200


@bp.get("/")
def index():
    return redirect(url_for(".scoring"))


# --- scoring rules ---------------------------------------------------------------------------


def _ordered_rules():
    order = {d.key: i for i, d in enumerate(rules.DEFAULT_RULES)}
    return sorted(rules.load_rules().values(), key=lambda r: (order.get(r.key, 99), r.key))


@bp.get("/scoring")
def scoring():
    return render_template("admin/scoring.html", rules=_ordered_rules(), rule_label=rule_label)


@bp.route("/scoring/<key>", methods=["GET", "POST"])
def scoring_rule(key: str):
    rule = rules.get_rule(key)
    form = rule_form_for(key, sorted(rules.PARAMS.get(key, {})))()
    if not form.is_submitted():
        form.fill(rule)

    def save():
        return rules.update_rule(
            key,
            by=current_user,
            points=form.points.data,
            cap=form.cap.data,
            repeatable=bool(form.repeatable.data),
            enabled=bool(form.enabled.data),
            params=form.params_value(),
        )

    before = rule.version
    ok, saved, status = _attempt(form, save)
    if ok:
        if saved.version != before:
            flash(
                _(
                    "Rule “%(name)s” saved as version %(version)d.",
                    name=rule_label(key),
                    version=saved.version,
                ),
                "success",
            )
        else:
            flash(_("Nothing changed."), "info")
        return redirect(url_for(".scoring_rule", key=key))
    rule = rules.get_rule(key)
    history = list(reversed(rules.revisions(key)))
    user_ids = {r.by_id for r in history if r.by_id}
    users = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    return render_template(
        "admin/scoring_rule.html",
        rule=rule,
        name=rule_label(key),
        form=form,
        history=history,
        users=users,
        params_text=lambda v: params_text(key, v),
    ), status


# --- keyword map -----------------------------------------------------------------------------


def _keyword_form() -> KeywordForm:
    form = KeywordForm()
    tags = set(CONTENT_TAG_LABELS)
    tags.update(
        r.target.partition(":")[2] for r in keywords.list_rules() if r.target.startswith("tag:")
    )
    form.set_targets(sorted(tags))
    return form


def _render_keywords(form: KeywordForm, status: int = 200):
    return render_template(
        "admin/keywords.html",
        form=form,
        keyword_rules=keywords.list_rules(),
        action_form=ActionForm(formdata=None),
    ), status


@bp.get("/keywords")
def keywords_page():
    return _render_keywords(_keyword_form())


@bp.post("/keywords")
def add_keyword():
    form = _keyword_form()
    ok, rule, status = _attempt(
        form,
        lambda: keywords.add_rule(form.keyword.data, form.target.data, by=current_user),
    )
    if ok:
        flash(_("Keyword “%(keyword)s” added.", keyword=rule.keyword), "success")
        return redirect(url_for(".keywords_page"))
    return _render_keywords(form, status)


@bp.post("/keywords/<int:rule_id>/remove")
def remove_keyword(rule_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    rule = db.session.get(KeywordRule, rule_id)
    if rule is None:
        abort(404)
    word = rule.keyword
    keywords.remove_rule(rule.keyword, rule.target, by=current_user)
    jobs.commit()
    flash(_("Keyword “%(keyword)s” removed.", keyword=word), "success")
    return redirect(url_for(".keywords_page"))


# --- webhooks --------------------------------------------------------------------------------


def _last_deliveries() -> dict[int, WebhookDelivery]:
    latest = select(func.max(WebhookDelivery.id)).group_by(WebhookDelivery.webhook_id)
    rows = db.session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(latest)))
    return {row.webhook_id: row for row in rows}


def _render_webhooks(form: WebhookForm, status: int = 200):
    return render_template(
        "admin/webhooks.html",
        form=form,
        hooks=webhooks.list_webhooks(),
        last=_last_deliveries(),
        event_labels=EVENT_LABELS,
        action_form=ActionForm(formdata=None),
    ), status


@bp.get("/webhooks")
def webhooks_page():
    return _render_webhooks(WebhookForm(formdata=None))


@bp.post("/webhooks")
def add_webhook():
    form = WebhookForm()
    ok, hook, status = _attempt(
        form,
        lambda: webhooks.create_webhook(form.url.data, form.events.data, by=current_user),
    )
    if not ok:
        return _render_webhooks(form, status)
    # The only time the secret is shown: this answer, never cached, never stored elsewhere.
    response = current_app.make_response(
        render_template("admin/webhook_created.html", hook=hook, event_labels=EVENT_LABELS)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/webhooks/<int:webhook_id>/remove")
def remove_webhook(webhook_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if not webhooks.remove_webhook(webhook_id, by=current_user):
        abort(404)
    jobs.commit()
    flash(_("Webhook removed."), "success")
    return redirect(url_for(".webhooks_page"))


# --- solution packs --------------------------------------------------------------------------


def _pack_form() -> SolutionPackForm:
    form = SolutionPackForm()
    form.template_id.choices = [SelectChoice(t.id, t.name) for t in packs.solution_templates()]
    return form


def _render_packs(form: SolutionPackForm, status: int = 200):
    return render_template(
        "admin/solution_packs.html",
        form=form,
        packs=packs.list_packs(),
        names={t.id: t.name for t in db.session.scalars(select(Template))},
        action_form=ActionForm(formdata=None),
    ), status


@bp.get("/solution-packs")
def solution_packs():
    return _render_packs(_pack_form())


@bp.post("/solution-packs")
def set_solution_pack():
    form = _pack_form()
    ok, pack, status = _attempt(
        form,
        lambda: packs.set_pack(form.industry.data, form.template_id.data, by=current_user),
    )
    if ok:
        flash(_("Solution pack for “%(industry)s” saved.", industry=pack.industry), "success")
        return redirect(url_for(".solution_packs"))
    return _render_packs(form, status)


@bp.post("/solution-packs/<int:pack_id>/remove")
def remove_solution_pack(pack_id: int):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if not packs.remove_pack(pack_id, by=current_user):
        abort(404)
    jobs.commit()
    flash(_("Solution pack removed."), "success")
    return redirect(url_for(".solution_packs"))


# --- audit log -------------------------------------------------------------------------------


# --- staff accounts ----------------------------------------------------------------------------


def _roles() -> list[tuple[str, Any]]:
    return [(role.value, ROLE_LABELS[role.value]) for role in Role]


def _user_form(formdata: Any = ...) -> UserForm:
    form = UserForm() if formdata is ... else UserForm(formdata=formdata)
    supervisors = db.session.scalars(
        select(User)
        .where(User.role.in_((Role.SUPERVISOR.value, Role.ADMIN.value)), User.active.is_(True))
        .order_by(User.name)
    )
    form.set_choices(_roles(), [(u.email, f"{u.name} ({u.email})") for u in supervisors])
    if formdata is None:
        form.role.data = Role.REP.value
    return form


def _change_form(user: User, formdata: Any = ...) -> UserChangeForm:
    prefix = f"u{user.id}"
    if formdata is ...:
        form = UserChangeForm(prefix=prefix)
    else:
        form = UserChangeForm(formdata=formdata, prefix=prefix, obj=user)
    form.set_choices(_roles())
    return form


def _render_users(
    form: UserForm, status: int = 200, failed: tuple[int, UserChangeForm] | None = None
):
    users = db.session.scalars(
        select(User).order_by(User.active.desc(), User.role, User.name, User.id)
    ).all()
    change_forms = {u.id: _change_form(u, formdata=None) for u in users}
    if failed is not None:  # the account whose change was refused: what the admin chose, and why
        change_forms[failed[0]] = failed[1]
    return render_template(
        "admin/users.html", form=form, users=users, change_forms=change_forms
    ), status


@bp.get("/users")
def users_page():
    return _render_users(_user_form(formdata=None))


@bp.post("/users")
def add_user():
    form = _user_form()
    ok, user, status = _attempt(
        form,
        lambda: create_user(
            form.email.data,
            name=form.name.data,
            role=form.role.data,
            password=form.password.data,
            supervisor_email=form.supervisor.data or None,
            team=form.team.data or None,
            region=form.region.data or None,
            by=current_user,
        ),
    )
    if ok:
        flash(_("Account %(email)s created.", email=user.email), "success")
        return redirect(url_for(".users_page"))
    return _render_users(form, status)


@bp.post("/users/<int:user_id>")
def change_user_page(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    form = _change_form(user)
    ok, changes, status = _attempt(
        form,
        lambda: change_user(
            user,
            by=current_user,
            role=form.role.data,
            team=form.team.data or "",
            region=form.region.data or "",
            active=form.active.data,
        ),
    )
    if ok:
        if changes:
            flash(_("%(email)s saved.", email=user.email), "success")
        else:
            flash(_("Nothing changed."), "info")
        return redirect(url_for(".users_page", _anchor=f"user-{user.id}"))
    return _render_users(_user_form(formdata=None), status, failed=(user.id, form))


@bp.get("/audit")
def audit_log():
    form = AuditFilterForm(formdata=request.args)
    try:
        found, status = audit.search(current_user, audit.AuditQuery.parse(request.args)), 200
    except PortalError as exc:
        _attach(form, exc)
        found, status = None, 422

    def page_url(page: int) -> str:
        return url_for(".audit_log", **{**request.args.to_dict(), "page": page})

    return render_template(
        "admin/audit.html",
        form=form,
        found=found,
        action_label=action_label,
        detail_text=detail_text,
        page_url=page_url,
    ), status


# --- privacy statement -----------------------------------------------------------------------


@bp.route("/privacy", methods=["GET", "POST"])
def privacy_statement():
    current = privacy_notice.statement()
    form = StatementForm(data={"url": current.url, "text": current.text})
    status = 200
    if form.validate_on_submit():
        try:
            privacy_notice.save_statement(current_user, form.url.data, form.text.data)
        except PortalError as exc:
            db.session.rollback()
            attach(form, exc)
            status = exc.status
        else:
            jobs.commit()
            flash(_("Privacy statement saved."), "success")
            return redirect(url_for(".privacy_statement"))
    elif form.is_submitted():
        status = 422
    return render_template(
        "admin/privacy.html", form=form, mode=privacy_notice.tracking_mode()
    ), status


# --- branding --------------------------------------------------------------------------------


@bp.route("/branding", methods=["GET", "POST"])
def branding_page():
    current = branding.brand()
    form = BrandForm(
        data={"company_name": current.company_name, "accent_color": current.accent_color}
    )
    status = 200
    if form.validate_on_submit():
        logo = form.logo.data.read() if form.logo.data else None
        try:
            branding.save_brand(
                current_user,
                form.company_name.data,
                form.accent_color.data,
                logo=logo,
                remove_logo=form.remove_logo.data,
            )
        except PortalError as exc:
            db.session.rollback()
            attach_brand_error(form, exc)
            status = exc.status
        else:
            jobs.commit()
            flash(_("Branding saved."), "success")
            return redirect(url_for(".branding_page"))
    elif form.is_submitted():
        status = 422
    return render_template("admin/branding.html", form=form, brand=current), status
