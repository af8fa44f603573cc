"""A new password follows NIST SP 800-63B: a length minimum, not a common password, not the
account's e-mail or name; at every place a password is set (service, CLI, admin page). Existing
passwords keep working, and the demo's documented password passes."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from werkzeug.security import generate_password_hash

from portal import jobs
from portal.accounts.passwords import PasswordRejected
from portal.accounts.services import authenticate, create_user, get_user_by_email
from portal.extensions import db

EMAIL = "Wang.Fang@Example.com"
NAME = "Wang Fang"

REFUSED = [
    ("short1", "password_too_short"),
    ("x" * 201, "password_too_long"),
    ("12345678", "password_too_common"),
    ("password123", "password_too_common"),
    ("Qwertyuiop", "password_too_common"),  # the list is compared without case
    ("1qaz2wsx", "password_too_common"),
    ("wang.fang@example.com", "password_like_account"),  # the e-mail itself
    ("Wang.Fang", "password_like_account"),  # its local part
    ("wang.fang2026", "password_like_account"),  # containing it
    ("WangFang", "password_like_account"),  # the name
]


@pytest.mark.parametrize(("password", "code"), REFUSED)
def test_weak_passwords_are_refused_by_the_service_with_code_and_field(app, password, code):
    with pytest.raises(PasswordRejected) as refused:
        create_user(EMAIL, name=NAME, role="rep", password=password)
    assert (refused.value.code, refused.value.field, refused.value.status) == (
        code,
        "password",
        422,
    )
    db.session.rollback()
    assert get_user_by_email(EMAIL) is None


@pytest.mark.parametrize("password", ["correct horse battery", "Xq7-lantern-ridge", "demo1234"])
def test_good_passwords_are_accepted(app, password):
    create_user(EMAIL, name=NAME, role="rep", password=password)
    jobs.commit()
    assert authenticate(EMAIL, password) is not None


def test_the_cli_refuses_a_common_password_and_the_own_email(runner, app):
    for password in ("12345678", "new@example.com"):
        result = runner.invoke(
            args=[
                *("users", "create", "new@example.com", "--role", "rep", "--name", "新人"),
                *("--password", password),
            ]
        )
        assert result.exit_code != 0
        assert "password" in result.output
    assert get_user_by_email("new@example.com") is None


@pytest.mark.parametrize(
    ("password", "zh", "en"),
    [
        ("12345678", "最常见的密码", "most common passwords"),
        ("wang.fang@example.com", "不能是或包含邮箱地址或姓名", "must not be or contain"),
    ],
)
def test_the_admin_page_names_the_field_in_both_languages(
    client, login, make_user, password, zh, en
):
    login(make_user("admin"))
    data = {"email": EMAIL, "name": NAME, "role": "rep", "password": password, "supervisor": ""}
    answer = client.post("/admin/users", data=data)
    assert answer.status_code == 422
    assert zh in _password_errors(answer)
    client.post("/lang", data={"lang": "en", "next": "/admin/users"})
    answer = client.post("/admin/users", data=data)
    assert answer.status_code == 422 and en in _password_errors(answer)
    assert get_user_by_email(EMAIL) is None


def _password_errors(response) -> str:
    """The text shown with the password field (its error belongs there, not at the top)."""
    found = re.search(r'id="password-error">(.*?)</div>', response.get_data(as_text=True), re.S)
    assert found, "no error shown at the password field"
    return html_lib.unescape(found.group(1))


def test_a_password_set_before_the_rules_still_signs_in(app, make_user):
    user = make_user("rep")
    user.password_hash = generate_password_hash("12345678")  # as stored before the rules
    jobs.commit()
    assert authenticate(user.email, "12345678") is not None
