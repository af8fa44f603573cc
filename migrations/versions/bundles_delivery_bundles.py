"""bundles (资料包: several deliveries sent with one link), deliveries.bundle_id,
links.bundle_id (a bundle link's 资料包)

Revision ID: bundles
Revises: rollups
Create Date: 2026-12-06 06:40:00

"""

import sqlalchemy as sa
from alembic import op

import portal.db_types

# revision identifiers, used by Alembic.
revision = "bundles"
down_revision = "rollups"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "bundles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("sender_id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sender_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bundles_customer_id", "bundles", ["customer_id"])
    op.create_index("ix_bundles_sender_id", "bundles", ["sender_id"])
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bundle_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_deliveries_bundle_id_bundles", "bundles", ["bundle_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index("ix_deliveries_bundle_id", ["bundle_id"])
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bundle_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_links_bundle_id_bundles", "bundles", ["bundle_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_links_bundle_id", ["bundle_id"])


def downgrade():
    with op.batch_alter_table("links", schema=None) as batch_op:
        batch_op.drop_index("ix_links_bundle_id")
        batch_op.drop_constraint("fk_links_bundle_id_bundles", type_="foreignkey")
        batch_op.drop_column("bundle_id")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_bundle_id")
        batch_op.drop_constraint("fk_deliveries_bundle_id_bundles", type_="foreignkey")
        batch_op.drop_column("bundle_id")
    op.drop_index("ix_bundles_sender_id", table_name="bundles")
    op.drop_index("ix_bundles_customer_id", table_name="bundles")
    op.drop_table("bundles")
