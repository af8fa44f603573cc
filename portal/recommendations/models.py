from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db_types import UTCDateTime, utcnow
from portal.extensions import db


class KeywordRule(db.Model):
    """A word in a customer's message -> the templates it points at.

    target is `kind:<template kind>` or `tag:<content tag>` (a tag of the latest version); a
    keyword may have one row per target (报价 -> kind:quote and tag:pricing). keyword is stored
    lowercased (NFKC); matching is case-insensitive.
    """

    __tablename__ = "keyword_rules"
    __table_args__ = (
        UniqueConstraint("keyword", "target", name="uq_keyword_rules_keyword_target"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    keyword: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str] = mapped_column(String(60))
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
