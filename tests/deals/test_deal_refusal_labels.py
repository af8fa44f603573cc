"""The refusal to win a deal still waiting for approvals names the approvers in words, not by
role code ("finance, legal")."""

from __future__ import annotations

import re

import pytest

from tests.deals.conftest import new_deal, walk_to


def visible(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.mark.parametrize("lang, waiting", [("zh_CN", "财务和法务"), ("en", "Finance and Legal")])
def test_the_flash_names_the_approvers(sales, login, client, lang, waiting):
    deal = walk_to(
        sales.east_rep, new_deal(sales.east_rep, sales.shanghai, "680000"), "negotiation"
    )
    login(sales.east_rep)
    client.post("/lang", data={"lang": lang, "next": "/"})
    page = client.post(f"/deals/{deal.id}/won", follow_redirects=True)
    text = visible(page.get_data(as_text=True))
    assert waiting in text
    assert "finance, legal" not in text
