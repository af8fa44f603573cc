"""Web forms of the admin settings pages. They parse input; the services hold the rules."""

from __future__ import annotations

import json
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.engagement.rules import MAX_POINTS
from portal.form_fields import MultiCheckboxField
from portal.library.models import TemplateKind
from portal.webhooks.service import EVENT_KINDS

EVENT_LABELS = {
    "delivery.opened": _l("A customer opened a document"),
    "customer.grade_changed": _l("A customer's grade changed"),
    "comment.created": _l("A customer left a comment"),
    "task.created": _l("A task was created"),
}

KIND_TARGET_LABELS = {
    TemplateKind.QUOTE.value: _l("Quote"),
    TemplateKind.SOLUTION.value: _l("Solution"),
    TemplateKind.CASE_STUDY.value: _l("Case study"),
    TemplateKind.BROCHURE.value: _l("Brochure"),
    TemplateKind.OTHER.value: _l("Other"),
}


class RuleForm(FlaskForm):
    points = IntegerField(
        _l("Points"),
        validators=[
            InputRequired(_l("Enter the points (a whole number).")),
            NumberRange(
                -MAX_POINTS,
                MAX_POINTS,
                _l("Points must be a whole number from %(min)d to %(max)d."),
            ),
        ],
        description=_l("Negative points lower the score."),
    )
    cap = IntegerField(
        _l("Cap"),
        validators=[
            Optional(),
            NumberRange(min=0, message=_l("The cap must be a whole number from 0.")),
        ],
        description=_l("The most points this rule may give one customer; empty: no cap."),
    )
    repeatable = BooleanField(_l("Repeatable"), description=_l("Off: at most once per customer."))
    enabled = BooleanField(_l("Enabled"))
    params = TextAreaField(
        _l("Parameters (JSON)"),
        description=_l("Advanced. A JSON object; only the settings this rule understands."),
        render_kw={"rows": 3, "spellcheck": "false", "autocapitalize": "none"},
    )

    def validate_params(self, field: Any) -> None:
        text = (field.data or "").strip() or "{}"
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValidationError(_l("This is not valid JSON.")) from exc
        if not isinstance(value, dict):
            raise ValidationError(_l("The parameters must be a JSON object: {…}."))
        self.parsed_params = value

    def fill(self, rule: Any) -> None:
        """Show the rule's current values (a fresh form, not a submission)."""
        self.points.data = rule.points
        self.cap.data = rule.cap
        self.repeatable.data = rule.repeatable
        self.enabled.data = rule.enabled
        self.params.data = json.dumps(rule.params or {}, ensure_ascii=False, sort_keys=True)


class KeywordForm(FlaskForm):
    keyword = StringField(
        _l("Keyword"),
        validators=[
            DataRequired(_l("Enter a keyword.")),
            Length(max=60, message=_l("At most %(max)d characters.")),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={"placeholder": "报价"},
    )
    target = SelectField(_l("Recommends"), choices=[])

    def set_targets(self, tags: list[str]) -> None:
        kinds = [
            SelectChoice(f"kind:{kind}", _l("Kind: %(kind)s", kind=label))
            for kind, label in KIND_TARGET_LABELS.items()
        ]
        tagged = [SelectChoice(f"tag:{tag}", _l("Content tag: %(tag)s", tag=tag)) for tag in tags]
        self.target.choices = [*kinds, *tagged]


class WebhookForm(FlaskForm):
    url = StringField(
        _l("URL"),
        validators=[
            DataRequired(_l("Enter the URL that receives the events.")),
            Length(max=500, message=_l("At most %(max)d characters.")),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={"placeholder": "https://crm.example.com/hooks/portal", "type": "url"},
    )
    events = MultiCheckboxField(
        _l("Events"),
        choices=[SelectChoice(kind, EVENT_LABELS[kind]) for kind in EVENT_KINDS],
        validators=[DataRequired(_l("Choose at least one event."))],
    )


class SolutionPackForm(FlaskForm):
    industry = StringField(
        _l("Industry"),
        validators=[
            DataRequired(_l("Enter the industry.")),
            Length(max=80, message=_l("At most %(max)d characters.")),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={"placeholder": "制造业"},
    )
    template_id = SelectField(
        _l("Solution template"),
        coerce=int,
        choices=[],
        validate_choice=True,
        description=_l("Delivered to the portal when a customer of this industry views a case."),
    )


class ActionForm(FlaskForm):
    """A remove button and the CSRF token."""


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class UserForm(FlaskForm):
    """A new staff account (the admin tells the person their first password)."""

    email = StringField(
        _l("E-mail"),
        validators=[DataRequired(_l("Enter an e-mail address.")), Length(max=254)],
        filters=[_stripped],
        render_kw={"inputmode": "email", "autocapitalize": "none", "autocomplete": "off"},
    )
    name = StringField(
        _l("Name"),
        validators=[DataRequired(_l("Enter the person's name.")), Length(max=120)],
        filters=[_stripped],
    )
    role = SelectField(_l("Role"), choices=[])
    password = StringField(
        _l("First password"),
        validators=[
            DataRequired(_l("Enter a first password.")),
            Length(min=8, max=200, message=_l("At least 8 characters.")),
        ],
        description=_l("Tell it to the person; they sign in with it."),
        render_kw={"autocomplete": "new-password"},
    )
    supervisor = SelectField(_l("Supervisor"), choices=[])
    team = StringField(_l("Team"), validators=[Length(max=80)], filters=[_stripped])
    region = StringField(_l("Region"), validators=[Length(max=80)], filters=[_stripped])

    def set_choices(self, roles: list[tuple[str, Any]], supervisors: list[tuple[str, str]]) -> None:
        self.role.choices = [SelectChoice(value, label) for value, label in roles]
        self.supervisor.choices = [
            SelectChoice("", _l("None")),
            *(SelectChoice(email, label) for email, label in supervisors),
        ]


class UserChangeForm(FlaskForm):
    """One account's role, team, region, and whether it may sign in."""

    role = SelectField(_l("Role"), choices=[])
    team = StringField(_l("Team"), validators=[Length(max=80)], filters=[_stripped])
    region = StringField(_l("Region"), validators=[Length(max=80)], filters=[_stripped])
    active = BooleanField(_l("May sign in"))

    def set_choices(self, roles: list[tuple[str, Any]]) -> None:
        self.role.choices = [SelectChoice(value, label) for value, label in roles]
