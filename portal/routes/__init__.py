"""Blueprints. Routes parse the request, call one service and render the answer."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from portal.routes import (
        admin,
        api,
        auth,
        customer,
        customers,
        errors,
        library,
        mail,
        main,
        notifications,
        tasks,
        tracking,
        ui,
    )

    app.register_blueprint(api.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(main.bp)
    app.register_blueprint(library.bp)
    app.register_blueprint(customers.bp)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(tasks.bp)
    app.register_blueprint(tracking.bp)
    app.register_blueprint(customer.bp)
    app.register_blueprint(mail.bp)
    app.register_blueprint(admin.bp)
    errors.register(app)
    ui.register(app)
