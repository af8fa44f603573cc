"""Web forms of the admin settings pages. They parse input; the services hold the rules."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
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
    """A scoring rule's points, cap and flags; `rule_form_for` adds its parameters as typed
    fields (numbers, lists of words, template kinds), named `param_<name>`."""

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

    param_names: tuple[str, ...] = ()

    def param_fields(self) -> list[Any]:
        return [self[f"param_{name}"] for name in self.param_names]

    def params_value(self) -> dict[str, Any]:
        """The parameters as the scoring service takes them."""
        return {
            name: PARAM_FIELDS[name].to_value(self[f"param_{name}"].data)
            for name in self.param_names
        }

    def fill(self, rule: Any) -> None:
        """Show the rule's current values (a fresh form, not a submission)."""
        self.points.data = rule.points
        self.cap.data = rule.cap
        self.repeatable.data = rule.repeatable
        self.enabled.data = rule.enabled
        params = rule.params or {}
        for name in self.param_names:
            if name in params:
                self[f"param_{name}"].data = PARAM_FIELDS[name].to_field(params[name])


_WORD_SPLIT = re.compile(r"[,，、;；\n]+")


def split_words(text: Any) -> list[str]:
    """'总经理, 总监、VP' or one per line -> ['总经理', '总监', 'VP'] (duplicates dropped)."""
    words = [w.strip() for w in _WORD_SPLIT.split(text or "")] if isinstance(text, str) else []
    return list(dict.fromkeys(w for w in words if w))


@dataclass(frozen=True)
class ParamField:
    """One scoring parameter as a form field, and how its value goes to and from the field."""

    make: Callable[[str | None], Any]  # label override -> an unbound field
    to_value: Callable[[Any], Any]
    to_field: Callable[[Any], Any]


def _words_field(label: Any, hint: Any, rows: int = 0) -> Callable[[str | None], Any]:
    def make(override: Any = None) -> Any:
        kind = TextAreaField if rows else StringField
        extra = {"rows": rows} if rows else {}
        return kind(
            override or label,
            validators=[Length(max=2000, message=_l("At most %(max)d characters."))],
            description=hint,
            render_kw={"autocapitalize": "none", "spellcheck": "false", **extra},
        )

    return make


def _count_field(label: Any, hint: Any, maximum: int) -> Callable[[str | None], Any]:
    def make(override: Any = None) -> Any:
        return IntegerField(
            override or label,
            validators=[
                InputRequired(_l("Enter a whole number.")),
                NumberRange(1, maximum, _l("Enter a whole number from %(min)d to %(max)d.")),
            ],
            description=hint,
            render_kw={"inputmode": "numeric"},
        )

    return make


def _kinds_field(override: Any = None) -> Any:
    return MultiCheckboxField(
        override or _l("Document kinds"),
        choices=[SelectChoice(kind, label) for kind, label in KIND_TARGET_LABELS.items()],
        description=_l("Documents of these kinds count, whatever their pages."),
    )


def _joined(words: Any) -> str:
    return ", ".join(words or [])


PARAM_FIELDS: dict[str, ParamField] = {
    "tags": ParamField(
        _words_field(
            _l("Page tags"),
            _l(
                "Pages with one of these content tags count. Separate them with commas, e.g. "
                "pricing, case."
            ),
        ),
        split_words,
        _joined,
    ),
    "kinds": ParamField(_kinds_field, lambda v: list(v or []), lambda v: list(v or [])),
    "days": ParamField(
        _count_field(_l("Days"), _l("A whole number of days, from 1."), 365), int, int
    ),
    "count": ParamField(
        _count_field(_l("Interactions"), _l("How many interactions, from 1."), 1000), int, int
    ),
    "min_seconds": ParamField(
        _count_field(
            _l("Minimum reading time (seconds)"),
            _l("One session must read at least this long."),
            24 * 3600,
        ),
        int,
        lambda v: int(v),
    ),
    "ratio": ParamField(
        _count_field(
            _l("Share of pages read (%)"),
            _l("From 1 to 100: the share of the document's pages the customer viewed."),
            100,
        ),
        lambda v: round(v / 100, 4),
        lambda v: round(float(v) * 100),
    ),
    "words": ParamField(
        _words_field(
            _l("Job title words"),
            _l(
                "A title containing one of these words counts. One per line or separated by commas."
            ),
            rows=4,
        ),
        split_words,
        lambda v: "\n".join(v or []),
    ),
    "industries": ParamField(
        _words_field(
            _l("Target industries"),
            _l("Customers in these industries count. Separate them with commas."),
        ),
        split_words,
        _joined,
    ),
}

# Labels that say more for one rule than the parameter's general label.
PARAM_LABEL_OVERRIDES: dict[tuple[str, str], Any] = {
    ("no_reply_3d", "days"): _l("Days without a reply"),
    ("frequent_interaction", "days"): _l("Within how many days"),
    ("frequent_interaction", "count"): _l("Interactions at least"),
}


def rule_form_for(key: str, param_names: Iterable[str]) -> type[RuleForm]:
    """The form of one rule: RuleForm plus a typed field per parameter it understands."""
    names = tuple(n for n in param_names if n in PARAM_FIELDS)
    fields = {
        f"param_{name}": PARAM_FIELDS[name].make(PARAM_LABEL_OVERRIDES.get((key, name)))
        for name in names
    }
    return type("RuleParamsForm", (RuleForm,), {**fields, "param_names": names})


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


def params_text(key: str, params: dict[str, Any] | None) -> str:
    """A rule's parameters as a reader wants them: "Page tags: pricing; Document kinds: Quote"."""
    parts = []
    for name, value in (params or {}).items():
        spec = PARAM_FIELDS.get(name)
        if spec is None:
            parts.append(gettext("%(label)s: %(value)s", label=name, value=value))
            continue
        label = PARAM_LABEL_OVERRIDES.get((key, name)) or spec.make(None).args[0]
        if name == "kinds":
            shown = "、".join(str(KIND_TARGET_LABELS.get(k, k)) for k in value or [])
        elif name == "ratio":
            shown = f"{round(float(value) * 100)} %"
        elif isinstance(value, list):
            shown = "、".join(value)
        else:
            shown = str(value)
        parts.append(gettext("%(label)s: %(value)s", label=label, value=shown or "—"))
    return "; ".join(parts) or "—"
