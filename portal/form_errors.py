"""Service errors (PortalError) shown on staff forms, in the reader's language.

Services speak English and carry a machine `code`; this module picks the form field an error
belongs to and a translated sentence for it. In English the service's own message is shown (it
is the most precise); in Chinese a translated summary, plus the service's detail where it names
something the user must find (a file, a zip entry, a page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm

from portal.errors import PortalError
from portal.library import conversion

# code -> (form field, translated summary, show the service's detail in Chinese too)
_BY_CODE: dict[str, tuple[str | None, object, bool]] = {
    "changelog_required": (
        "changelog",
        _l("A changelog is required: say what changed in this version."),
        False,
    ),
    "file_required": ("file", _l("Choose a file to upload."), False),
    "empty_file": (
        "file",
        _l("The file is empty. Upload an .html, .zip or .pdf file with content."),
        True,
    ),
    "not_utf8": (
        "file",
        _l("The HTML is not saved as UTF-8. Save it as UTF-8 in your editor and upload again."),
        True,
    ),
    "corrupt_zip": (
        "file",
        _l("The zip archive is damaged. Create it again with a standard zip tool."),
        True,
    ),
    "corrupt_pdf": (
        "file",
        _l("The PDF is damaged or cannot be read. Export it again and upload the new file."),
        True,
    ),
    "encrypted_pdf": (
        "file",
        _l("The PDF has a password or security restrictions. Upload an unprotected copy."),
        True,
    ),
    "unsafe_zip_entry": (
        "file",
        _l(
            "The zip holds an unsafe path. Entries must be plain relative paths such as "
            "index.html or images/logo.png."
        ),
        True,
    ),
    "unsupported_zip_entry": (
        "file",
        _l(
            "The zip holds a file type that is not accepted, or system files such as "
            "__MACOSX or .DS_Store."
        ),
        True,
    ),
    "too_many_entries": ("file", _l("The zip holds too many files."), True),
    "zip_bomb": ("file", _l("The zip expands to far more than it should and was refused."), True),
    "no_entry_point": (
        "file",
        _l("The zip has no HTML entry point. Put index.html at the top of the zip."),
        True,
    ),
    "upload_too_large": ("file", _l("The file is larger than the upload limit."), True),
    "payload_too_large": ("file", _l("The file is larger than the upload limit."), True),
    "unsupported_type": (
        "file",
        _l(
            "This file type is not accepted. Upload an .html page, a .zip of HTML with its "
            "assets, a .pdf, an Office file (.pptx .ppt .docx .doc .xlsx .odp .odt) or an "
            "image (.png .jpg .webp), with the extension that matches the content."
        ),
        True,
    ),
    # Office files and images: the sentences live with the conversion (also on the versions)
    **{
        code: ("file", message, True)
        for code, message in conversion.MESSAGES.items()
        if code != "corrupt_pdf"
    },
    "version_converting": (
        None,
        _l("That version is still being converted to PDF. Try again in a moment."),
        False,
    ),
    "version_failed": (
        None,
        _l("That version could not be converted to PDF. Upload the file again."),
        False,
    ),
    "template_error": (
        "file",
        _l("The template could not be rendered. Check the template code and upload it again."),
        True,
    ),
    "storage_unavailable": (
        None,
        _l("Document storage is not answering. Nothing was sent: try again in a minute."),
        False,
    ),
    "forbidden": (None, _l("Only marketing and administrators can change the library."), False),
    "not_found": (None, _l("That template or version was not found."), False),
}

# validation_failed messages of the library services, recognised by their wording.
_BY_MESSAGE: list[tuple[re.Pattern[str], str | None, object, bool]] = [
    (re.compile(r"^name is required"), "name", _l("Give the template a name."), False),
    (re.compile(r"^name is longer"), "name", _l("The name is longer than 200 characters."), False),
    (re.compile(r"^kind must be"), "kind", _l("Choose a kind from the list."), False),
    (re.compile(r"^version_policy"), "version_policy", _l("Choose what customers see."), False),
    (re.compile(r"^unknown role"), "allowed_roles", _l("Choose roles from the list."), False),
    (
        re.compile(r"^(content tags|page \d+: tag)"),
        "content_tags",
        _l(
            "Content tags are written page:tag, e.g. 2:pricing; 3:case. The page must exist "
            "and tags use lower-case letters, digits, - or _."
        ),
        True,
    ),
    (
        re.compile(r"^version \d+ is already published"),
        None,
        _l("That version is already published."),
        False,
    ),
    (
        re.compile(r"^published versions are immutable"),
        None,
        _l("Published versions cannot be changed or deleted."),
        False,
    ),
    (
        re.compile(r"^this template has no published version"),
        None,
        _l("This template has no published version yet."),
        False,
    ),
]


@dataclass(frozen=True)
class ShownError:
    field: str | None
    message: str


def _capitalized(text: str) -> str:
    return text[:1].upper() + text[1:]


def explain(exc: PortalError) -> ShownError:
    """The field an error belongs to (None: the whole form) and what to tell the user."""
    field: str | None = None
    summary: object | None = None
    detailed = True
    if exc.code in _BY_CODE:
        field, summary, detailed = _BY_CODE[exc.code]
    else:
        for pattern, f, text, d in _BY_MESSAGE:
            if pattern.match(exc.message):
                field, summary, detailed = f, text, d
                break
    english = _capitalized(exc.message)
    if str(get_locale()).startswith("en") or summary is None:
        return ShownError(field, english)
    if detailed:
        return ShownError(field, f"{summary}（{english}）")
    return ShownError(field, str(summary))


def attach(form: FlaskForm, exc: PortalError) -> None:
    """Put a service error on the field it concerns, else on the form as a whole."""
    shown = explain(exc)
    field = form._fields.get(shown.field) if shown.field else None
    if field is not None:
        field.errors = [*list(field.errors or []), shown.message]
    else:
        form.form_errors.append(shown.message)
