"""What customers open: their portal home, the document viewer and its pages, file, links, QR.

Customers have no account; a signed token in the URL is their key (portal.delivery.viewer
resolves it). Pages follow the browser's language. Every failure is a small friendly page in
that language (templates/customer/gone.html): 404 for an unknown or tampered token, 410 for an
expired or withdrawn one, nothing more said.
"""

from __future__ import annotations

import logging
import re

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import BuildError
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import InputRequired

from portal import i18n, jobs
from portal.accounts.services import user_for_token
from portal.branding import images as brand_images
from portal.branding import rep_cards
from portal.branding import service as branding
from portal.delivery import (
    bundles,
    download_gate,
    link_grants,
    open_confirmation,
    passcodes,
    sending,
    served_files,
    share_cards,
    visitors,
)
from portal.delivery import comments as comment_service
from portal.delivery import portal_home as portal_service
from portal.delivery import viewer as viewer_service
from portal.delivery.comments import MAX_COMMENT_LENGTH
from portal.errors import NotFound, PortalError, ValidationFailed
from portal.extensions import db
from portal.privacy import notice as privacy_notice
from portal.routes import rate_limits
from portal.tracking import devices, links

log = logging.getLogger(__name__)
bp = Blueprint("customer", __name__)

COLLECT_URL = "/t/r"  # the ingest endpoint's public path (DESIGN.md), if its route is missing
CONFIRM_URL = "/t/o"  # where the viewer confirms an open (portal.delivery.open_confirmation)
VISIT_URL = "/t/p"  # where the portal page confirms a visit (portal.delivery.portal_visits)
PAGE_MAX_AGE = 24 * 3600  # page images carry their version in the URL (?v=), so they may stay
QR_MAX_AGE = 3600
THUMB_MAX_AGE = 3600  # sample data only; an ended link's card answers 410 within the hour
BRAND_IMAGE_MAX_AGE = 30 * 24 * 3600  # the key names the content: it never changes


class VisitorForm(FlaskForm):
    name = StringField()  # checked by the service (portal.delivery.visitors.VisitorCard)
    title = StringField()
    contact = StringField()


class PasscodeForm(FlaskForm):
    passcode = StringField()  # checked by the service (portal.delivery.passcodes)


class CommentForm(FlaskForm):
    delivery_id = IntegerField(validators=[InputRequired()])
    text = TextAreaField()  # checked by the service (1 to 2000 characters)


def _render(template: str, status: int = 200, **context) -> Response:
    """Render in the browser's language (never a staff member's saved choice), with the
    company's brand (portal.branding)."""
    context.setdefault("brand", branding.brand())
    with force_locale(i18n.browser_locale()):
        response = make_response(render_template(template, **context), status)
    return response


def _in_wechat() -> bool:
    return devices.in_wechat(request.user_agent.string)


def _known_device() -> str | None:
    """This browser's device id from its cookie (portal.delivery.visitors), if it has one."""
    return open_confirmation.device_of(request.cookies.get(visitors.DEVICE_COOKIE))


# nginx's $request_id: 32 hex digits (deploy/nginx/portal.conf sets X-Request-Id to it)
_PROXY_REQUEST_ID = re.compile(r"[0-9a-f]{32}")


def _proxy_request_id() -> str | None:
    """The request id the proxy in front gave this request, when there is one (PORTAL_PROXY_FIX
    set: the proxy overwrites whatever the client sent). nginx sends a request again, with the
    same id, when the upstream connection it used broke before the answer (a gunicorn worker
    killed mid-request); the id makes the second pass record nothing new."""
    if not current_app.config.get("PROXY_FIX"):
        return None
    value = request.headers.get("X-Request-Id", "")
    return value if _PROXY_REQUEST_ID.fullmatch(value) else None


def _grants() -> list[str]:
    """The deliveries whose passcode this browser entered (portal.delivery.passcodes)."""
    return passcodes.grants_of(request.cookies.get(passcodes.COOKIE))


def _device() -> tuple[str, bool]:
    """This browser's device id, and whether it is new (then the response sets the cookie)."""
    known = _known_device()
    return (known, False) if known else (visitors.new_device_id(), True)


