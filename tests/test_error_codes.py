"""Every error a service raises carries a stable code, and every code means something to a
person in both languages.

Read from the source (tests/error_codes_support.py): a ValidationFailed (or a subclass) made
without a code fails here, so no form or API client ever has to recognise an error by its
English wording. The catalogue (portal.error_catalogue) is checked against the compiled .mo
files: each code has a sentence in English and a real Chinese translation of it, and every raise
gives the values its sentence names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from portal import error_catalogue
from portal.errors import ValidationFailed
from tests.error_codes_support import class_codes, error_classes, is_validation, raises

TRANSLATIONS = Path(__file__).resolve().parents[1] / "portal" / "translations"
CJK = re.compile(r"[\u4e00-\u9fff]")
PLACEHOLDER = re.compile(r"%\((\w+)\)")


@pytest.fixture(scope="module")
def babel_app() -> Iterator[Flask]:
    """A bare app that reads the compiled catalogues, as the portal does."""
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app)
    with app.test_request_context():
        yield app


def raised_codes() -> set[str]:
    return {r.code for r in raises() if r.code} | class_codes()


def test_every_validation_error_is_raised_with_a_code():
    classes = error_classes()
    assert "ValidationFailed" in classes and "DealRefused" in classes  # the walk sees them
    missing = [r.where for r in raises() if is_validation(r.cls, classes) and not r.has_code]
    assert not missing, "ValidationFailed without code=…: " + ", ".join(missing)


def test_the_walk_finds_a_code_less_validation_error(tmp_path, monkeypatch):
    """The check above can fail: a module that raises ValidationFailed("…") is reported."""
    import tests.error_codes_support as support

    package = tmp_path / "portal"
    package.mkdir()
    (package / "errors.py").write_text(
        "class PortalError(Exception):\n    code = 'bad_request'\n\n"
        "class ValidationFailed(PortalError):\n    code = 'validation_failed'\n"
    )
    (package / "rule.py").write_text(
        "from portal.errors import ValidationFailed\n\n"
        "def check(x):\n"
        "    if x:\n        raise ValidationFailed('x is wrong')\n"
        "    raise ValidationFailed('y is wrong', code='y_wrong', field='y')\n"
    )
    monkeypatch.setattr(support, "PORTAL", package)
    found = [(r.where, r.has_code) for r in support.raises()]
    assert found == [("portal/rule.py:5", False), ("portal/rule.py:6", True)]


def test_a_validation_error_keeps_its_code_field_and_params():
    exc = ValidationFailed(
        "name is longer than 200 characters", code="name_too_long", field="name", limit=200
    )
    assert (exc.code, exc.field, exc.params, exc.status) == (
        "name_too_long",
        "name",
        {"limit": 200},
        422,
    )


def test_every_code_raised_has_a_sentence_in_the_catalogue():
    missing = sorted(raised_codes() - set(error_catalogue.MESSAGES))
    assert not missing, f"codes without a sentence in portal/error_catalogue.py: {missing}"


def test_every_sentence_is_english_and_translated_to_chinese(babel_app):
    untranslated = []
    for code, entry in error_catalogue.MESSAGES.items():
        with force_locale("en"):
            english = str(entry.text)
        with force_locale("zh_CN"):
            chinese = str(entry.text)
        if not english or CJK.search(english) or chinese == english or not CJK.search(chinese):
            untranslated.append(code)
        if set(PLACEHOLDER.findall(english)) != set(PLACEHOLDER.findall(chinese)):
            untranslated.append(f"{code} (placeholders differ)")
    assert not untranslated, f"no real zh translation in the compiled catalogue: {untranslated}"


def test_every_raise_gives_the_values_its_sentence_names(babel_app):
    with force_locale("en"):
        needs = {
            code: set(PLACEHOLDER.findall(str(entry.text)))
            for code, entry in error_catalogue.MESSAGES.items()
        }
    short = [
        f"{r.where} {r.code} needs {sorted(needs[r.code] - r.keywords)}"
        for r in raises()
        if r.code in needs and needs[r.code] - r.keywords
    ]
    assert not short, "; ".join(short)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en", "The name is longer than 200 characters."),
        ("zh_CN", "名称不能超过 200 个字符。"),
    ],
)
def test_a_sentence_is_filled_from_the_error_in_the_readers_language(babel_app, lang, expected):
    exc = ValidationFailed("name is too long", code="name_too_long", field="name", limit=200)
    with force_locale(lang):
        assert error_catalogue.message_for(exc) == expected


def test_an_unknown_code_shows_the_services_sentence(babel_app):
    exc = ValidationFailed("something new went wrong", code="brand_new_code")
    with force_locale("zh_CN"):
        assert error_catalogue.message_for(exc) == "Something new went wrong"
