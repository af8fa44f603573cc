"""bulk_sends and bulk_send_items: one material sent to many customers at once

Revision ID: bulk
Revises: bundles
Create Date: 2026-12-06 06:30:00

"""

import sqlalchemy as sa
from alembic import op

import portal.db_types

# revision identifiers, used by Alembic.
revision = "bulk"
down_revision = "bundles"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bulk_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("options", portal.db_types.JSONType, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["sender_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["template_id"], ["templates.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bulk_sends_sender_id", "bulk_sends", ["sender_id"])
    op.create_table(
        "bulk_send_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bulk_send_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error_code", sa.String(length=60), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", portal.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["bulk_send_id"], ["bulk_sends.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("bulk_send_id", "customer_id", name="uq_bulk_send_items_customer"),
    )
    op.create_index(
        "ix_bulk_send_items_status", "bulk_send_items", ["bulk_send_id", "status"]
    )


def downgrade():
    op.drop_index("ix_bulk_send_items_status", table_name="bulk_send_items")
    op.drop_table("bulk_send_items")
    op.drop_index("ix_bulk_sends_sender_id", table_name="bulk_sends")
    op.drop_table("bulk_sends")
