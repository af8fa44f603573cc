"""Who a rate limit counts, and how much it allows, for the endpoints open to guessing or floods.

The amounts are config keys (portal.config: LOGIN_RATE_LIMIT, LOGIN_ACCOUNT_ADDRESS_RATE_LIMIT,
LOGIN_ACCOUNT_RATE_LIMIT, EVENTS_RATE_LIMIT, COMMENT_RATE_LIMIT, PIXEL_RATE_LIMIT,
TRACKING_RATE_LIMIT, OPEN_RATE_LIMIT, OPEN_ADDRESS_RATE_LIMIT, PASSCODE_RATE_LIMIT,
PASSCODE_LINK_RATE_LIMIT), read per request, in
Flask-Limiter's syntax ("10/minute;100/hour"). Counters live in Redis when PORTAL_REDIS_URL is
set (shared by every worker), in memory otherwise. A refused request gets 429 and Retry-After:
JSON under /api/ and on /t/r, the friendly error page elsewhere (portal.routes.errors).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Response, current_app, request
from flask_limiter.util import get_remote_address

from portal.extensions import TOO_MANY, limiter


def limit(config_key: str, key_func: Callable[[], str], **options: Any) -> Callable:
    """A route decorator: at most config[config_key] requests per key_func() value."""
    return limiter.limit(
        lambda: current_app.config[config_key],
        key_func=key_func,
        error_message=TOO_MANY,
        **options,
    )


def address() -> str:
    return f"ip:{get_remote_address()}"


def login_account() -> str:
    """The account a sign-in names, whether or not it exists (so a 429 reveals nothing)."""
    email = (request.form.get("email") or "").strip().lower()
    return f"account:{hashlib.sha256(email.encode()).hexdigest()[:32]}"


def login_account_and_address() -> str:
    """The account a sign-in names, from one address: one guesser's failures are theirs."""
    return f"{login_account()}|{address()}"


def failed_sign_in(response: Response) -> bool:
    """Only wrong passwords count against an account: its owner signing in costs nothing."""
    return response.status_code == 401


def wrong_passcode(response: Response) -> bool:
    """Only wrong passcodes count against a link: its reader entering the right one costs
    nothing (portal.delivery.passcodes)."""
    return response.status_code == 401


def bearer_token() -> str:
    """An API caller is counted by its token (integrations often share one address)."""
    credentials = request.headers.get("Authorization", "")
    return f"token:{hashlib.sha256(credentials.encode()).hexdigest()[:32]}"


def path_token() -> str:
    """One link, from anywhere: a flood of opens of one link stops, whatever its addresses."""
    token = (request.view_args or {}).get("token", "")
    return f"link:{hashlib.sha256(str(token).encode()).hexdigest()[:16]}"


def path_token_and_address() -> str:
    """One link's token from one address: a flood of one pixel stops, other readers behind the
    same mail proxy do not."""
    token = (request.view_args or {}).get("token", "")
    return f"{hashlib.sha256(str(token).encode()).hexdigest()[:16]}|{address()}"
