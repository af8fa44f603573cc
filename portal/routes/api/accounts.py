"""GET /api/v1/accounts and /api/v1/accounts/<id>: company accounts, scoped like customers."""

from __future__ import annotations

from portal.companies.serializers import account_page_json, account_row_json
from portal.read_models import accounts as overview
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import declare, query
from portal.routes.api.schemas import accounts as schemas


@bp.get("/accounts")
@declare(query=schemas.AccountQuery, answers={200: schemas.AccountPage})
def list_accounts():
    """The company accounts the caller may see, most recently active first

    An account is a company; its contacts are customers (`account_id`). The caller sees an
    account when they may see one of its contacts, and only those contacts and what comes from
    them (scores, reading, deals)."""
    given = query(schemas.AccountQuery).model_dump(exclude_none=True)
    found = overview.list_accounts(api_user(), {k: str(v) for k, v in given.items()})
    return {
        "items": [account_row_json(row) for row in found.items],
        "page": found.page,
        "per_page": found.per_page,
        "total": found.total,
    }


@bp.get("/accounts/<int:account_id>")
@declare(answers={200: schemas.Account})
def get_account(account_id: int):
    """An account's buying committee: contacts with scores and reading, engagement, open deals

    Scoped as GET /accounts: only the contacts the caller may see, and what comes from them."""
    return account_page_json(overview.account_page(api_user(), account_id))
