"""Bulk sends on the staff pages: the customers chosen on the list (or an uploaded list), the
send form, the batch's progress page and the JSON its script polls, and the retry of the
failed. The rules (who may be sent to, the batch's limits, each customer's send) are
portal.delivery.bulk's."""

from __future__ import annotations

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
from flask_login import current_user

from portal import jobs
from portal.delivery import bulk
from portal.delivery.forms import BulkSendForm, DeliveryActionForm
from portal.delivery.forms import attach_error as attach_delivery_error
from portal.delivery.models import BulkItemStatus
from portal.error_catalogue import sentence
from portal.errors import PortalError
from portal.exchange.reading import SheetLimits
from portal.extensions import db
from portal.read_models import overview

bp = Blueprint("bulk_sends", __name__, url_prefix="/customers/bulk")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


def _chosen() -> list[int]:
    """The customers ticked on the list, or every one matching its filter ("all"): read
    through the list's own read model, so only customers the user may see."""
    values = request.values
    if values.get("all") == "1":
        owner = values.get("owner", type=int)
        return overview.matching_ids(
            current_user, values.get("q") or None, owner, limit=bulk.MAX_BATCH + 1
        )
    return bulk.unique(int(v) for v in values.getlist("customer_id") if v.isdigit())


def _form_page(form: BulkSendForm, chosen: list[int], status: int = 200):
    form.set_templates(overview.sendable_templates(current_user))
    keep = {k: request.values.get(k) for k in ("all", "q", "owner") if request.values.get(k)}
    return render_template(
        "customers/bulk_new.html", form=form, chosen=chosen, keep=keep, limit=bulk.MAX_BATCH
    ), status


def _confirm_page(form: BulkSendForm, ids: list[int]):
    """The customers an uploaded list matched, named, before the batch is made: confirming
    posts them back by id (no file) with the same options."""
    return render_template(
        "customers/bulk_confirm.html",
        form=form,
        ids=ids,
        names=bulk.names_of(ids),
        template=dict(form.template_id.choices or []).get(form.template_id.data),
    )


@bp.get("/new")
def new():
    return _form_page(BulkSendForm(formdata=None), _chosen())


@bp.post("/new")
def create():
    form = BulkSendForm()
    chosen = _chosen()
    form.set_templates(overview.sendable_templates(current_user))
    if not form.validate():
        return _form_page(form, chosen, 422)
    upload = form.file.data
    try:
        if upload and upload.filename:  # an uploaded list: shown for confirmation first
            listed = bulk.read_list(upload.read(), SheetLimits.from_config(current_app.config))
            ids = bulk.resolve(
                current_user,
                chosen + listed.ids,
                emails=listed.emails,
                email_rows=listed.rows,
            )
            return _confirm_page(form, ids)
        batch = bulk.create(
            current_user,
            form.template_id.data or 0,
            form.to_options(),
            customer_ids=chosen,
        )
    except PortalError as exc:
        db.session.rollback()
        attach_delivery_error(form, exc)
        return _form_page(form, chosen, exc.status)
    batch_id = batch.id
    jobs.commit()
    return redirect(url_for(".progress_page", batch_id=batch_id))


def _progress_json(batch) -> dict:
    counts = bulk.progress(batch)
    failures = [
        {
            "customer": item.customer.name,
            "url": url_for("customers.detail", customer_id=item.customer_id),
            "reason": sentence(item.error_code or "", bulk.error_params(item)) or "",
        }
        for item in bulk.items(batch, status=BulkItemStatus.FAILED)
    ]
    return {
        "total": counts.total,
        "done": counts.done,
        "failed": counts.failed,
        "finished": counts.finished,
        "retry": (bool(failures) and counts.finished) or bulk.has_stale(batch),
        "failures": failures,
    }


@bp.get("/<int:batch_id>")
def progress_page(batch_id: int):
    batch = bulk.get(current_user, batch_id)
    return render_template(
        "customers/bulk_progress.html",
        batch=batch,
        progress=_progress_json(batch),
        action_form=DeliveryActionForm(formdata=None),
    )


@bp.get("/<int:batch_id>/progress.json")
def progress_json(batch_id: int):
    return _progress_json(bulk.get(current_user, batch_id))


@bp.post("/<int:batch_id>/retry")
def retry(batch_id: int):
    if not DeliveryActionForm().validate():  # the button's CSRF token
        abort(400)
    count = bulk.retry_failed(current_user, batch_id)
    jobs.commit()
    flash(_("%(num)d failed sends are being tried again.", num=count), "success")
    return redirect(url_for(".progress_page", batch_id=batch_id))
