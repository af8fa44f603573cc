"""Which passwords may be chosen (NIST SP 800-63B, 5.1.1.2): length and a blocklist, no
composition rules.

A new password must have 8 to 200 characters, must not be one of the 30,000 most common
passwords (the list the zxcvbn package ships, from leaked password corpora; compared without
case), and must not be, or contain, the account's e-mail address, its local part or the
person's name. Every place that sets a password calls check() (accounts.services.create_user
for the CLI, the admin page and the demo loader). Passwords set before are not checked again:
sign-in only compares the hash.

The demo accounts' documented password, demo1234, passes (8 characters, not on the list), so
`flask --app wsgi demo` goes through the same rules as everyone (tests/security/test_passwords.py).
"""

from __future__ import annotations

import functools

from portal.errors import ValidationFailed

MIN_LENGTH = 8
MAX_LENGTH = 200
# Shorter pieces of an e-mail or a name are refused only as the whole password ("li" may well
# appear inside a good passphrase).
MIN_CONTAINED = 4


class PasswordRejected(ValidationFailed):
    code = "password_rejected"
    field = "password"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The most common passwords, lower-cased (loaded on first use: about 30 ms)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def _squeezed(text: str) -> str:
    return "".join(text.lower().split())


def check(password: str, *, email: str, name: str) -> None:
    """Raise PasswordRejected (with its code) when password may not be chosen for this account."""
    if len(password) < MIN_LENGTH:
        raise PasswordRejected(
            f"password must have at least {MIN_LENGTH} characters", code="password_too_short"
        )
    if len(password) > MAX_LENGTH:
        raise PasswordRejected(
            f"password must have at most {MAX_LENGTH} characters", code="password_too_long"
        )
    if password.lower() in common_passwords():
        raise PasswordRejected(
            "password is one of the most common passwords: choose another",
            code="password_too_common",
        )
    squeezed = _squeezed(password)
    local = email.split("@", 1)[0]
    for part in {_squeezed(email), _squeezed(local), _squeezed(name)}:
        if not part:
            continue
        if squeezed == part or (len(part) >= MIN_CONTAINED and part in squeezed):
            raise PasswordRejected(
                "password must not be or contain the e-mail address or the name",
                code="password_like_account",
            )
