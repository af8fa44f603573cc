"""The staff accounts page: an admin creates accounts and changes role, team, region and
whether an account may sign in; every change is audited; an admin cannot lock themselves out."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.accounts.services import get_user_by_email
from portal.audit.models import AuditEntry
from portal.extensions import db


def _audit(action: str) -> list[AuditEntry]:
    db.session.expire_all()
    query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
    return list(db.session.scalars(query))


def _new(**overrides) -> dict:
    data = {
        "email": "Wang.Fang@Example.com",
        "name": "王芳",
        "role": "rep",
        "password": "first-pass-1",
        "supervisor": "boss@example.com",
        "team": "华东",
        "region": "上海",
    }
    return {**data, **overrides}


def test_an_admin_creates_an_account_that_can_sign_in(as_admin, admin, make_user, text_of):
    make_user("supervisor", email="boss@example.com", name="主管 王强")
    page = text_of(as_admin.get("/admin/users"))
    assert "员工账号" in page and "主管 王强 (boss@example.com)" in page

    created = as_admin.post("/admin/users", data=_new())
    assert created.status_code == 302
    user = get_user_by_email("wang.fang@example.com")
    assert (user.name, user.role, user.team, user.region, user.supervisor.email) == (
        "王芳",
        "rep",
        "华东",
        "上海",
        "boss@example.com",
    )
    [entry] = _audit("user.created")[-1:]
    assert entry.actor_id == admin.id and entry.summary == "wang.fang@example.com"

    as_admin.post("/logout")
    signed_in = as_admin.post(
        "/login", data={"email": "wang.fang@example.com", "password": "first-pass-1"}
    )
    assert signed_in.status_code == 302


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password": "short"}, "至少 8 个字符"),
        ({"email": "not an address"}, "请填写有效的邮箱"),
        ({"email": "admin@example.com"}, "该邮箱已有账号"),
        ({"name": "  "}, "请填写姓名"),
        ({"supervisor": "nobody@example.com"}, ""),  # not a choice on the form
    ],
)
def test_a_bad_account_is_refused_with_its_reason_and_nothing_is_created(
    as_admin, make_user, text_of, overrides, message
):
    make_user("supervisor", email="boss@example.com")
    before = db.session.query(User).count()
    answer = as_admin.post("/admin/users", data=_new(**overrides))
    assert answer.status_code == 422
    assert message in text_of(answer)
    if "name" not in overrides:  # what the admin typed is kept
        assert 'value="王芳"' in answer.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.query(User).count() == before


def test_an_admin_changes_role_team_and_sign_in_and_it_is_audited(
    as_admin, make_user, login, client
):
    rep = make_user("rep", email="rep@example.com", team="华东")
    prefix = f"u{rep.id}-"
    changed = as_admin.post(
        f"/admin/users/{rep.id}",
        data={f"{prefix}role": "supervisor", f"{prefix}team": "华南", f"{prefix}region": ""},
    )  # "active" left unchecked: may no longer sign in
    assert changed.status_code == 302
    db.session.refresh(rep)
    assert (rep.role, rep.team, rep.active) == ("supervisor", "华南", False)
    [entry] = _audit("user.changed")
    assert entry.details == {
        "role": ["rep", "supervisor"],
        "team": ["华东", "华南"],
        "active": [True, False],
    }

    as_admin.post("/logout")
    refused = client.post("/login", data={"email": "rep@example.com", "password": "password123"})
    assert refused.status_code != 302  # an account that may not sign in cannot

    # The same values again: nothing changes, nothing is logged.
    login(get_user_by_email("admin@example.com"))
    again = client.post(
        f"/admin/users/{rep.id}",
        data={f"{prefix}role": "supervisor", f"{prefix}team": "华南", f"{prefix}region": ""},
        follow_redirects=True,
    )
    assert "没有任何改动" in again.get_data(as_text=True)
    assert len(_audit("user.changed")) == 1


def test_an_admin_cannot_lock_themselves_out(as_admin, admin, text_of):
    prefix = f"u{admin.id}-"
    for data in (
        {f"{prefix}role": "admin", f"{prefix}team": "", f"{prefix}region": ""},  # not active
        {
            f"{prefix}role": "rep",
            f"{prefix}team": "",
            f"{prefix}region": "",
            f"{prefix}active": "y",
        },
    ):
        answer = as_admin.post(f"/admin/users/{admin.id}", data=data)
        assert answer.status_code == 422
        assert "不能取消自己的管理员权限" in text_of(answer)
    db.session.refresh(admin)
    assert (admin.role, admin.active) == ("admin", True)
    assert _audit("user.changed") == []


def test_an_unknown_account_is_404(as_admin):
    assert as_admin.post("/admin/users/987654", data={}).status_code == 404
