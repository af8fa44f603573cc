"""digest_sends (one digest per person, kind and period: the claim), outbox_messages.html

Revision ID: digests
Revises: brand
Create Date: 2026-12-06 04:00:00

"""

import sqlalchemy as sa
from alembic import op

import portal.db_types

# revision identifiers, used by Alembic.
revision = "digests"
down_revision = "brand"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "digest_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("period", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "kind", "period", name="uq_digest_sends_user_kind_period"),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("html", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("html")
    op.drop_table("digest_sends")
