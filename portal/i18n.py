"""Language choice: a staff member's choice, else the session's, else the browser's."""

from __future__ import annotations

from flask import current_app, request, session
from flask_login import current_user

SESSION_KEY = "lang"


def supported() -> list[str]:
    return current_app.config["LANGUAGES"]


def browser_locale() -> str:
    """The best supported language from Accept-Language (customer pages use only this)."""
    best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default=None)
    if best is None:
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    return "en" if best == "en" else "zh_CN"


def select_locale() -> str:
    chosen = session.get(SESSION_KEY)
    if chosen in supported():
        return chosen
    if current_user and current_user.is_authenticated and current_user.locale in supported():
        return current_user.locale
    return browser_locale()
