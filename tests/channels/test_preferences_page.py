"""The preferences page (/notifications/preferences): each alert's transports and quiet hours,
saved through the same service as the API, in Chinese and English; fits 390 and 1366 px."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portal.notifications.preferences import get_preferences
from tests.browser_support import (  # noqa: F401  (fixtures)
    chromium_fixture,
    live_server_fixture,
    port_fixture,
    served_config,
    sign_in,
)


@pytest.fixture
def rep(make_user):
    return make_user("rep", email="rep@example.com", team="华东")


def test_the_page_lists_every_alert_in_chinese_with_the_defaults(rep, login, client):
    login(rep)
    html = client.get("/notifications/preferences").get_data(as_text=True)
    for label in ("客户首次打开资料", "资料被转发给他人", "商机等待您审批", "免打扰时段"):
        assert label in html
    assert 'value="22:00"' in html and 'value="08:00"' in html
    # nine alerts everywhere, the digest by e-mail (its in-app cell has no box), quiet hours on
    assert html.count("checked") == 9 * 3 + 1 + 1
    assert 'name="digest:email" checked' in html and 'name="digest:app"' not in html
    assert "first_open" not in html.replace('name="first_open:', "")  # no internal codes shown


def test_the_page_in_english(rep, login, client):
    login(rep)
    client.post("/lang", data={"lang": "en", "next": "/notifications/preferences"})
    html = client.get("/notifications/preferences").get_data(as_text=True)
    assert "A customer opens a document for the first time" in html
    assert "Quiet hours" in html


def test_saving_the_form_changes_the_preferences(rep, login, client):
    login(rep)
    form = {f"{key}:app": "on" for key in ("first_open", "comment")}
    form |= {"comment:chat": "on", "quiet_start": "21:30", "quiet_end": "07:00"}
    answer = client.post("/notifications/preferences", data=form)
    assert answer.status_code == 302
    prefs = get_preferences(rep)
    assert prefs["alerts"]["first_open"] == ["app"]
    assert prefs["alerts"]["comment"] == ["app", "chat"]
    assert prefs["alerts"]["grade_a"] == []
    assert prefs["quiet_hours"] == {"enabled": False, "start": "21:30", "end": "07:00"}


def test_a_bad_time_is_explained_and_nothing_saved(rep, login, client):
    login(rep)
    answer = client.post(
        "/notifications/preferences",
        data={"quiet_enabled": "on", "quiet_start": "8 pm", "quiet_end": "07:00"},
    )
    assert answer.status_code == 422
    assert "HH:MM" in answer.get_data(as_text=True)
    assert get_preferences(rep)["quiet_hours"]["start"] == "22:00"


@pytest.fixture
def app_config(app_config: dict, port: int) -> dict:
    return served_config(app_config, port)


@pytest.mark.parametrize("language", ["zh-CN", "en-US"])
def test_the_page_fits_a_phone_and_a_desktop(rep, live_server, chromium, language):
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, locale=language)
    page = context.new_page()
    sign_in(page, live_server, rep.email)
    shots = os.environ.get("PORTAL_SCREENSHOT_DIR")
    expected = "免打扰时段" if language == "zh-CN" else "Quiet hours"
    for width, height in ((390, 844), (1366, 900)):
        page.set_viewport_size({"width": width, "height": height})
        page.goto(f"{live_server}/notifications/preferences", wait_until="load")
        assert expected in page.inner_text("main")
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"horizontal scroll at {width} px"
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(
                path=str(Path(shots) / f"preferences-{language}-{width}.png"), full_page=True
            )
    context.close()
