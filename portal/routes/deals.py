"""Staff pages for deals: the pipeline, one deal (evidence, notes, stage moves, approvals),
the forecast with its deviation heatmap, and finance's and legal's approval list.

Routes parse the form, call one service and redirect; a rule's refusal is flashed in the
reader's language (portal.deals.errors.DealRefused carries the values to say it)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from babel.lists import format_list
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_decimal, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.http import dump_options_header

from portal import error_catalogue, jobs
from portal.accounts.forms import ROLE_LABELS
from portal.accounts.models import Role
from portal.customers.models import Customer
from portal.customers.services import visible_to as customers_visible_to
from portal.deals import approvals, evidence, forecast, probabilities, services
from portal.deals.errors import DealRefused
from portal.deals.scope import can_send_back, can_work, get_deal
from portal.deals.stages import OPEN_STAGES, SPECS, label, next_stage, previous_stage
from portal.deals.views import view_of, views_of
from portal.engagement.facts import timezone as local_zone
from portal.errors import PortalError, ValidationFailed
from portal.exchange.columns import lang
from portal.extensions import db
from portal.read_models.forecast_charts import forecast_charts, short_amount

bp = Blueprint("deals", __name__, url_prefix="/deals")

FORECAST_ROLES = (Role.REP, Role.SUPERVISOR, Role.ADMIN)


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if current_user.role == Role.MARKETING:
        abort(404)
    return None


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    signed_in = bool(current_user and current_user.is_authenticated)
    return {"can_see_deals": signed_in and current_user.role != Role.MARKETING}


@bp.app_template_filter("minor_money")
def minor_money(minor: object) -> str:
    """Minor units (int or Decimal) as a grouped major-unit amount: 68000050 -> 680,000.50."""
    return format_decimal(Decimal(str(minor)) / 100, format="#,##0.00")


@bp.app_template_filter("page_money")
def page_money(minor: object) -> str:
    """An amount as the page's reader counts: zh pages in 万 / 亿 (1,090,000 -> 109 万), English
    pages the whole figure (680,000.50); templates put the whole figure in the tooltip."""
    if lang() == "zh":
        return short_amount(Decimal(str(minor)), "zh")
    return minor_money(minor)


@bp.app_template_filter("stage_label")
def stage_label(stage: str) -> str:
    return label(stage)


def refusal_text(exc: PortalError) -> str:
    """The refusal in the reader's language. Three of the deal rules' sentences name stages and
    roles by their labels, which the deals pages know; every other sentence (and a plainer one
    for these three) is the error catalogue's."""
    p = exc.params if isinstance(exc, DealRefused) else {}
    texts = {
        "evidence_missing": lambda: _(
            "Cannot enter %(stage)s: the evidence is missing — %(evidence)s. Add it first.",
            stage=label(p["stage"]),
            evidence=SPECS[p["stage"]].evidence_label,
        ),
        "stage_skipped": lambda: _(
            "Stages cannot be skipped: from %(stage)s the next stage is %(next)s.",
            stage=label(p["stage"]),
            next=label(p["next"]) if p["next"] else _("won or lost"),
        ),
        "approval_pending": lambda: _(
            "This deal is above the approval threshold: it cannot be won until finance and "
            "legal approve. Still waiting for: %(waiting)s.",
            waiting=format_list(
                [str(ROLE_LABELS.get(r.strip(), r.strip())) for r in p["waiting"].split(",")],
                locale=get_locale(),
            ),
        ),
    }
    return texts[exc.code]() if exc.code in texts else error_catalogue.message_for(exc)


def _back(deal_id: int, anchor: str | None = None) -> Response:
    return redirect(url_for(".detail", deal_id=deal_id, _anchor=anchor))


def _act(deal_id: int, action, success: str, anchor: str | None = None) -> Response:
    """Run one service call on the deal; flash its refusal or commit and flash success."""
    deal = get_deal(current_user, deal_id)
    try:
        action(deal)
    except PortalError as exc:
        if exc.status == 404:
            raise
        db.session.rollback()
        flash(refusal_text(exc), "error")
        return _back(deal_id, anchor)
    jobs.commit()
    flash(success, "success")
    return _back(deal_id, anchor)


