"""The rep's customers: the list, a new customer, one customer's page, sending and following up.

Every look-up goes through the services, which scope it to the signed-in user: a customer (or
delivery) outside their scope is a 404, exactly like one that does not exist. Sending, revoking
and replying each run one service call and commit through portal.jobs.commit (rendering and
e-mail run after the commit).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from babel.dates import format_timedelta
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal import jobs
from portal.accounts.models import Role
from portal.customers.forms import CustomerFilterForm, CustomerForm, RecommendForm
from portal.customers.forms import attach_error as attach_customer_error
from portal.customers.services import create_customer, get_customer, may_have_customers
from portal.db_types import utcnow
from portal.delivery import bundles, link_grants
from portal.delivery import comments as comment_service
from portal.delivery import services as delivery_services
from portal.delivery import visitors as visitor_service
from portal.delivery.forms import DeliveryActionForm, ReplyForm, SendForm
from portal.delivery.forms import attach_error as attach_delivery_error
from portal.delivery.models import Delivery
from portal.delivery.viewer import delivery_is_gone
from portal.errors import NotFound, PortalError
from portal.extensions import db
from portal.read_models import overview, score_view
from portal.read_models.accounts import group_by_account
from portal.recommendations import keywords as keyword_map
from portal.recommendations.service import matched_words
from portal.recommendations.service import recommend as recommend_templates

bp = Blueprint("customers", __name__, url_prefix="/customers")

RECENT_DAYS = 7  # "3 hours ago" within a week, a date beyond
SHOW_PASSCODE = "sent_passcode"  # a send's passcode, kept until the sent page shows it once
NO_EMAIL_HINT = _l("No e-mail address on file: send the link in your chat instead.")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


# --- helpers every staff page can use ------------------------------------------------------------


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    signed_in = bool(current_user and current_user.is_authenticated)
    return {"can_see_customers": signed_in and may_have_customers(current_user)}


@bp.app_template_filter("duration")
def duration(seconds: int | float | None) -> str:
    """12 s, 3 min 5 s, 1 h 20 min, in the reader's language."""
    total = max(0, round(seconds or 0))
    if total < 60:
        text = _("%(s)d s", s=total)
    elif total < 3600:
        minutes, secs = divmod(total, 60)
        text = _("%(m)d min %(s)d s", m=minutes, s=secs) if secs else _("%(m)d min", m=minutes)
    else:
        hours, minutes = divmod(total // 60, 60)
        text = _("%(h)d h %(m)d min", h=hours, m=minutes)
    return text.replace(" ", "\u00a0")  # never broken across lines


@bp.app_template_filter("ago")
def ago(value: datetime | None) -> str:
    """Like "3 minutes ago" within a week, else the date and time."""
    if value is None:
        return ""
    delta = utcnow() - value
    if delta < timedelta(0):
        delta = timedelta(0)
    if delta < timedelta(seconds=45):
        return _("just now")
    if delta < timedelta(days=RECENT_DAYS):
        return format_timedelta(
            -delta, add_direction=True, threshold=0.9, format="short", locale=get_locale()
        )
    return format_datetime(value, "yyyy-MM-dd HH:mm")


@bp.app_template_global("path_of")
def path_of(url: str | None) -> str:
    """The path of one of our absolute URLs, for <img> and download links on this host."""
    if not url:
        return ""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _may_have_customers() -> None:
    if not may_have_customers(current_user):
        abort(403)


# --- the list and a new customer -----------------------------------------------------------------


@bp.get("/")
def index():
    form = CustomerFilterForm(formdata=request.args)
    picks_owner = current_user.role in (Role.SUPERVISOR, Role.ADMIN)
    owners = overview.assignable_owners(current_user) if picks_owner else []
    form.set_owners(owners)
    rows = []
    matching = 0
    if may_have_customers(current_user):
        rows = overview.list_customers(current_user, form.q.data, form.owner_id)
        matching = overview.count_matching(current_user, form.q.data, form.owner_id)
    by_account = request.args.get("group") == "account"
    return render_template(
        "customers/index.html",
        form=form,
        rows=rows,
        groups=group_by_account(rows) if by_account else None,
        show_owner=picks_owner,
        limit=overview.LIST_LIMIT,
        matching=matching,
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    _may_have_customers()
    form = CustomerForm()
    picks_owner = current_user.role != Role.REP
    form.set_owners(overview.assignable_owners(current_user), choose=picks_owner)
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            try:
                customer = create_customer(current_user, form.to_fields(), form.owner_email())
            except PortalError as exc:
                db.session.rollback()
                attach_customer_error(form, exc)
                status = exc.status
            else:
                jobs.commit()
                flash(_("Customer “%(name)s” added.", name=customer.name), "success")
                return redirect(url_for(".detail", customer_id=customer.id))
    return render_template("customers/new.html", form=form, picks_owner=picks_owner), status


# --- one customer ------------------------------------------------------------------------------


def _send_form(templates: list, formdata: Any = None) -> SendForm:
    form = SendForm() if formdata is None else SendForm(formdata=formdata)
    form.set_templates(templates)
    return form


def _render_detail(
    customer_id: int,
    *,
    send_form: SendForm | None = None,
    reply_form: tuple[int, ReplyForm] | None = None,
    recommend_form: RecommendForm | None = None,
    suggestions: dict[str, Any] | None = None,
    status: int = 200,
):
    page = overview.customer_page(current_user, customer_id)
    templates = overview.sendable_templates(current_user)
    if send_form is None:
        send_form = _send_form(templates, formdata=None)
        wanted = request.args.get("template", type=int)
        if wanted and any(t.id == wanted for t in templates):
            send_form.template_id.data = wanted
    if not page.customer.email:
        send_form.send_email.render_kw = {"disabled": True}
        send_form.send_email.description = NO_EMAIL_HINT
    elif not send_form.send_email.description:
        send_form.send_email.description = _("To %(email)s", email=page.customer.email)
    replies = {
        view.id: ReplyForm(formdata=None, prefix=f"reply-{view.id}")
        for view in page.deliveries
        if view.comments
    }
    if reply_form is not None:
        replies[reply_form[0]] = reply_form[1]
    html = render_template(
        "customers/detail.html",
        page=page,
        customer=page.customer,
        send_form=send_form,
        has_templates=bool(templates),
        reply_forms=replies,
        action_form=DeliveryActionForm(formdata=None),
        score=score_view.score_view(page.customer.id),
        recommend_form=recommend_form or RecommendForm(formdata=None),
        suggestions=suggestions,
    )
    jobs.commit()  # after rendering (committing expires every loaded row): the portal link
    return html, status


@bp.get("/<int:customer_id>")
def detail(customer_id: int):
    return _render_detail(customer_id)


@bp.post("/<int:customer_id>/send")
def send(customer_id: int):
    customer = get_customer(current_user, customer_id)  # 404 before anything else
    form = _send_form(overview.sendable_templates(current_user))
    if not form.validate():
        return _render_detail(customer_id, send_form=form, status=422)
    try:
        sent = bundles.send_any(current_user, form.to_request(customer.id))
    except PortalError as exc:
        db.session.rollback()
        attach_delivery_error(form, exc)
        return _render_detail(customer_id, send_form=form, status=exc.status)
    jobs.commit()
    passcode = form.to_request(customer.id).passcode
    if isinstance(sent, bundles.SentBundle):
        bundle_id = sent.bundle.id
        if passcode:
            session[SHOW_PASSCODE] = {"bundle_id": bundle_id, "passcode": passcode}
        return redirect(url_for(".sent_bundle", customer_id=customer_id, bundle_id=bundle_id))
    delivery_id = sent.delivery.id
    if passcode:  # stored only hashed: the next page shows it to the rep, once
        session[SHOW_PASSCODE] = {"delivery_id": delivery_id, "passcode": passcode}
    return redirect(url_for(".sent", customer_id=customer_id, delivery_id=delivery_id))


def _passcode_to_show(kind: str, sent_id: int) -> str | None:
    """The passcode the send just made for this delivery or bundle, shown once (then gone)."""
    if (session.get(SHOW_PASSCODE) or {}).get(kind) != sent_id:
        return None
    return session.pop(SHOW_PASSCODE)["passcode"]


def _bundle_of(customer_id: int, bundle_id: int):
    """A bundle of this customer that the user may see; 404 otherwise."""
    bundle = bundles.get_bundle(current_user, bundle_id)
    if bundle.customer_id != customer_id:
        raise NotFound("bundle not found")
    return bundle


@bp.get("/<int:customer_id>/bundles/<int:bundle_id>")
def sent_bundle(customer_id: int, bundle_id: int):
    """A bundle just sent (or looked up again): its one link and each document's."""
    bundle = _bundle_of(customer_id, bundle_id)
    passcode = _passcode_to_show("bundle_id", bundle.id)
    html = render_template(
        "customers/sent_bundle.html",
        passcode=passcode,
        bundle=bundle,
        customer=bundle.customer,
        sent=bundles.sent_bundle(bundle),
        revoked=bundles.is_revoked(bundle),
        action_form=DeliveryActionForm(formdata=None),
    )
    jobs.commit()  # the portal link may have been created for the page
    return html


@bp.post("/<int:customer_id>/bundles/<int:bundle_id>/revoke")
def revoke_bundle(customer_id: int, bundle_id: int):
    _bundle_of(customer_id, bundle_id)
    form = DeliveryActionForm()
    if not form.validate():
        abort(400)
    reason = link_grants.parse_reason(form.reason.data)
    bundles.revoke_bundle(current_user, bundle_id, reason)
    jobs.commit()
    flash(_("The bundle is withdrawn: its link and its documents no longer open."), "success")
    return redirect(url_for(".sent_bundle", customer_id=customer_id, bundle_id=bundle_id))


@bp.post("/<int:customer_id>/recommend")
def recommend(customer_id: int):
    """Templates for the customer's pasted chat message, each with the words that matched."""
    customer = get_customer(current_user, customer_id)
    form = RecommendForm()
    if not form.validate():
        return _render_detail(customer_id, recommend_form=form, status=422)
    items = recommend_templates(current_user, customer, form.text.data)
    matched = [] if items else matched_words(form.text.data)
    understood = [] if items or matched else sorted(keyword_map.load_map())
    suggestions = {"found": items, "matched": matched, "keywords": understood}
    return _render_detail(customer_id, recommend_form=form, suggestions=suggestions)


def _delivery_of(customer_id: int, delivery_id: int) -> Delivery:
    """A delivery of this customer that the user may see; 404 otherwise."""
    delivery = delivery_services.get_delivery(current_user, delivery_id)
    if delivery.customer_id != customer_id:
        raise NotFound("delivery not found")
    return delivery


@bp.get("/<int:customer_id>/sent/<int:delivery_id>")
def sent(customer_id: int, delivery_id: int):
    delivery = _delivery_of(customer_id, delivery_id)
    view = delivery_services.sent_view(delivery)
    passcode = _passcode_to_show("delivery_id", delivery.id)
    html = render_template(
        "customers/sent.html",
        passcode=passcode,
        delivery=delivery,
        customer=delivery.customer,
        sent=view,
        revoked=delivery.revoked_at is not None,
        gone=delivery_is_gone(delivery),
    )
    jobs.commit()  # the portal link may have been created for the page
    return html


@bp.post("/<int:customer_id>/deliveries/<int:delivery_id>/revoke")
def revoke(customer_id: int, delivery_id: int):
    _delivery_of(customer_id, delivery_id)
    form = DeliveryActionForm()
    if not form.validate():
        abort(400)
    reason = link_grants.parse_reason(form.reason.data)
    delivery = delivery_services.revoke(current_user, delivery_id, reason)
    name = delivery.template.name
    jobs.commit()
    flash(_("“%(name)s” is withdrawn: its link no longer opens.", name=name), "success")
    if reason == link_grants.RevokeReason.LEAKED:
        flash(_("The customer's portal link was replaced too: send them the new one."), "success")
    return redirect(url_for(".detail", customer_id=customer_id, _anchor=f"d{delivery_id}"))


@bp.post("/<int:customer_id>/visitors/<int:visitor_id>/merge")
def merge_visitor(customer_id: int, visitor_id: int):
    """A forwarded reader is one of the account's contacts: their reading becomes theirs."""
    get_customer(current_user, customer_id)
    form = DeliveryActionForm()
    contact_id = request.form.get("contact_id", type=int)
    if not form.validate() or contact_id is None:
        abort(400)
    visitor = visitor_service.merge(current_user, visitor_id, contact_id)
    jobs.commit()
    flash(_("The reader was merged: their reading now counts for that contact."), "success")
    return redirect(url_for(".detail", customer_id=customer_id, _anchor=f"d{visitor.delivery_id}"))


@bp.post("/<int:customer_id>/portal-link/rotate")
def rotate_portal_link(customer_id: int):
    form = DeliveryActionForm()
    if not form.validate():
        abort(400)
    link_grants.rotate_portal_link(current_user, customer_id)
    jobs.commit()
    flash(_("The old portal link no longer opens. Send the customer the new one."), "success")
    return redirect(url_for(".detail", customer_id=customer_id, _anchor="h-portal"))


@bp.post("/<int:customer_id>/deliveries/<int:delivery_id>/reply")
def reply(customer_id: int, delivery_id: int):
    delivery = _delivery_of(customer_id, delivery_id)
    form = ReplyForm(prefix=f"reply-{delivery_id}")
    status = 422
    if form.validate():
        try:
            comment_service.add_staff_reply(current_user, delivery, form.text.data)
        except PortalError as exc:
            db.session.rollback()
            attach_delivery_error(form, exc)
            status = exc.status
        else:
            jobs.commit()
            flash(_("Reply sent. The customer sees it on their page."), "success")
            return redirect(
                url_for(".detail", customer_id=customer_id, _anchor=f"thread-{delivery_id}")
            )
    return _render_detail(customer_id, reply_form=(delivery_id, form), status=status)
