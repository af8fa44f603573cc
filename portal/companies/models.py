from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class Account(db.Model):
    """A company one team sells to. Its contacts are the customers with `account_id` = id.

    `scope` is the team the account belongs to (portal.companies.matching.scope_of): the same
    company name in two teams is two accounts, so no team's committee mixes with another's.
    """

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("scope", "name_key", name="uq_accounts_scope_name_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.name!r} {self.scope}>"
