"""portal links that expire and die with the link they came from: links.parent_id

Revision ID: 0009
Revises: 0013
Create Date: 2026-12-05 23:40:00.000000

A link derived from another (the viewer's "all documents" link, the portal page's document
links) names the link it was opened with as its parent and lives only while it does. Existing
portal links had no expiry: they keep working, for 90 days (PORTAL_PORTAL_LINK_DAYS' default)
from this migration, and are then replaced by a new one the next time one is handed out.
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import portal.db_types

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0013"
branch_labels = None
depends_on = None

GRACE = timedelta(days=90)


def upgrade():
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_links_parent_id"), ["parent_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_links_parent_id_links"),
            "links",
            ["parent_id"],
            ["id"],
            ondelete="CASCADE",
        )
    links = sa.table(
        "links",
        sa.column("purpose", sa.String),
        sa.column("delivery_id", sa.Integer),
        sa.column("expires_at", portal.db_types.UTCDateTime()),
        sa.column("revoked_at", portal.db_types.UTCDateTime()),
    )
    op.execute(
        links.update()
        .where(
            links.c.purpose == "portal",
            links.c.delivery_id.is_(None),
            links.c.expires_at.is_(None),
            links.c.revoked_at.is_(None),
        )
        .values(expires_at=datetime.now(UTC) + GRACE)
    )


def downgrade():
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_links_parent_id_links"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_links_parent_id"))
        batch_op.drop_column("parent_id")
