"""opens confirmed by the viewer: view_sessions.confirmed_at, deliveries.read_clock_at

Revision ID: 0010
Revises: 0014
Create Date: 2026-12-05 23:30:00

Sessions stored before this revision were counted as opens when their page was served, and
each has its link.opened event: they are kept as confirmed (confirmed_at = started_at), so no
history changes meaning.
"""

import sqlalchemy as sa
from alembic import op

import portal.db_types

revision = "0010"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("view_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("confirmed_at", portal.db_types.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("read_clock_at", portal.db_types.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE view_sessions SET confirmed_at = started_at")


def downgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("read_clock_at")
    with op.batch_alter_table("view_sessions", schema=None) as batch_op:
        batch_op.drop_column("confirmed_at")
