"""The staff import form (a file and what it holds) and the confirm step's form."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, SelectField
from wtforms.validators import DataRequired


class ImportForm(FlaskForm):
    kind = SelectField(
        _l("What the sheet holds"),
        choices=[("customers", _l("Customers")), ("deals", _l("Opportunities (deals)"))],
        default="customers",
    )
    file = FileField(
        _l("Spreadsheet"),
        validators=[FileRequired(_l("Choose a file to upload."))],
        description=_l("An .xlsx workbook (its first sheet) or a .csv file, UTF-8 or GBK."),
        render_kw={"accept": ".xlsx,.csv"},
    )


class ConfirmForm(FlaskForm):
    key = HiddenField(validators=[DataRequired()])
