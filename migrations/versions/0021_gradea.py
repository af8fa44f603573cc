"""grade_a_crossings: the rollup of the score ledger that content analytics and the team funnel
read (each ledger row at which a customer's running score reached grade A from below), filled
from the ledger already stored

Revision ID: gradea
Revises: bulk
Create Date: 2026-12-06 07:25:00

"""

import sqlalchemy as sa
from alembic import op

import portal.db_types

# revision identifiers, used by Alembic.
revision = "gradea"
down_revision = "bulk"
branch_labels = None
depends_on = None

# The backfill, as portal.engagement.crossings.refresh_crossings computes it (kept here as SQL:
# a migration does not import the application's code, which changes after it). 60: grade A.
BACKFILL = """
INSERT INTO grade_a_crossings (entry_id, customer_id, at)
SELECT l.id, l.customer_id, l.at
FROM (
  SELECT s.id, s.customer_id, s.at, s.points,
         sum(s.points) OVER (PARTITION BY s.customer_id ORDER BY s.at, s.id) AS running
  FROM score_entries s
) l
WHERE l.running >= 60 AND l.running - l.points < 60
"""


def upgrade():
    op.create_table(
        "grade_a_crossings",
        sa.Column(
            "entry_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("at", portal.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["score_entries.id"],
            name=op.f("fk_grade_a_crossings_entry_id_score_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_grade_a_crossings_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_grade_a_crossings")),
    )
    op.create_index("ix_grade_a_crossings_customer_at", "grade_a_crossings", ["customer_id", "at"])
    op.execute(BACKFILL)


def downgrade():
    op.drop_index("ix_grade_a_crossings_customer_at", table_name="grade_a_crossings")
    op.drop_table("grade_a_crossings")
