"""Migration 0003 seeds exactly the default rules that portal.engagement.rules describes."""

from __future__ import annotations

from sqlalchemy import select

from portal import create_app
from portal.engagement.models import ScoringRule, ScoringRuleRevision
from portal.engagement.rules import DEFAULT_RULES, PARAMS, check_params
from portal.extensions import db


def test_db_upgrade_seeds_the_default_rules(tmp_path, monkeypatch):
    from flask_migrate import upgrade

    from portal.schema_migrations import enable_migrations

    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'seed.sqlite3'}",
            "STORAGE_LOCAL_PATH": str(tmp_path / "storage"),
        }
    )
    enable_migrations(app)
    with app.app_context():
        upgrade()
        seeded = {
            rule.key: (
                rule.points,
                rule.cap,
                rule.repeatable,
                rule.enabled,
                rule.version,
                rule.params,
            )
            for rule in db.session.scalars(select(ScoringRule))
        }
        history = db.session.execute(
            select(ScoringRuleRevision.key, ScoringRuleRevision.version)
        ).all()
        db.session.remove()
        db.engine.dispose()

    assert seeded == {
        d.key: (d.points, d.cap, d.repeatable, True, 1, d.params) for d in DEFAULT_RULES
    }
    assert sorted(history) == sorted((d.key, 1) for d in DEFAULT_RULES)


def test_the_defaults_follow_design_md():
    points = {d.key: d.points for d in DEFAULT_RULES}
    assert points == {
        "pricing_viewed": 20,
        "brochure_downloaded": 15,
        "no_reply_3d": -10,
        "doc_opened": 5,
        "long_read": 10,
        "deep_read": 10,
        "case_study_viewed": 10,
        "return_visit": 5,
        "comment_created": 15,
        "frequent_interaction": 10,
        "senior_title": 15,
        "target_industry": 10,
    }
    caps = {d.key: d.cap for d in DEFAULT_RULES}
    assert caps["return_visit"] == 15  # max 3
    assert caps["pricing_viewed"] == 20
    for default in DEFAULT_RULES:  # every seeded param is one the rule understands
        assert check_params(default.key, default.params) == default.params
        assert set(default.params) <= set(PARAMS.get(default.key, {}))
