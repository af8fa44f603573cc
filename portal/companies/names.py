"""The key two spellings of one company name share.

NFKC folds full-width letters, digits and brackets (（）ＡＢＣ, common in Chinese input) into
their ordinary forms, whitespace runs become one space, and casefold makes "ACME Ltd" and
"acme ltd" one company. Nothing else is guessed (no dropping of 有限公司 / Ltd.): two names that
differ in words stay two accounts, and the rep can see both.
"""

from __future__ import annotations

import unicodedata

MAX_NAME = 200  # as customers.company


def name_key(company: str | None) -> str:
    """The normalised company name ("" for no company)."""
    text = unicodedata.normalize("NFKC", company or "")
    return " ".join(text.split()).casefold()[:MAX_NAME]


def display_name(company: str | None) -> str:
    """The name as shown: the first spelling seen, with its whitespace tidied."""
    return " ".join(unicodedata.normalize("NFKC", company or "").split())[:MAX_NAME]
