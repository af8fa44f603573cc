"""devices and forwarded readers: visitors, view_sessions.visitor_id, events.visitor_id,
deliveries.ask_visitor; a forwarded reader's events have no customer until identified

Revision ID: 0015
Revises: 0017
Create Date: 2026-12-06 00:40:00

events.customer_id and view_sessions.customer_id become nullable: the reading of a device that
is not the recipient's (a forwarded reader nobody has identified yet) belongs to no customer,
so no customer's score, task or timeline counts it. Rows stored before keep their customer.
"""

import sqlalchemy as sa
from alembic import op

import portal.db_types

revision = "0015"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "visitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("forwarded", sa.Boolean(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("user_agent", sa.String(length=400), nullable=False),
        sa.Column("first_seen_at", portal.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", portal.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notified_at", portal.db_types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id", "device_id", name="uq_visitors_delivery_device"),
    )
    op.create_index("ix_visitors_customer_id", "visitors", ["customer_id"])
    with op.batch_alter_table("view_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visitor_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_view_sessions_visitor_id", "visitors", ["visitor_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_view_sessions_visitor_id", ["visitor_id"])
        batch_op.alter_column("customer_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visitor_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_events_visitor_id", "visitors", ["visitor_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_events_visitor_id", ["visitor_id"])
        batch_op.alter_column("customer_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ask_visitor", sa.String(length=10), nullable=False, server_default="off")
        )


def downgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("ask_visitor")
    # A forwarded reader's rows have no customer: they cannot live in the old schema.
    op.execute("DELETE FROM events WHERE customer_id IS NULL")
    op.execute("DELETE FROM view_sessions WHERE customer_id IS NULL")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index("ix_events_visitor_id")
        batch_op.drop_constraint("fk_events_visitor_id", type_="foreignkey")
        batch_op.drop_column("visitor_id")
    with op.batch_alter_table("view_sessions", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_index("ix_view_sessions_visitor_id")
        batch_op.drop_constraint("fk_view_sessions_visitor_id", type_="foreignkey")
        batch_op.drop_column("visitor_id")
    op.drop_index("ix_visitors_customer_id", table_name="visitors")
    op.drop_table("visitors")