def _keep_device(response: Response, device: str, new: bool) -> Response:
    """A first-party, long-lived, HttpOnly device cookie (Secure over https)."""
    if new:
        response.set_cookie(
            visitors.DEVICE_COOKIE,
            device,
            max_age=visitors.DEVICE_COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
    return response


def _staff_id() -> int | None:
    """The staff member behind this request, if any: a signed-in session (any role) or a
    valid API token. Their views of customer links are internal, never the customer's."""
    cookies = request.cookies
    config = current_app.config
    if (
        config["SESSION_COOKIE_NAME"] not in cookies
        and config.get("REMEMBER_COOKIE_NAME", "remember_token") not in cookies
        and "Authorization" not in request.headers
    ):
        # Nobody can be signed in without one of these: skip Flask-Login's session load (a
        # customer's download or page image, the busiest requests; ~20 µs of ~300).
        return None
    if current_user.is_authenticated:
        return int(current_user.id)
    scheme, _sep, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        user = user_for_token(credentials.strip())
        return user.id if user is not None else None
    return None


def _audience() -> tuple[viewer_service.Audience, int | None]:
    """Who this request is (the customer's reader, staff, or a robot), and the staff id."""
    staff_id = _staff_id()
    return viewer_service.audience_of(request.method, request.user_agent.string, staff_id), staff_id


def _is_reader() -> bool:
    """Record what this request does as the customer's: a reader that is not staff."""
    return _audience()[0] == viewer_service.Audience.CUSTOMER


def _collect_url() -> str:
    try:
        return url_for("tracking.collect")
    except BuildError:
        return COLLECT_URL


def _visit_url() -> str:
    try:
        return url_for("tracking.confirm_visit")
    except BuildError:
        return VISIT_URL


def _confirm_url() -> str:
    try:
        return url_for("tracking.confirm")
    except BuildError:
        return CONFIRM_URL


# --- errors: one friendly page, no detail ---------------------------------------------------


def _error_page(status: int, *, locked: bool = False) -> Response:
    db.session.rollback()
    back_url = None
    token = (request.view_args or {}).get("token")
    if token and (locked or (status == 403 and request.endpoint == "customer.download")):
        back_url = url_for(".viewer", token=token)
    return _render(
        "customer/gone.html", status=status, status_code=status, back_url=back_url, locked=locked
    )


@bp.errorhandler(PortalError)
def _portal_error(exc: PortalError) -> Response:
    return _error_page(exc.status, locked=isinstance(exc, passcodes.PasscodeRequired))


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    if status >= 500:
        cause = exc.original_exception if isinstance(exc, InternalServerError) else None
        log.error("%s on %s %s", status, request.method, request.path, exc_info=cause)
    return _error_page(status)


@bp.after_request
def _private(response: Response) -> Response:
    # Tokens live in these URLs: never hand them to another site, a search engine or a cache.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if "Cache-Control" not in response.headers or response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


# --- portal home ----------------------------------------------------------------------------


@bp.app_context_processor
def _privacy_notice() -> dict:
    """The recording notice's link (read only by the pages that show the notice)."""

    def privacy_link() -> dict[str, object]:
        found = privacy_notice.statement()
        if found.url:
            return {"url": found.url, "external": True}
        return {"url": url_for("customer.privacy_statement"), "external": False}

    return {"privacy_link": privacy_link, "tracking_mode": privacy_notice.tracking_mode}


@bp.get("/privacy")
def privacy_statement() -> Response:
    """The company's privacy statement as an admin wrote it (or Portal's standard text)."""
    return _render("customer/privacy.html", text=privacy_notice.statement().text)


@bp.get("/p/<token>")
@rate_limits.limit("OPEN_RATE_LIMIT", rate_limits.path_token)  # each GET stores a preview row
@rate_limits.limit("OPEN_ADDRESS_RATE_LIMIT", rate_limits.address)
def portal_home(token: str) -> Response:
    link, customer = link_grants.resolve_portal_link(token)
    audience, staff_id = _audience()
    device, new_device = _device()  # POST /t/p reads it: whose visit it is
    page = portal_service.visit_portal(
        customer,
        via=link,
        record=audience == viewer_service.Audience.CUSTOMER,
        staff_id=staff_id if audience == viewer_service.Audience.INTERNAL else None,
        grants=_grants(),
    )
    return _keep_device(_portal_page(token, link, customer, page), device, new_device)


def _portal_page(
    token: str,
    link,
    customer,
    page,
    *,
    draft: tuple[int, str] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The portal page; `draft` (delivery id, text): a comment sent back with `error`, kept in
    its box so that nothing typed is lost."""
    brand = branding.brand()
    with force_locale(i18n.browser_locale()):
        card = share_cards.card(
            link,
            _("Documents from %(company)s", company=brand.company_name)
            if brand.company_name
            else _("Your documents"),
            brand.company_name,
            customer.owner.name,
        )
    response = _render(
        "customer/portal.html",
        status=status,
        brand=brand,
        share_card=card,
        rep_card=rep_cards.card_of(customer.owner),
        visit_url=_visit_url(),
        page=page,
        token=token,
        form=CommentForm(),
        max_comment=MAX_COMMENT_LENGTH,
        in_wechat=_in_wechat(),
        draft=draft,
        comment_error=error,
    )
    jobs.commit()  # after rendering: committing expires every loaded row
    return response


@bp.post("/p/<token>/comments")
@rate_limits.limit("COMMENT_RATE_LIMIT", rate_limits.address)
def comment(token: str) -> Response:
    customer = viewer_service.resolve_portal(token)
    form = CommentForm()
    if not form.validate_on_submit() or form.delivery_id.data is None:
        raise NotFound("no such delivery")
    delivery_id = form.delivery_id.data
    try:
        comment_service.add_customer_comment(
            customer.id, delivery_id, form.text.data, grants=_grants()
        )
    except ValidationFailed as exc:
        db.session.rollback()
        with force_locale(i18n.browser_locale()):
            if exc.code == "comment_too_long":
                error = _("Comments can be at most %(num)d characters.", num=MAX_COMMENT_LENGTH)
            else:
                error = _("Write your comment first.")
        # The page again, the text still in its box (a redirect would lose it): nothing
        # recorded, the visit was recorded when the page was first served.
        link, _customer = link_grants.resolve_portal_link(token)
        page = portal_service.visit_portal(customer, via=link, record=False, grants=_grants())
        return _portal_page(
            token,
            link,
            customer,
            page,
            draft=(delivery_id, form.text.data or ""),
            error=error,
            status=422,
        )
    jobs.commit()
    with force_locale(i18n.browser_locale()):
        flash(_("Thank you. Your comment has been sent."))
    return redirect(url_for(".portal_home", token=token, _anchor=f"doc-{delivery_id}"))


# --- a bundle (资料包): several documents behind one link ------------------------------------


@bp.get("/b/<token>")
@rate_limits.limit("OPEN_RATE_LIMIT", rate_limits.path_token)
@rate_limits.limit("OPEN_ADDRESS_RATE_LIMIT", rate_limits.address)
def bundle(token: str) -> Response:
    """The bundle page: each document with its own link. Records nothing: opening a document
    (its viewer) is what counts."""
    page = bundles.bundle_page(token, _grants())
    brand = branding.brand()
    with force_locale(i18n.browser_locale()):
        title = bundles.bundle_title(len(page.items))
        card_link = page.card_link
        card = share_cards.card(
            card_link or page.link,
            title,
            brand.company_name,
            page.sender.name,
            with_image=card_link is not None,
        )
    response = _render(
        "customer/bundle.html",
        brand=brand,
        share_card=card,
        rep_card=rep_cards.card_of(page.sender),
        page=page,
        title=title,
        in_wechat=_in_wechat(),
    )
    jobs.commit()  # the document links derived for the page (after rendering)
    return response


# --- the document viewer ----------------------------------------------------------------------


@bp.get("/d/<token>")
@rate_limits.limit("OPEN_RATE_LIMIT", rate_limits.path_token)
@rate_limits.limit("OPEN_ADDRESS_RATE_LIMIT", rate_limits.address)
def viewer(token: str) -> Response:
    link, delivery = link_grants.resolve_doc_link(token)
    audience, staff_id = _audience()
    device, new_device = _device()
    opened = viewer_service.open_delivery(
        delivery,
        user_agent=request.user_agent.string,
        ip=request.remote_addr,
        audience=audience,
        staff_id=staff_id,
        via=link,
        device=device,
        grants=_grants(),
    )
    if opened.state == viewer_service.ViewerState.LOCKED:
        return _keep_device(_passcode_page(token), device, new_device)
    brand = branding.brand()
    response = _render(
        "customer/viewer.html",
        brand=brand,
        share_card=share_cards.card(
            link,
            delivery.template.name,
            brand.company_name,
            delivery.sender.name,
            with_image=delivery.passcode_hash is None,
        ),
        rep_card=rep_cards.card_of(delivery.sender),
        opened=opened,
        token=token,
        collect_url=_collect_url(),
        confirm_url=_confirm_url(),
        in_wechat=_in_wechat(),
        visitor_form=VisitorForm(),
    )
    jobs.commit()
    return _keep_device(response, device, new_device)


def _passcode_page(token: str, form: PasscodeForm | None = None, status: int = 200) -> Response:
    """The passcode page: nothing of the document, not even its title."""
    return _render(
        "customer/passcode.html", status=status, token=token, form=form or PasscodeForm()
    )


# Wrong passcodes only are counted (the right one costs nothing): per link from one address,
# and per link from every address together, which bounds a distributed guess (docs/security.md).
@bp.post("/d/<token>/passcode")
@rate_limits.limit(
    "PASSCODE_RATE_LIMIT",
    rate_limits.path_token_and_address,
    deduct_when=rate_limits.wrong_passcode,
)
@rate_limits.limit(
    "PASSCODE_LINK_RATE_LIMIT", rate_limits.path_token, deduct_when=rate_limits.wrong_passcode
)
def enter_passcode(token: str) -> Response:
    delivery = viewer_service.resolve_doc(token)
    form = PasscodeForm()
    if not form.validate_on_submit():
        return _error_page(400)  # the form's CSRF token expired: reload
    try:
        cookie = passcodes.unlock(delivery, form.passcode.data, _grants())
    except passcodes.WrongPasscode:
        db.session.rollback()
        with force_locale(i18n.browser_locale()):
            form.passcode.errors = [_("That passcode is not right. Check it and try again.")]
        return _passcode_page(token, form, status=401)
    response = redirect(url_for(".viewer", token=token), code=303)
    response.set_cookie(
        passcodes.COOKIE,
        cookie,
        max_age=passcodes.COOKIE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
    )
    return response


@bp.post("/d/<token>/visitor")
@rate_limits.limit("COMMENT_RATE_LIMIT", rate_limits.address)
def identify_visitor(token: str) -> Response:
    """The "您是？" card: a forwarded reader says who they are."""
    delivery = viewer_service.resolve_readable(token, _grants())
    form = VisitorForm()
    device = _known_device()
    if not form.validate_on_submit() or device is None:
        raise NotFound("no card to answer")
    card = visitors.VisitorCard(
        form.name.data or "", form.title.data or "", form.contact.data or ""
    )
    try:
        visitors.identify(delivery, device, card, request.user_agent.string)
    except ValidationFailed as exc:
        db.session.rollback()
        with force_locale(i18n.browser_locale()):
            if exc.code == "name_required":
                flash(_("Please tell us your name."))
            else:  # too_long: a name, title or contact past its length
                flash(_("Please keep each answer shorter."))
        return redirect(url_for(".viewer", token=token))
    jobs.commit()
    return redirect(url_for(".viewer", token=token))


@bp.get("/d/<token>/pages/<int:page>.png")
def page_image(token: str, page: int) -> Response:
    image = served_files.page_image(token, page, grants=_grants())
    return _page_file(image, "image/png")


@bp.get("/d/<token>/pages/<int:page>/<int:width>.webp")
def page_webp(token: str, page: int, width: int) -> Response:
    """The viewer's `srcset`: a page as WebP, rasterised at one of a few widths."""
    image = served_files.page_image(token, page, grants=_grants(), width=width)
    return _page_file(image, "image/webp")


def _page_file(image: served_files.ServedFile, mimetype: str) -> Response:
    return sending.respond(
        image,
        mimetype=mimetype,
        cache_control=f"private, max-age={PAGE_MAX_AGE}",
        etag=image.name,
        max_age=PAGE_MAX_AGE,
    )


@bp.get("/thumb/<token>.jpg")
def thumbnail(token: str) -> Response:
    """A share card's image (portal.delivery.share_cards): a preview, nothing recorded."""
    response = send_file(share_cards.thumbnail_file(token), mimetype="image/jpeg", max_age=0)
    response.headers["Cache-Control"] = f"public, max-age={THUMB_MAX_AGE}"
    return response


@bp.get("/brand/<name>.png")
def brand_image(name: str) -> Response:
    """The company's logo or a rep's WeChat QR code (portal.branding.images)."""
    key = f"brand/{name}.png"
    path = brand_images.image_file(key) if branding.is_served_image(key) else None
    if path is None:
        raise NotFound("no such image")
    response = send_file(path, mimetype="image/png", max_age=BRAND_IMAGE_MAX_AGE)
    response.headers["Cache-Control"] = f"public, max-age={BRAND_IMAGE_MAX_AGE}, immutable"
    return response


@bp.get("/d/<token>/download")
def download(token: str) -> Response:
    file = served_files.download(
        token,
        record=_is_reader(),
        device=_known_device(),
        grants=_grants(),
        request_id=_proxy_request_id(),
        gate=request.headers.get(download_gate.ASK_HEADER),
        refresh=request.headers.get(download_gate.REFRESH_HEADER) == "1",
    )
    jobs.commit()  # the event, when it is recorded here (without Redis)
    return sending.respond(
        file, mimetype="application/pdf", cache_control="private, no-store", attachment=True
    )


@bp.get("/d/<token>/go", endpoint="redirect")
def redirect_link(token: str) -> Response:
    delivery = viewer_service.resolve_readable(token, _grants())
    href = viewer_service.follow_link(
        delivery,
        request.args.get("u"),
        request.args.get("p", type=int),
        record=_is_reader(),
        device=_known_device(),
    )
    jobs.commit()
    return redirect(href, code=302)


@bp.get("/d/<token>/qr.svg")
def qr_svg(token: str) -> Response:
    viewer_service.resolve_doc(token)
    url = links.external_url("customer.viewer", token=token)
    response = make_response(viewer_service.qr_svg(url))
    response.mimetype = "image/svg+xml"
    response.headers["Cache-Control"] = f"private, max-age={QR_MAX_AGE}"
    return response
