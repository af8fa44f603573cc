"""A service's refusal lands on the form field it concerns, in the reader's language.

The services raise errors with a code and a field; the forms put them on that field with the
error catalogue's sentence. Each case here is a rule only the service knows (the form's own
validators pass), checked in Chinese and in English: the sentence must be on the named field,
so a broken field mapping (the error on the whole form, or on another field) fails.
"""

from __future__ import annotations

import html as html_lib
import io
import re

import pytest

from tests.delivery.helpers import make_customer
from tests.routes.rep_support import team_fixture  # noqa: F401  (the `team` fixture)


def field_error(response, field: str) -> str:
    """The text shown under one field ('' when it has none)."""
    page = response.get_data(as_text=True)
    found = re.search(rf'<div class="field-error" id="{field}-error">(.*?)</div>', page, re.S)
    if not found:
        return ""
    return html_lib.unescape(" ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split()))


def choose_language(client, lang: str) -> None:
    client.post("/lang", data={"lang": lang, "next": "/"})


# --- library: the new-template form ---------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh_CN", "第 1 页：标签 价格! 只能使用小写字母、数字、- 或 _。"),
        ("en", "Page 1: the tag 价格! may use lower-case letters, digits, - or _ only."),
    ],
)
def test_a_bad_content_tag_is_shown_on_the_content_tags_field(
    as_marketing, template_form, lang, expected
):
    choose_language(as_marketing, lang)
    response = as_marketing.post("/library/new", data=template_form(content_tags="1:价格!"))
    assert response.status_code == 422
    assert field_error(response, "content_tags") == expected
    assert field_error(response, "name") == ""


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh_CN", "文件是空的（0 字节）。请重新上传有内容的文件。（'brochure.html'"),
        # English: the service's own sentence, the file's name as it was (never capitalised)
        ("en", "'brochure.html' is empty (0 bytes)"),
    ],
)
def test_an_empty_upload_is_shown_on_the_file_field(as_marketing, template_form, lang, expected):
    choose_language(as_marketing, lang)
    empty = (io.BytesIO(b""), "brochure.html")
    response = as_marketing.post("/library/new", data=template_form(file=empty))
    assert response.status_code == 400
    assert field_error(response, "file").startswith(expected)


# --- sending a material from the customer page ----------------------------------------------


def _send(client, customer_id: int, template_id: int, **fields):
    data = {"template_id": template_id, "allow_download": "y", **fields}
    return client.post(f"/customers/{customer_id}/send", data=data)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh_CN", "请填写 1 到 365 之间的天数，或留空。"),
        ("en", "Enter a number of days from 1 to 365, or leave it empty."),
    ],
)
def test_an_expiry_out_of_range_is_shown_on_the_days_field(team, login, client, lang, expected):
    login(team.rep)
    choose_language(client, lang)
    response = _send(client, team.customer.id, team.template.id, expires_in_days="999")
    assert response.status_code == 422
    assert field_error(response, "expires_in_days") == expected


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh_CN", "该客户没有电子邮件地址。请取消勾选“同时发送邮件”，改为复制链接发到聊天中。"),
        (
            "en",
            "This customer has no e-mail address. Untick “Also send it by e-mail” and copy the "
            "link into your chat instead.",
        ),
    ],
)
def test_e_mail_to_a_customer_without_an_address_is_shown_on_the_e_mail_box(
    team, login, client, lang, expected
):
    no_email = make_customer(team.rep, name="赵六", email=None)
    login(team.rep)
    choose_language(client, lang)
    response = _send(client, no_email.id, team.template.id, send_email="y")
    assert response.status_code == 422
    assert field_error(response, "send_email") == expected


# --- the new-customer form ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("zh_CN", "请填写有效的邮箱。"), ("en", "Enter a valid e-mail address.")],
)
def test_a_bad_e_mail_address_is_shown_on_the_customers_e_mail_field(
    team, login, client, lang, expected
):
    login(team.rep)
    choose_language(client, lang)
    response = client.post("/customers/new", data={"name": "赵六", "email": "not-an-address"})
    assert response.status_code == 422
    assert field_error(response, "email") == expected


# --- admin settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh_CN", "请填写以 http:// 或 https:// 开头、带主机名的网址。"),
        ("en", "Enter an http:// or https:// URL with a host."),
    ],
)
def test_a_webhook_url_that_is_not_http_is_shown_on_the_url_field(as_admin, lang, expected):
    choose_language(as_admin, lang)
    response = as_admin.post(
        "/admin/webhooks", data={"url": "ftp://x.example", "events": ["delivery.opened"]}
    )
    assert response.status_code == 422
    assert field_error(response, "url") == expected


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("zh_CN", "该邮箱已有账号。"), ("en", "An account with this e-mail address already exists.")],
)
def test_an_e_mail_already_in_use_is_shown_on_the_accounts_e_mail_field(
    as_admin, admin, make_user, lang, expected
):
    make_user("supervisor", email="boss@example.com")
    choose_language(as_admin, lang)
    data = {
        "email": admin.email,
        "name": "王芳",
        "role": "rep",
        "password": "first-pass-1",
        "supervisor": "boss@example.com",
        "team": "华东",
        "region": "上海",
    }
    response = as_admin.post("/admin/users", data=data)
    assert response.status_code == 422
    assert field_error(response, "email") == expected