# --- the pipeline -------------------------------------------------------------------------------


@bp.get("")
def index():
    views = views_of(services.list_deals(current_user))
    columns = [
        (stage, label(stage), [v for v in views if v.deal.stage == stage])
        for stage in (*OPEN_STAGES, "won", "lost")
    ]
    return render_template(
        "deals/index.html",
        columns=columns,
        can_create=current_user.role in FORECAST_ROLES,
        total=len(views),
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    if current_user.role not in FORECAST_ROLES:
        abort(404)
    customers = db.session.scalars(
        select(Customer).where(customers_visible_to(current_user)).order_by(Customer.name)
    ).all()
    values = request.form if request.method == "POST" else request.args
    if request.method == "POST":
        try:
            deal = services.create_deal(
                current_user,
                services.DealFields(
                    customer_id=_int(values.get("customer_id"), _("customer")),
                    title=values.get("title", ""),
                    amount=values.get("amount", ""),
                    expected_close=_day(values.get("expected_close", "")),
                    currency=values.get("currency", "CNY"),
                    next_meeting_at=_local_time(values.get("next_meeting_at", "")),
                ),
                _upload("initial_contact", values.get("meeting_notes", "")),
            )
        except PortalError as exc:
            db.session.rollback()
            flash(refusal_text(exc), "error")
        else:
            jobs.commit()
            flash(_("Deal created."), "success")
            return redirect(url_for(".detail", deal_id=deal.id))
    return render_template("deals/new.html", customers=customers, values=values)


def _int(raw: str | None, what: str) -> int:
    try:
        return int(raw or "")
    except ValueError:
        raise ValidationFailed(
            _("Choose a %(what)s.", what=what), code="choice_required", what=what
        ) from None


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed(
            _("Give the expected close date."), code="bad_date", field="expected_close"
        ) from None


def _local_time(raw: str) -> datetime | None:
    """A datetime-local input (the portal's time zone) as an aware datetime."""
    if not raw.strip():
        return None
    try:
        return datetime.fromisoformat(raw.strip()).replace(tzinfo=local_zone())
    except ValueError:
        raise ValidationFailed(
            _("The meeting time is not a valid date and time."),
            code="bad_datetime",
            field="next_meeting_at",
        ) from None


def _upload(stage: str, note: str) -> evidence.EvidenceInput:
    upload = request.files.get("file")
    data = upload.read() if upload and upload.filename else None
    return evidence.EvidenceInput(
        stage=stage,
        note=note,
        filename=upload.filename if data else None,
        data=data or None,
        content_type=upload.mimetype if data else None,
    )


# --- one deal -----------------------------------------------------------------------------------


@bp.get("/<int:deal_id>")
def detail(deal_id: int):
    deal = get_deal(current_user, deal_id)
    target = next_stage(deal.stage) if deal.stage in OPEN_STAGES else None
    return render_template(
        "deals/detail.html",
        view=view_of(deal),
        deal=deal,
        evidence=evidence.evidence_of(deal),
        notes=services.notes_of(deal),
        history=services.history_of(deal),
        approvals=approvals.approvals_of(deal),
        next_stage=target,
        previous_stage=previous_stage(deal.stage) if deal.stage in OPEN_STAGES else None,
        can_work=can_work(current_user, deal),
        can_send_back=can_send_back(current_user, deal),
        may_decide=lambda role: approvals.may_decide(current_user, deal, role),
        needs_approval=approvals.needs_approval(deal),
        open_stages=OPEN_STAGES,
        specs=SPECS,
    )


@bp.post("/<int:deal_id>/evidence")
def add_evidence(deal_id: int):
    def run(deal):
        evidence.add_evidence(
            deal,
            current_user,
            _upload(request.form.get("stage", ""), request.form.get("note", "")),
        )

    return _act(deal_id, run, _("Evidence added."), "evidence")


@bp.get("/<int:deal_id>/evidence/<int:evidence_id>/file")
def evidence_file(deal_id: int, evidence_id: int):
    """Always a download (never rendered inline: the file came from a user)."""
    row, data = evidence.evidence_file(get_deal(current_user, deal_id), evidence_id)
    response = Response(data, mimetype="application/octet-stream")
    response.headers["Content-Disposition"] = dump_options_header(
        "attachment", {"filename*": f"UTF-8''{quote(row.filename or 'evidence', safe='')}"}
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@bp.post("/<int:deal_id>/notes")
def add_note(deal_id: int):
    text, source = request.form.get("text", ""), request.form.get("source", "note")
    return _act(
        deal_id,
        lambda deal: services.add_note(current_user, deal, text, source),
        _("Note saved."),
        "notes",
    )


@bp.post("/<int:deal_id>/next-meeting")
def next_meeting(deal_id: int):
    raw = request.form.get("at", "")
    return _act(
        deal_id,
        lambda deal: services.set_next_meeting(current_user, deal, _local_time(raw)),
        _("Next meeting saved."),
        "notes",
    )


@bp.post("/<int:deal_id>/edit")
def edit(deal_id: int):
    form = request.form

    def run(deal):
        raw_close = form.get("expected_close", "")
        correction = services.DealEdit(
            title=form.get("title"),
            amount=form.get("amount"),
            currency=form.get("currency"),
            expected_close=_day(raw_close) if raw_close.strip() else None,
        )
        return services.update_deal(current_user, deal, correction)

    return _act(deal_id, run, _("Deal saved."))  # the page top: the flash and the new figures


@bp.post("/<int:deal_id>/advance")
def advance(deal_id: int):
    to_stage = request.form.get("to_stage") or None
    return _act(
        deal_id,
        lambda deal: services.advance(current_user, deal, to_stage),
        _("The deal moved to the next stage."),
    )


@bp.post("/<int:deal_id>/send-back")
def send_back(deal_id: int):
    reason = request.form.get("reason", "")
    return _act(
        deal_id,
        lambda deal: services.send_back(current_user, deal, reason),
        _("The deal was sent back one stage."),
    )


@bp.post("/<int:deal_id>/won")
def won(deal_id: int):
    return _act(deal_id, lambda deal: services.mark_won(current_user, deal), _("Deal won."))


@bp.post("/<int:deal_id>/lost")
def lost(deal_id: int):
    reason = request.form.get("reason", "")
    return _act(
        deal_id, lambda deal: services.mark_lost(current_user, deal, reason), _("Deal lost.")
    )


@bp.post("/<int:deal_id>/approvals/<role>")
def decide(deal_id: int, role: str):
    decision, note = request.form.get("decision", ""), request.form.get("note", "")
    return _act(
        deal_id,
        lambda deal: approvals.decide(current_user, deal, role, decision, note),
        _("Decision recorded."),
        "approvals",
    )


# --- approvals, forecast ------------------------------------------------------------------------


@bp.get("/approvals")
def approval_list():
    if current_user.role not in (Role.FINANCE, Role.LEGAL):
        abort(404)
    return render_template("deals/approvals.html", approvals=approvals.pending_for(current_user))


@bp.get("/forecast")
def forecast_page():
    if current_user.role not in FORECAST_ROLES:
        abort(404)
    currency = current_app.config.get("DEAL_CURRENCY", "CNY")
    tables = [(group, forecast.forecast(current_user, group)) for group in forecast.GROUPS]
    team = current_user.team if current_user.role == Role.SUPERVISOR else None
    heatmap = forecast.deviation_heatmap(current_user, currency)
    return render_template(
        "deals/forecast.html",
        tables=tables,
        heatmap=heatmap,
        charts=forecast_charts(current_user, currency, heatmap),
        currency=currency,
        team=team,
        team_table=probabilities.team_table(team) if team else None,
        specs=SPECS,
        open_stages=OPEN_STAGES,
    )


@bp.post("/probabilities")
def tune_probability():
    if current_user.role not in (Role.SUPERVISOR, Role.ADMIN):
        abort(404)
    try:
        probabilities.set_probability(
            current_user,
            request.form.get("team", "").strip(),
            request.form.get("stage", ""),
            _int(request.form.get("probability"), _("probability")),
        )
    except PortalError as exc:
        db.session.rollback()
        flash(refusal_text(exc), "error")
    else:
        jobs.commit()
        flash(_("Probability saved."), "success")
    return redirect(url_for(".forecast_page", _anchor="tuning"))
