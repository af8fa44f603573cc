"""Every UI string has a Chinese translation, the compiled catalogs are current, and the
language follows the session choice and the browser."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "portal" / "translations"
LOCALES = ("zh_CN", "en")


# one worker runs pybabel extract once for the module (extracted, scope="module")
pytestmark = pytest.mark.xdist_group("i18n")


def _po(locale: str):
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory):
    """The messages in the code now, extracted exactly as babel.cfg documents."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [
            str(pybabel),
            "-q",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "lazy_gettext",
            "-k",
            "_l",
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with pot.open("rb") as fh:
        return read_po(fh)


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(strings) and all(s.strip() for s in strings) and not message.fuzzy


def test_extraction_finds_the_ui(extracted):
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted if m.id}
    assert "Sign in" in ids
    assert "Library" in ids


def test_every_message_has_a_chinese_translation(extracted):
    catalog = _po("zh_CN")
    missing = [
        m.id
        for m in extracted
        if m.id and (catalog.get(m.id) is None or not _translated(catalog.get(m.id)))
    ]
    assert not missing, (
        "messages without a zh_CN translation (see babel.cfg for the pybabel commands): "
        + "; ".join(map(str, missing))
    )


def test_the_english_catalog_knows_every_message(extracted):
    catalog = _po("en")
    missing = [m.id for m in extracted if m.id and catalog.get(m.id) is None]
    assert not missing, f"messages missing from the en catalog: {missing}"


def _key(value):
    return tuple(value) if isinstance(value, list | tuple) else value


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogs_are_up_to_date(locale):
    catalog = _po(locale)
    with (TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        compiled = read_mo(fh)
    expected = {_key(m.id): _key(m.string) for m in catalog if m.id and _translated(m)}
    actual = {_key(m.id): _key(m.string) for m in compiled if m.id}
    assert actual == expected, f"run `pybabel compile -d portal/translations` ({locale})"


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_survive_translation(locale):
    import re

    pattern = re.compile(r"%\((\w+)\)[sd]")
    for message in _po(locale):
        if not message.id or not _translated(message):
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = set(pattern.findall(" ".join(ids)))
        for string in strings:
            assert set(pattern.findall(string)) <= wanted | {"num"}, message.id
            assert set(pattern.findall(string)) >= wanted - {"num"}, message.id


def _visible(response) -> str:
    import re

    return " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())


def test_login_page_is_chinese_by_default(client):
    page = _visible(client.get("/login"))
    assert "登录" in page
    assert "Sign in" not in page
    assert 'lang="zh-CN"' in client.get("/login").get_data(as_text=True)


def test_login_page_is_english_after_switching(client):
    client.post("/lang", data={"lang": "en", "next": "/login"})
    response = client.get("/login")
    assert "Sign in" in _visible(response)
    assert "登录" not in _visible(response)
    assert '<html lang="en">' in response.get_data(as_text=True)


def test_a_logged_out_visitor_gets_the_browser_language(client):
    english = _visible(client.get("/login", headers={"Accept-Language": "en-US,en;q=0.9"}))
    assert "Sign in" in english
    chinese = _visible(client.get("/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}))
    assert "登录" in chinese


def test_the_session_choice_beats_the_browser(client):
    client.post("/lang", data={"lang": "zh_CN", "next": "/login"})
    page = _visible(client.get("/login", headers={"Accept-Language": "en"}))
    assert "登录" in page
