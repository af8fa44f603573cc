"""privacy: erasures, erased links (410 after erasure), the privacy statement's settings

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 00:40:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import portal.db_types

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("erased_by_id", sa.Integer(), nullable=True),
        sa.Column("erased_at", portal.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "counts",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["erased_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_erasures_customer_id", "erasures", ["customer_id"])
    op.create_table(
        "erased_links",
        sa.Column("link_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("erased_at", portal.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("link_id"),
    )
    op.create_table(
        "privacy_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_url", sa.String(length=500), nullable=False),
        sa.Column("statement_text", sa.Text(), nullable=False),
        sa.Column("updated_at", portal.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade():
    op.drop_table("privacy_settings")
    op.drop_table("erased_links")
    op.drop_index("ix_erasures_customer_id", table_name="erasures")
    op.drop_table("erasures")
