"""With CSRF protection on (as in production), a form posted without its token changes nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.library.models import Template


@pytest.fixture
def app_config(app_config):
    return {**app_config, "WTF_CSRF_ENABLED": True}


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def _sign_in(client, user) -> None:
    token = _token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"email": user.email, "password": "password123", "csrf_token": token}
    )
    assert response.status_code == 302


def test_login_without_token_is_refused(client, make_user, text_of):
    rep = make_user("rep")
    response = client.post("/login", data={"email": rep.email, "password": "password123"})
    assert response.status_code == 400
    assert "表单已过期" in text_of(response)
    assert client.get("/").status_code == 302  # not signed in


def test_login_with_token_works(client, make_user):
    _sign_in(client, make_user("rep"))
    assert client.get("/").status_code == 200


def test_new_template_without_token_creates_nothing(client, marketing, template_form, app_config):
    _sign_in(client, marketing)
    response = client.post("/library/new", data=template_form())
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Template)) == 0
    storage = Path(app_config["STORAGE_LOCAL_PATH"])
    assert not storage.exists() or not any(p.is_file() for p in storage.rglob("*"))


def test_logout_and_language_switch_need_the_token(client, make_user):
    _sign_in(client, make_user("rep"))
    assert client.post("/logout").status_code == 400
    assert client.get("/").status_code == 200  # still signed in
    assert client.post("/lang", data={"lang": "en", "next": "/"}).status_code == 400
    with client.session_transaction() as session:
        assert "lang" not in session

    token = _token(client.get("/").get_data(as_text=True))
    response = client.post("/lang", data={"lang": "en", "next": "/", "csrf_token": token})
    assert response.status_code == 302
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_the_api_needs_no_csrf_token(client, make_user, api_headers):
    headers = api_headers(make_user("rep"))
    assert client.get("/api/v1/templates", headers=headers).status_code == 200


def test_the_forms_of_the_detail_page_carry_working_tokens(client, marketing, template_form):
    _sign_in(client, marketing)
    token = _token(client.get("/library/new").get_data(as_text=True))
    response = client.post("/library/new", data={**template_form(), "csrf_token": token})
    assert response.status_code == 302
    detail = response.headers["Location"]
    html = client.get(detail).get_data(as_text=True)

    tags_token = re.search(r'name="v1-csrf_token"[^>]*value="([^"]+)"', html)
    assert tags_token, "the content tags form has no token"
    response = client.post(
        f"{detail}/versions/1/tags",
        data={"v1-content_tags": "1:pricing", "v1-csrf_token": tags_token.group(1)},
    )
    assert response.status_code == 302
    response = client.post(f"{detail}/archive", data={"csrf_token": _token(html)})
    assert response.status_code == 302
    assert db.session.scalar(select(Template.archived_at)) is not None
