"""Signing in and out, the language switch, error pages and login-only pages."""

from __future__ import annotations

import re

import pytest


def _without_tokens(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


def test_login_page_is_public(client, text_of):
    response = client.get("/login")
    assert response.status_code == 200
    assert "登录" in text_of(response)


@pytest.mark.parametrize("path", ["/", "/library/", "/library/new", "/library/1"])
def test_staff_pages_require_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_login_then_logout(client, make_user, login):
    rep = make_user("rep", name="李雷")
    response = login(rep)
    assert response.headers["Location"] == "/"
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert "李雷" in dashboard.get_data(as_text=True)

    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert client.get("/").status_code == 302


def test_marketing_lands_on_the_library(client, marketing, login):
    assert login(marketing).headers["Location"] == "/library/"


def test_login_returns_to_the_page_asked_for(client, make_user):
    rep = make_user("rep")
    response = client.post(
        "/login", data={"email": rep.email, "password": "password123", "next": "/library/"}
    )
    assert response.headers["Location"] == "/library/"


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_login_never_redirects_to_another_site(client, make_user, target):
    rep = make_user("rep")
    response = client.post(
        "/login", data={"email": rep.email, "password": "password123", "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_wrong_password_and_unknown_account_look_the_same(client, make_user, text_of):
    rep = make_user("rep", email="known@example.com")
    wrong = client.post("/login", data={"email": rep.email, "password": "not-the-password"})
    unknown = client.post("/login", data={"email": "nobody@example.com", "password": "whatever1"})
    assert wrong.status_code == unknown.status_code == 401
    assert "邮箱或密码不正确" in text_of(wrong)
    wrong_html = _without_tokens(wrong.get_data(as_text=True)).replace("known@example.com", "X")
    unknown_html = _without_tokens(unknown.get_data(as_text=True)).replace(
        "nobody@example.com", "X"
    )
    assert wrong_html == unknown_html
    assert client.get("/").status_code == 302  # still signed out


def test_inactive_account_cannot_sign_in(client, make_user, text_of):
    from portal.extensions import db

    rep = make_user("rep")
    rep.active = False
    db.session.commit()
    response = client.post("/login", data={"email": rep.email, "password": "password123"})
    assert response.status_code == 401
    assert "邮箱或密码不正确" in text_of(response)


def test_empty_login_form_shows_field_errors(client, text_of):
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 422
    assert "请输入邮箱地址" in text_of(response)


def test_language_switch_is_kept_in_the_session(client, text_of):
    assert "登录" in text_of(client.get("/login"))
    response = client.post("/lang", data={"lang": "en", "next": "/login"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    with client.session_transaction() as session:
        assert session["lang"] == "en"
    page = text_of(client.get("/login"))
    assert "Sign in" in page
    assert "登录" not in page


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil"])
def test_language_switch_never_redirects_to_another_site(client, target):
    response = client.post("/lang", data={"lang": "en", "next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_language_switch_refuses_unknown_languages(client):
    assert client.post("/lang", data={"lang": "fr", "next": "/"}).status_code == 400


def test_the_language_survives_sign_out(client, make_user, login, text_of):
    login(make_user("rep"))
    client.post("/lang", data={"lang": "en", "next": "/"})
    client.post("/logout")
    assert "Sign in" in text_of(client.get("/login"))


def test_healthz_needs_no_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "ok"


def test_unknown_page_is_a_friendly_404_in_chinese(client, text_of):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "页面不存在" in text_of(response)


def test_unknown_api_path_answers_json(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.is_json
    assert response.json["error"]["code"] == "not_found"
    response = client.delete("/api/v1/openapi.json")
    assert response.status_code == 405
    assert response.is_json


def test_wrong_method_on_a_page_is_a_friendly_page(client, text_of):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "GET" in response.headers["Allow"]


def test_an_unexpected_error_is_a_friendly_500(app, client, text_of):
    def boom():
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.add_url_rule("/boom", "boom", boom)
    app.add_url_rule("/api/v1/boom", "api_boom", boom)
    response = client.get("/boom")
    assert response.status_code == 500
    assert "系统出错了" in text_of(response)
    assert "boom" not in text_of(response)
    response = client.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.json["error"]["code"] == "internal_server_error"
