"""Staff web forms of the library. They parse and describe input; the rules live in services."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from portal.accounts.forms import ROLE_LABELS
from portal.form_fields import MultiCheckboxField, choices
from portal.library import services
from portal.library.models import Template, TemplateKind, VersionPolicy

KIND_LABELS = {
    TemplateKind.BROCHURE.value: _l("Brochure"),
    TemplateKind.CASE_STUDY.value: _l("Case study"),
    TemplateKind.SOLUTION.value: _l("Solution"),
    TemplateKind.QUOTE.value: _l("Quote"),
    TemplateKind.OTHER.value: _l("Other"),
}

POLICY_LABELS = {
    VersionPolicy.LATEST.value: _l("Always the latest version"),
    VersionPolicy.PINNED.value: _l("Keep the version that was sent"),
}

CONTENT_TAG_LABELS = {
    "pricing": _l("Pricing"),
    "case": _l("Case"),
    "product": _l("Product"),
    "contact": _l("Contact"),
    "terms": _l("Terms"),
}

UPLOAD_ACCEPT = (
    ".html,.htm,.zip,.pdf,text/html,application/zip,application/pdf,"
    ".pptx,.ppt,.docx,.doc,.xlsx,.odp,.odt,.png,.jpg,.jpeg,.webp"
)


def _text(label, max_length: int, **kwargs) -> StringField:
    return StringField(
        label,
        validators=[
            Optional(),
            Length(max=max_length, message=_l("At most %(max)d characters.")),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        **kwargs,
    )


class TemplateForm(FlaskForm):
    """Metadata and who may send: shared by the new-template and edit forms."""

    name = StringField(
        _l("Name"),
        validators=[
            DataRequired(_l("Give the template a name.")),
            Length(max=200, message=_l("At most %(max)d characters.")),
        ],
    )
    kind = SelectField(
        _l("Kind"),
        choices=choices(KIND_LABELS),
        default=TemplateKind.BROCHURE.value,
    )
    industry = _text(_l("Industry"), 80, render_kw={"list": "facet-industry"})
    scenario = _text(_l("Scenario"), 120, render_kw={"list": "facet-scenario"})
    product_line = _text(_l("Product line"), 120, render_kw={"list": "facet-product_line"})
    description = TextAreaField(_l("Description"), validators=[Optional()], render_kw={"rows": 3})
    tags = _text(_l("Tags"), 400, description=_l("Comma separated, e.g. 2025, flagship"))
    version_policy = SelectField(
        _l("Customers see"),
        choices=choices(POLICY_LABELS, first=("", _l("Automatic (quotes keep the version sent)"))),
        default="",
    )
    allowed_roles = MultiCheckboxField(
        _l("Roles"),
        choices=choices(ROLE_LABELS),
        description=_l("Marketing and administrators always see every template."),
    )
    allowed_teams = _text(
        _l("Teams"), 400, description=_l("Comma separated; leave empty to allow every team.")
    )
    allowed_regions = _text(
        _l("Regions"), 400, description=_l("Comma separated; leave empty to allow every region.")
    )

    def to_fields(self) -> services.TemplateFields:
        return services.TemplateFields(
            name=self.name.data or "",
            kind=self.kind.data or "",
            industry=self.industry.data or "",
            scenario=self.scenario.data or "",
            product_line=self.product_line.data or "",
            description=self.description.data or "",
            tags=services.split_list(self.tags.data),
            version_policy=self.version_policy.data or None,
            allowed_roles=list(self.allowed_roles.data or []),
            allowed_teams=services.split_list(self.allowed_teams.data),
            allowed_regions=services.split_list(self.allowed_regions.data),
        )

    @classmethod
    def for_template(cls, template: Template) -> TemplateForm:
        """The edit form, filled from the template unless the request carries a submission."""
        form = cls(obj=template)
        if not form.is_submitted():
            form.tags.data = ", ".join(template.tags or [])
            form.version_policy.data = template.version_policy
            form.allowed_roles.data = template.allowed("role")
            form.allowed_teams.data = ", ".join(template.allowed("team"))
            form.allowed_regions.data = ", ".join(template.allowed("region"))
        return form


def _file_field() -> FileField:
    return FileField(
        _l("File"),
        validators=[FileRequired(_l("Choose a file to upload."))],
        description=_l(
            "An .html page, a .zip of HTML with its images and styles, a .pdf, an Office file "
            "(.pptx .ppt .docx .doc .xlsx .odp .odt) or an image (.png .jpg .webp): Office "
            "files and images are converted to PDF."
        ),
        render_kw={"accept": UPLOAD_ACCEPT},
    )


def _changelog_field() -> TextAreaField:
    # Not required here: the service owns the rule and its message (code changelog_required).
    return TextAreaField(
        _l("Changelog"),
        description=_l("Required. What is new or different in this version?"),
        render_kw={"rows": 3, "required": True},
    )


def _content_tags_field(description: Any = None) -> StringField:
    return StringField(
        _l("Content tags"),
        validators=[Optional()],
        description=description
        or _l(
            "Which pages hold what, for scoring: page:tag, e.g. 2:pricing; 3:case. "
            "Common tags: pricing, case, product, contact, terms."
        ),
        render_kw={"placeholder": "2:pricing; 3:case", "autocapitalize": "none"},
    )


class NewTemplateForm(TemplateForm):
    file = _file_field()
    changelog = _changelog_field()
    content_tags = _content_tags_field()


class NewVersionForm(FlaskForm):
    file = _file_field()
    changelog = _changelog_field()
    content_tags = _content_tags_field(
        _l(
            "Which pages hold what, for scoring: page:tag, e.g. 2:pricing; 3:case. Filled in "
            "with the previous version's tags: change them if the pages moved, empty the field "
            "for none."
        )
    )
    publish = BooleanField(
        _l("Publish now"),
        default=True,
        description=_l("Untick to keep it as a draft that only marketing can see."),
    )


class ContentTagsForm(FlaskForm):
    content_tags = _content_tags_field()


class ActionForm(FlaskForm):
    """Publish, delete, archive: a button and the CSRF token."""


class LibraryFilterForm(FlaskForm):
    """The GET filter of the library list (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search"), render_kw={"placeholder": _l("Name, scenario, product…")})
    kind = SelectField(_l("Kind"), choices=[])
    industry = SelectField(_l("Industry"), choices=[])
    scenario = SelectField(_l("Scenario"), choices=[])
    product_line = SelectField(_l("Product line"), choices=[])
    archived = BooleanField(_l("Show archived"))

    def set_facets(self, facets: dict[str, list[str]]) -> None:
        everything = ("", _l("All"))
        self.kind.choices = choices(KIND_LABELS, first=everything)
        for name in ("industry", "scenario", "product_line"):
            values = list(facets.get(name, []))
            current = self[name].data
            if current and current not in values:
                values.append(current)  # keep a filter from a link even if no longer offered
            self[name].choices = choices({v: v for v in values}, first=everything)

    def to_filter(self, include_archived: bool) -> services.LibraryFilter:
        return services.LibraryFilter(
            kind=self.kind.data or None,
            industry=self.industry.data or None,
            scenario=self.scenario.data or None,
            product_line=self.product_line.data or None,
            q=(self.q.data or "").strip() or None,
            include_archived=include_archived and bool(self.archived.data),
        )

    @property
    def active(self) -> bool:
        return any(
            self[name].data for name in ("q", "kind", "industry", "scenario", "product_line")
        )
