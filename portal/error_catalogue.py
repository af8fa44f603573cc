"""What each error code means to a person, in the reader's language.

Services raise a PortalError with a stable `code`, the `field` it concerns and the values its
sentence names (`params`, e.g. limit=200). This catalogue is the one place that turns a code into
a sentence: the msgids are English and the .po catalogues hold the Chinese, so a page never shows
the service's English wording and never needs it to know what an error means. A `%(name)s` in a
sentence is filled from the error's params (tests/test_error_codes.py checks that every raise
gives the values its sentence needs, and that every code raised in portal/ is here).

`detail`: the service's own message names something the user must find (a zip entry, a page, a
file), so it is shown too — in English as it is the most precise sentence, in Chinese after the
translated one.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString

from portal.errors import PortalError


@dataclass(frozen=True)
class Entry:
    text: LazyString
    detail: bool = False


def _detailed(text: LazyString) -> Entry:
    return Entry(text, detail=True)


_ENTRIES: dict[str, LazyString | Entry] = {
    # --- generic: the field the error is attached to says what it is about ---------------------
    "bad_request": _l("The request was not accepted."),
    "validation_failed": _l("The value is not valid."),
    "not_found": _l("Not found: it may have been deleted, or it is not open to you."),
    "forbidden": _l("You are not allowed to do this."),
    "payload_too_large": _detailed(_l("The file is larger than the upload limit.")),
    "service_unavailable": _l("The service is busy or down for a moment. Try again in a minute."),
    "storage_unavailable": _l(
        "Document storage is not answering. Nothing was sent: try again in a minute."
    ),
    "required": _l("This is required."),
    "template_id_and_ids": _l("Send one material or a bundle, not both."),
    "bundle_empty": _l("Choose at least one material for the bundle."),
    "bundle_too_large": _l("A bundle holds at most %(limit)d materials."),
    "bundle_duplicate_template": _l("A material is chosen twice: each goes in a bundle once."),
    "choice_required": _l("Choose a %(what)s."),
    "too_long": _l("At most %(limit)d characters."),
    "not_a_string": _l("Enter text."),
    "not_an_integer": _l("Enter a whole number."),
    "not_a_whole_number": _l("Enter a whole number."),
    "not_a_number": _l("Enter a number."),
    "not_a_boolean": _l("Choose yes or no."),
    "not_an_object": _l("This must be a JSON object."),
    "not_a_list": _l("This must be a list."),
    "bad_id": _l("This is not a valid id."),
    "bad_date": _l("Enter a date as YYYY-MM-DD."),
    "bad_datetime": _l("Enter a date and time, e.g. 2026-03-01 10:00."),
    "time_zone_required": _l("Give the time zone offset, e.g. +08:00."),
    "in_the_future": _l("The time is in the future."),
    "too_old": _l("The time is more than a year ago."),
    "number_out_of_range": _l("Enter a whole number from %(low)d to %(high)d."),
    "not_a_positive_number": _l("Enter a number greater than 0."),
    "not_a_positive_whole_number": _l("Enter a whole number from 1."),
    "not_a_fraction": _l("Enter a fraction greater than 0 and at most 1, e.g. 0.6."),
    "not_a_word_list": _l("Enter a list of words."),
    "bad_page": _l("The page must be from 1 to %(limit)d."),
    "bad_per_page": _l("Rows per page must be from 1 to %(limit)d."),
    "bad_group": _l("Choose a grouping from the list."),
    "bad_status": _l("Choose a status from the list."),
    "bad_version": _l("Choose a version number."),
    "nul_character": _l("The text contains a NUL character; remove it and send again."),
    "json_too_deep": _l("The JSON body nests too deep."),
    "json_number": _l("Numbers in JSON must be finite (no NaN or Infinity)."),
    "too_many_requests": _l("Too many requests. Wait a moment and try again."),
    # --- accounts and passwords -----------------------------------------------------------------
    "invalid_email": _l("Enter a valid e-mail address."),
    "email_taken": _l("An account with this e-mail address already exists."),
    "name_required": _l("Enter a name."),
    "bad_role": _l("Choose a role from the list."),
    "unknown_supervisor": _l("Choose a supervisor from the list."),
    "not_a_supervisor": _l("Choose a supervisor from the list."),
    "own_admin_access": _l("You cannot take away your own admin access: ask another admin."),
    "password_rejected": _l("Choose another password."),
    "password_too_short": _l("At least 8 characters."),
    "password_too_long": _l("At most 200 characters."),
    "password_too_common": _l(
        "This is one of the most common passwords, which attackers try first: choose another."
    ),
    "password_like_account": _l(
        "The password must not be or contain the e-mail address or the name: choose another."
    ),
    # --- library: templates, versions, uploads --------------------------------------------------
    "name_too_long": _l("The name is longer than %(limit)d characters."),
    "bad_kind": _l("Choose a kind from the list."),
    "bad_version_policy": _l("Choose what the customer sees from the list."),
    "unknown_role": _l("Choose roles from the list."),
    "bad_content_tag": _l(
        "Page %(page)s: the tag %(tag)s may use lower-case letters, digits, - or _ only."
    ),
    "bad_content_tags": _l("Content tags are written page:tag, e.g. 2:pricing; 3:case."),
    "bad_content_tags_page": _l("Content tags: %(page)s is not a page number."),
    "no_such_page": _l("Content tags: the document has no page %(page)s."),
    "no_published_version": _l("This material has no published version yet."),
    "already_published": _l("That version is already published."),
    "version_immutable": _l("Published versions cannot be changed or deleted."),
    "changelog_required": _l("A changelog is required: say what changed in this version."),
    "file_required": _l("Choose a file to upload."),
    "upload_rejected": _detailed(_l("The file was not accepted.")),
    "empty_file": _detailed(
        _l("The file is empty (0 bytes). Upload the file again, with its content.")
    ),
    "not_utf8": _detailed(
        _l("The HTML is not saved as UTF-8. Save it as UTF-8 in your editor and upload again.")
    ),
    "corrupt_zip": _detailed(
        _l("The zip archive is damaged. Create it again with a standard zip tool.")
    ),
    "corrupt_pdf": _detailed(
        _l("The PDF is damaged or cannot be read. Export it again and upload the new file.")
    ),
    "encrypted_pdf": _detailed(
        _l("The PDF has a password or security restrictions. Upload an unprotected copy.")
    ),
    "unsafe_zip_entry": _detailed(
        _l(
            "The zip holds an unsafe path. Entries must be plain relative paths such as "
            "index.html or images/logo.png."
        )
    ),
    "unsupported_zip_entry": _detailed(
        _l(
            "The zip holds a file type that is not accepted, or system files such as "
            "__MACOSX or .DS_Store."
        )
    ),
    "too_many_entries": _detailed(_l("The zip holds too many files.")),
    "zip_bomb": _detailed(_l("The zip expands to far more than it should and was refused.")),
    "no_entry_point": _detailed(
        _l("The zip has no HTML entry point. Put index.html at the top of the zip.")
    ),
    "upload_too_large": _detailed(_l("The file is larger than the upload limit.")),
    "unsupported_type": _detailed(
        _l(
            "This file type is not accepted. Upload an .html page, a .zip of HTML with its "
            "assets, a .pdf, an Office file (.pptx .ppt .docx .doc .xlsx .odp .odt) or an "
            "image (.png .jpg .jpeg .webp), with the extension that matches the content."
        )
    ),
    "conversion_timeout": _detailed(
        _l(
            "Converting the file took too long and was stopped. Split it into smaller files or "
            "export it to PDF yourself, then upload again."
        )
    ),
    "conversion_failed": _detailed(
        _l(
            "The file could not be converted to PDF: it may be damaged or protected by a "
            "password. Save it again without a password, or export it to PDF, then upload again."
        )
    ),
    "conversion_unavailable": _detailed(
        _l(
            "Office conversion is not available on this server. Export the file to PDF and "
            "upload the PDF."
        )
    ),
    "corrupt_office": _detailed(
        _l("The Office file is damaged. Open it in Office or WPS, save it again and upload it.")
    ),
    "encrypted_office": _detailed(
        _l(
            "The Office file is protected by a password. Save a copy without a password and "
            "upload that."
        )
    ),
    "corrupt_image": _detailed(
        _l("The image cannot be read. Save it again as PNG or JPEG and upload it.")
    ),
    "image_too_large": _detailed(
        _l("The image has too many pixels. Make it smaller and upload it again.")
    ),
    "version_converting": _l(
        "That version is still being converted to PDF. Try again in a moment."
    ),
    "version_failed": _l("That version could not be converted to PDF. Upload the file again."),
    "template_error": _detailed(
        _l("The template could not be rendered. Check the template code and upload it again.")
    ),
    "no_analytics": _l("Content analytics are for marketing, supervisors and reps."),
    # --- customers and sending ------------------------------------------------------------------
    "no_customers": _l("Only reps, supervisors and admins create customers."),
    "owner_email_required": _l("Choose one of your reps as the owner."),
    "owner_not_a_rep": _l("Choose one of your reps as the owner."),
    "owner_not_self": _l("Choose one of your reps as the owner."),
    "owner_not_your_rep": _l("Choose one of your reps as the owner."),
    "bad_expiry": _l("Enter a number of days from 1 to %(limit)d, or leave it empty."),
    "message_too_long": _l("The message may be at most %(limit)d characters."),
    "customer_has_no_email": _l(
        "This customer has no e-mail address. Untick “Also send it by e-mail” and "
        "copy the link into your chat instead."
    ),
    "bulk_empty": _l("Choose at least one customer to send to."),
    "bulk_too_large": _l(
        "A bulk send reaches at most %(limit)d customers; %(count)d are chosen. Narrow the "
        "filter or split the list."
    ),
    "bulk_customers_not_visible": _l(
        "%(count)d of the chosen customers are not yours to send to, or do not exist: "
        "%(names)s. Nothing was sent; remove them and send again."
    ),
    "bulk_list_empty": _l(
        "The list's first column holds no customer e-mail address or customer number."
    ),
    "bulk_render_failed": _l("The customer's copy could not be made from this material."),
    "bulk_render_unavailable": _l(
        "Document storage was not answering when this copy was made. Retry in a minute."
    ),
    "bulk_email_failed": _l(
        "The copy is ready but its e-mail could not be sent. Retry, or copy the link into "
        "your chat instead."
    ),
    "bulk_job_lost": _l("This customer's send was interrupted; it is being sent again."),
    "bulk_needs_worker": _l(
        "Without a background worker a bulk send reaches at most %(limit)d customers; "
        "%(count)d are chosen. Ask your administrator to start a job worker, or split the list."
    ),
    "bulk_list_no_header": _l(
        "The list needs a header row naming its column: email or customer_id."
    ),
    "bulk_list_email_ambiguous": _l(
        "Row %(row)d: %(email)s belongs to several of your customers. Use their customer "
        "numbers instead."
    ),
    "bad_reason": _l("Choose why the link is withdrawn."),
    "invalid_ask_visitor": _l("Choose whether to ask the visitor who they are."),
    "comment_empty": _l("Write your reply first."),
    "comment_too_long": _l("A reply may be at most %(limit)d characters."),
    "text_required": _l("Write the text first."),
    "text_too_long": _l("The text may be at most %(limit)d characters."),
    "link_not_found": _l("This link does not exist. Check that you copied all of it."),
    "link_gone": _l("This link has been withdrawn or has expired."),
    "email_ambiguous": _l(
        "Several customers have this e-mail address: erase or export them one by one."
    ),
    "statement_url_invalid": _l("Enter an http:// or https:// URL with a host."),
    "statement_text_too_long": _l("The text is too long."),
    # --- deals ----------------------------------------------------------------------------------
    "bad_stage": _l("Choose a stage from the list."),
    "evidence_missing": _l("The evidence this stage needs is missing: add it to the deal first."),
    "stage_skipped": _l("Stages cannot be skipped."),
    "approval_pending": _l("This deal cannot be won until finance and legal approve."),
    "meeting_notes_required": _l(
        "A deal starts in Initial contact, which needs meeting notes: write them or attach a file."
    ),
    "reason_required": _l("A reason is required."),
    "amount_not_a_number": _l("The amount must be a number, such as 680000 or 680000.50."),
    "amount_not_positive": _l("The amount must be above zero, with at most two decimals."),
    "amount_too_large": _l("The amount is too large."),
    "title_required": _l("Give the deal a title (at most 200 characters)."),
    "currency_code": _l("The currency is a three-letter code, such as CNY or USD."),
    "deal_closed": _l("This deal is closed (won or lost)."),
    "last_open_stage": _l("Negotiation is the last stage: mark the deal won or lost."),
    "first_stage": _l("A deal in Initial contact cannot go back further."),
    "won_needs_negotiation": _l("Only a deal in Negotiation can be won."),
    "own_deal": _l("You own this deal: someone else in your role decides its approval."),
    "no_funnel": _l("The funnel is for supervisors and admins."),
    "evidence_required": _l("Write a note or attach a file as the evidence."),
    "note_too_long": _l("The note may be at most %(limit)d characters."),
    "reason_too_long": _l("The reason may be at most %(limit)d characters."),
    "not_a_later_stage": _l("Choose a later stage."),
    "bad_source": _l("Choose where the note comes from."),
    "probability_out_of_range": _l("The probability must be from %(low)d to %(high)d percent."),
    "bad_decision": _l("Approve or reject."),
    # --- tasks, scoring rules, keywords, webhooks, channels, notifications --------------------
    "task_done": _l("This task is done already."),
    "bad_industry": _l("The industry must be 1 to 80 characters."),
    "bad_points": _l("Points must be a whole number from -1000 to 1000."),
    "bad_cap": _l("The cap must be a whole number from 0."),
    "unknown_template_kinds": _l("Unknown material kinds: %(kinds)s."),
    "unknown_params": _l("This rule does not take: %(names)s."),
    "bad_keyword": _l("A keyword is 1 to 60 characters."),
    "bad_target": _l("Choose what the keyword recommends from the list."),
    "bad_url_length": _l("The URL must be 1 to %(limit)d characters."),
    "bad_url_scheme": _l("Enter an http:// or https:// URL with a host."),
    "bad_url": _l("Enter an http:// or https:// URL with a host."),
    "bad_events": _l("Choose events from the list."),
    "private_address": _detailed(_l("The address is not a public internet address.")),
    "unresolvable_host": _l("The host name cannot be found."),
    "outbound_failed": _detailed(_l("The receiver did not answer as expected.")),
    "redirect_refused": _l("The receiver answered with a redirect, which is not followed."),
    "bad_channel_url": _l(
        "This is not the robot's webhook URL: copy it from the group robot's settings."
    ),
    "secret_too_long": _l("The secret may be at most %(limit)d characters."),
    "secret_unreadable": _l("The stored secret cannot be read: enter it again."),
    "owner_required": _l("Choose either a team or a staff member."),
    "unknown_staff_email": _l("No active staff member has this e-mail address."),
    "bad_alert": _l("Choose alerts from the list."),
    "bad_transport": _l("Choose how to be told from the list."),
    "bad_time": _l("Enter quiet hours as HH:MM, with different start and end times."),
    # --- the inbound event API and the viewer's reports -----------------------------------------
    "bad_event_type": _l(
        "The type is reply.received, form.submitted or external.<name> (lower-case)."
    ),
    "properties_too_large": _l("The properties are over %(limit)d bytes."),
    "customer_required": _l("Give the customer's id or e-mail address."),
    "unknown_customer": _l("No customer of yours has this id or e-mail address."),
    "ambiguous_customer": _l(
        "Several of your customers have this e-mail address: give the customer's id."
    ),
    "malformed_batch": _l("The report is not valid JSON of the expected shape."),
    "invalid_report": _detailed(_l("A report is not valid.")),
    "too_many_reports": _l("Too many reports in one batch."),
    "session_not_found": _l("The viewing session is not known."),
    "not_confirmed": _l("The viewing session is not confirmed yet."),
    "gone": _l("This link has been withdrawn or has expired."),
    "busy": _l("The server is busy. Try again in a moment."),
    "live_needs_redis": _l("Live reading updates come by polling on this server."),
    # --- import and export ----------------------------------------------------------------------
    "bad_import_kind": _l("Choose customers or deals."),
    "sheet_rejected": _detailed(_l("The file cannot be read as a spreadsheet.")),
    "too_many_rows": _detailed(_l("The sheet has too many rows; split it into smaller files.")),
    # --- branding and the rep's card ------------------------------------------------------------
    "accent_color_invalid": _l("Enter a hex colour such as #1a6fd1."),
    "accent_color_too_light": _l(
        "This colour is too light: white text on buttons would be hard to read. "
        "Choose a darker one."
    ),
    "company_name_too_long": _l("The company name is too long."),
    "image_invalid": _l("The file is not an image. Upload a PNG, JPEG or WebP image."),
    "brand_image_too_large": _l("The image is too large: at most 2 MiB and 4096 × 4096 pixels."),
    "job_title_too_long": _l("The job title is too long."),
    "phone_invalid": _l("Enter a phone number: digits, spaces, +, - and parentheses."),
    "wechat_id_invalid": _l("Enter a WeChat ID: letters, digits, - and _."),
    # --- passcodes ------------------------------------------------------------------------------
    "invalid_passcode": _l("A passcode is 4 to 8 digits, or leave it empty."),
    # the API's declared pattern refuses a bad passcode before the service does
    "bad_passcode": _l("A passcode is 4 to 8 digits, or leave it empty."),
    "passcode_required": _l("This document is protected by a passcode. Enter it to open it."),
    "wrong_passcode": _l("That passcode is not right. Check it with the sender and try again."),
    # --- the visit export -----------------------------------------------------------------------
    "bad_template": _l("Choose a template from the list."),
    "no_visits": _l("The visit export is for reps, supervisors and administrators."),
    "version_needs_template": _l("Choose a template before a version."),
    "bad_format": _l("Choose .xlsx or .csv."),
    # --- API bodies ---------------------------------------------------------------------------
    "not_multipart": _l("Send the file as multipart/form-data."),
    # --- operations -----------------------------------------------------------------------------
    "unauthorized": _l("A valid token is required."),
}

MESSAGES: dict[str, Entry] = {
    code: entry if isinstance(entry, Entry) else Entry(entry) for code, entry in _ENTRIES.items()
}


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def sentence(code: str, params: dict[str, object] | None = None) -> str | None:
    """The catalogue's sentence for a code in the reader's language, its %(name)s filled from
    params; None for a code the catalogue does not know or a sentence missing a value."""
    entry = MESSAGES.get(code)
    if entry is None:
        return None
    try:
        return str(entry.text) % (params or {})
    except (KeyError, TypeError, ValueError):
        return None


def message_for(exc: PortalError) -> str:
    """What to tell a person about a service error, in the reader's language."""
    text = sentence(exc.code, exc.params)
    english = _capitalized(exc.message)
    if text is None:
        return english
    if MESSAGES[exc.code].detail:
        if str(get_locale()).startswith("en"):
            return english
        return f"{text}（{english}）"
    return text
