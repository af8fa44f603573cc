"""Blueprints. Routes parse the request, call one service and render the answer."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter

from portal.db_types import MAX_ID


class RowIdConverter(IntegerConverter):
    """`<int:…>` in every route: digits up to MAX_ID; a larger number matches no route (404)."""

    def __init__(self, map, fixed_digits: int = 0, min=None, max=MAX_ID, signed: bool = False):
        super().__init__(map, fixed_digits, min, max, signed)


def register_blueprints(app: Flask) -> None:
    from portal.routes import (
        admin,
        analytics,
        api,
        auth,
        bulk_sends,
        companies,
        customer,
        customers,
        deals,
        errors,
        exchange,
        input_guard,
        library,
        live,
        mail,
        main,
        metrics,
        notifications,
        outage_probes,
        privacy,
        profile,
        tasks,
        tracking,
        ui,
    )

    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    input_guard.init_app(app)
    metrics.init_app(app)
    outage_probes.init_app(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(library.bp)
    app.register_blueprint(customers.bp)
    app.register_blueprint(bulk_sends.bp)
    app.register_blueprint(companies.bp)
    app.register_blueprint(deals.bp)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(tracking.bp)
    app.register_blueprint(customer.bp)
    app.register_blueprint(mail.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(exchange.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(profile.bp)
    app.register_blueprint(analytics.bp)
    app.register_blueprint(metrics.bp)
    errors.register(app)
    ui.register(app)
