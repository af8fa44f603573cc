"""copy_generation: one row counting the committed changes to what customers' copies are built
from (portal.delivery.link_cache reads it at most once a second per process)

Revision ID: copygen
Revises: gradea
Create Date: 2026-12-06 19:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "copygen"
down_revision = "gradea"
branch_labels = None
depends_on = None


def upgrade():
    table = op.create_table(
        "copy_generation",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_generation")),
    )
    op.bulk_insert(table, [{"id": 1, "value": 0}])


def downgrade():
    op.drop_table("copy_generation")
