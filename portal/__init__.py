"""Portal: tracked document delivery for B2B sales teams."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Flask

from portal import security_headers, static_files
from portal.config import MiB, load_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: dict[str, Any] | None = None) -> Flask:
    settings = load_config()
    settings.update(config or {})
    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(settings)
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        # Room for the form fields around the largest accepted file; beyond it: 413.
        app.config["MAX_CONTENT_LENGTH"] = app.config["UPLOAD_MAX_BYTES"] + MiB
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    # WeasyPrint logs each step of every render (and its stylesheets at import) at INFO: only
    # when asked for (PORTAL_RENDER_PROGRESS_LOG=1, to see where a slow render spends its time)
    logging.getLogger("weasyprint.progress").setLevel(
        logging.INFO if app.config.get("RENDER_PROGRESS_LOG") else logging.WARNING
    )

    _init_extensions(app)
    _register_blueprints(app)
    security_headers.init_app(app)
    static_files.init_app(app)  # static URLs named by content, cached, CSS/JS gzipped
    _register_cli(app)
    return app


def _init_extensions(app: Flask) -> None:
    from flask_babel import lazy_gettext

    from portal import event_handlers, i18n, models  # noqa: F401  (models: register every table)
    from portal.accounts.models import User
    from portal.deals import guard  # noqa: F401  (deals change only through their services)
    from portal.extensions import babel, csrf, db, limiter, login_manager
    from portal.library import storage
    from portal.library.storage import node_cache

    db.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        default_translation_directories=str(ROOT / "portal" / "translations"),
    )
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = lazy_gettext("Please sign in to open this page.")
    login_manager.login_message_category = "info"
    login_manager.localize_callback = str  # flash the text in the reader's language, not the proxy
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        user = db.session.get(User, int(user_id))
        return user if user and user.active else None

    storage.init_app(app)
    node_cache.init_app(app)  # with remote storage: erasures' purges reach every node's cache
    event_handlers.install(app)  # who reacts to tracked actions, in order: portal/event_handlers.py


def _register_blueprints(app: Flask) -> None:
    from portal.routes import register_blueprints

    register_blueprints(app)
    if app.config.get("BENCH_ROUTES"):
        from portal.routes import bench  # baselines for `python -m bench`, never in production

        app.register_blueprint(bench.bp)


def _register_cli(app: Flask) -> None:
    from portal.accounts.cli import users_cli
    from portal.deals.cli import deals_cli
    from portal.demo.cli import demo_command
    from portal.engagement.cli import scores_cli
    from portal.privacy.cli import privacy_cli
    from portal.recommendations.cli import keywords_cli
    from portal.schema_migrations import MigrationCommands
    from portal.tasks.cli import tasks_cli, tick_command
    from portal.tracking.cli import analytics_cli
    from portal.webhooks.cli import webhooks_cli
    from portal.worker import worker_command

    app.cli.add_command(MigrationCommands(app))  # `flask db`: Flask-Migrate when it runs
    app.cli.add_command(users_cli)
    app.cli.add_command(demo_command)
    app.cli.add_command(scores_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(keywords_cli)
    app.cli.add_command(webhooks_cli)
    app.cli.add_command(tick_command)
    app.cli.add_command(tasks_cli)
    app.cli.add_command(deals_cli)
    app.cli.add_command(privacy_cli)
    app.cli.add_command(analytics_cli)
