"""Form pieces every staff form may use (WTForms), whatever its domain."""

from __future__ import annotations

from wtforms import SelectChoice, SelectMultipleField, widgets


def choices(options: dict, *, first: tuple | None = None) -> list[SelectChoice]:
    items = [first, *options.items()] if first else list(options.items())
    return [SelectChoice(value, label) for value, label in items]


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()
