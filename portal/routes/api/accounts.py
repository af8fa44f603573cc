"""GET /api/v1/accounts and /api/v1/accounts/<id>: company accounts, scoped like customers."""

from __future__ import annotations

from flask import request

from portal.companies.serializers import account_page_json, account_row_json
from portal.read_models import accounts as overview
from portal.routes.api.base import api_user, bp


@bp.get("/accounts")
def list_accounts():
    found = overview.list_accounts(api_user(), request.args)
    return {
        "items": [account_row_json(row) for row in found.items],
        "page": found.page,
        "per_page": found.per_page,
        "total": found.total,
    }


@bp.get("/accounts/<int:account_id>")
def get_account(account_id: int):
    return account_page_json(overview.account_page(api_user(), account_id))
