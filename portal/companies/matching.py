"""Which account a contact belongs to: the one place that decides it.

A contact's account is the account of its company name (portal.companies.names.name_key) within
its owner's team (`scope_of`). Creating a customer (form, API, spreadsheet import, demo) and
changing a customer's company or owner (the import's updates) all call `assign_account`; the
migration 0008 grouped the customers that existed before by the same rule.

A customer with no company has no account: an account is a company, and one shared "no company"
account would put strangers in one buying committee, while one account per person would only
repeat the contact list.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from portal.accounts.models import User
from portal.companies.models import Account
from portal.companies.names import display_name, name_key
from portal.customers.models import Customer
from portal.extensions import db


def scope_of(owner: User) -> str:
    """The team an owner's accounts belong to: their team when they have one, else their
    supervisor's group (what the supervisor sees), else the rep alone."""
    if owner.team:
        return f"team:{owner.team}"
    if owner.supervisor_id:
        return f"supervisor:{owner.supervisor_id}"
    return f"rep:{owner.id}"


def find_or_create(scope: str, company: str) -> Account | None:
    """The account of this company name in this scope, created on first use; None for ""."""
    key = name_key(company)
    if not key:
        return None
    query = select(Account).where(Account.scope == scope, Account.name_key == key)
    account = db.session.scalar(query)
    if account is not None:
        return account
    account = Account(name=display_name(company), name_key=key, scope=scope)
    try:
        with db.session.begin_nested():  # a concurrent first contact of the same company
            db.session.add(account)
    except IntegrityError:
        account = db.session.scalar(query)
    return account


def assign_account(customer: Customer) -> Account | None:
    """Put customer (its company and owner set) in the
    account its company and owner's team give; an account left with no contact goes."""
    owner = (
        customer.owner if customer.owner is not None else db.session.get(User, customer.owner_id)
    )
    previous = customer.account_id
    account = find_or_create(scope_of(owner), customer.company or "")
    customer.account = account
    db.session.flush()
    if previous is not None and previous != customer.account_id:
        _drop_if_empty(previous)
    return account


def _drop_if_empty(account_id: int) -> None:
    used = db.session.scalar(select(exists().where(Customer.account_id == account_id)))
    if not used:
        db.session.execute(Account.__table__.delete().where(Account.id == account_id))
