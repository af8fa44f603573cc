"""address_salts: the rotating salt of network-address hashes (one row per period, only the
current one kept)

Revision ID: privacy2
Revises: 0015
Create Date: 2026-12-06 03:20:00

Hashes stored before this revision were keyed with the app's secret key: no salt row can match
them, which is what a rotation does anyway.
"""

import sqlalchemy as sa
from alembic import op

import portal.db_types

revision = "privacy2"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "address_salts",
        sa.Column("period", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("created_at", portal.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("period"),
    )


def downgrade():
    op.drop_table("address_salts")
