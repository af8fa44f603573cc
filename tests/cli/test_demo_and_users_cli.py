"""The CLI commands of the public contract, run as `flask --app wsgi …` would run them."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.accounts.models import ApiToken, Role, User
from portal.accounts.services import authenticate, user_for_token
from portal.customers.models import Customer
from portal.delivery.models import Delivery
from portal.demo import dataset
from portal.extensions import db
from portal.library.models import Template
from portal.library.rendering import render_version_pdf, sample_variables
from portal.tracking.models import Event


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_users_create_with_every_option(runner, make_user):
    make_user("supervisor", email="boss@example.com")
    result = runner.invoke(
        args=[
            "users", "create", "Li.Na@Example.com", "--role", "rep", "--name", "李娜",
            "--supervisor", "boss@example.com", "--team", "华东", "--region", "上海",
            "--password", "s3cret-pass",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "li.na@example.com"))
    assert (user.role, user.team, user.region, user.supervisor.email) == (
        "rep", "华东", "上海", "boss@example.com",
    )  # fmt: skip
    assert user.password_hash != "s3cret-pass"
    assert authenticate("li.na@example.com", "s3cret-pass") == user


def test_users_create_prompts_for_the_password(runner):
    result = runner.invoke(
        args=["users", "create", "m@example.com", "--role", "marketing", "--name", "M"],
        input="long-password\nlong-password\n",
    )
    assert result.exit_code == 0, result.output
    assert authenticate("m@example.com", "long-password") is not None


def test_users_create_refuses_bad_input_clearly(runner, make_user):
    make_user("rep", email="taken@example.com")
    cases = [
        (["taken@example.com", "--role", "rep"], "already exists"),
        (["x@example.com", "--role", "rep", "--supervisor", "nobody@example.com"], "no user"),
        (["not-an-email", "--role", "rep"], "invalid e-mail"),
        (["y@example.com", "--role", "rep", "--password", "short"], "at least 8"),
    ]
    for args, message in cases:
        full = ["users", "create", *args, "--name", "N"]
        if "--password" not in args:
            full += ["--password", "long-enough"]
        result = runner.invoke(args=full)
        assert result.exit_code != 0
        assert message in result.output
    assert count(User) == 1


def test_users_token_prints_a_token_stored_only_as_a_hash(runner, make_user):
    user = make_user("marketing", email="m@example.com")
    result = runner.invoke(args=["users", "token", "m@example.com"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert token.startswith("ptl_")
    row = db.session.scalar(select(ApiToken))
    assert token not in (row.token_hash, row.prefix)
    assert user_for_token(token) == user
    assert runner.invoke(args=["users", "token", "nobody@example.com"]).exit_code != 0


def test_demo_loads_every_role_templates_and_customers(runner):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    roles = set(db.session.scalars(select(User.role)))
    assert roles == {r.value for r in Role}  # users of every role, finance and legal too
    # every account keeps the documented password, though it is weaker than the password rules
    # ask of people who choose their own (tests/security/test_passwords.py)
    for email, *_ in dataset.USERS:
        assert authenticate(email, dataset.DEMO_PASSWORD) is not None, email
    assert dataset.DEMO_PASSWORD == "demo1234"  # as the README says
    templates = {t.name: t for t in db.session.scalars(select(Template))}
    quote = templates["MES 标准报价单"]
    assert quote.kind == "quote"
    assert [v.number for v in quote.versions] == [2, 1]
    assert quote.latest_version.content_tags == {"2": ["pricing"]}
    assert {t.kind for t in templates.values()} >= {"quote", "case_study", "brochure", "solution"}
    industries = set(db.session.scalars(select(Customer.industry)))
    regions = set(db.session.scalars(select(Customer.region)))
    assert len(industries) >= 3 and len(regions) >= 3
    deliveries = db.session.scalars(select(Delivery)).all()
    assert len(deliveries) == 5
    assert {d.render_status for d in deliveries} == {"ready"}
    read = db.session.scalars(select(Event).where(Event.type == "page.viewed")).all()
    assert {(e.page, e.duration_ms) for e in read} >= {(1, 40_000), (2, 95_000)}
    assert db.session.scalars(select(Event).where(Event.type == "link.opened")).all()
    pdf = render_version_pdf(quote.latest_version, sample_variables())
    assert pdf.startswith(b"%PDF-")
    # a second run refuses; --if-empty skips quietly
    assert runner.invoke(args=["demo"]).exit_code != 0
    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "nothing loaded" in again.output
    # scripts/run's later starts: the demo's logins again, as its last line promises
    assert "password demo1234" in again.output and "rep@demo.portal" in again.output
    assert count(Template) == len(templates)
