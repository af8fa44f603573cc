"""Adding a contact to a known account (the entry point for new people of one company, such as
an identified forwarded reader of a delivery).

The contact is a customer like any other (portal.customers.services.create_customer holds the
ownership rules), put straight into `account` rather than matched by company name, so a reader
who typed another spelling of the company, or none, still joins the committee they belong to.
"""

from __future__ import annotations

from dataclasses import replace

from portal.accounts.models import User
from portal.companies.models import Account
from portal.customers.models import Customer
from portal.customers.services import CustomerFields, create_customer


def add_contact(account: Account, owner: User, fields: CustomerFields) -> Customer:
    """A new contact of account, owned by owner (a rep: usually the owner of the contact the
    new one came through). Its company is the account's name when none is given."""
    fields = replace(fields, company=fields.company.strip() or account.name)
    return create_customer(owner, fields, account=account)
