"""delivery_reads, delivery_page_reads: the reading rollups content analytics reads (one row
per send, one per send and page read), filled from the sessions and events already stored

Revision ID: rollups
Revises: digests
Create Date: 2026-12-06 06:45:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "rollups"
down_revision = "digests"
branch_labels = None
depends_on = None

# The backfill, as portal.tracking.rollups.rebuild computes it (kept here as SQL: a migration
# does not import the application's code, which changes after it).
BACKFILL_PAGES = """
INSERT INTO delivery_page_reads (delivery_id, page, read_ms)
SELECT e.delivery_id, e.page, sum(e.duration_ms)
FROM events e JOIN deliveries d ON d.id = e.delivery_id
WHERE e.type = 'page.viewed' AND e.duration_ms > 0 AND e.customer_id = d.customer_id
  AND e.page IS NOT NULL
GROUP BY e.delivery_id, e.page
"""
BACKFILL_READS = """
INSERT INTO delivery_reads (delivery_id, opens, previews, read_ms, internal_views)
SELECT d.id, coalesce(s.opens, 0), coalesce(s.previews, 0), coalesce(e.read_ms, 0),
       coalesce(e.internal, 0)
FROM deliveries d
LEFT JOIN (
  SELECT v.delivery_id, count(v.confirmed_at) AS opens,
         sum(CASE WHEN v.confirmed_at IS NULL THEN 1 ELSE 0 END) AS previews
  FROM view_sessions v JOIN deliveries d2 ON d2.id = v.delivery_id
  WHERE v.customer_id = d2.customer_id
  GROUP BY v.delivery_id
) s ON s.delivery_id = d.id
LEFT JOIN (
  SELECT e.delivery_id,
         sum(CASE WHEN e.type = 'page.viewed' AND e.duration_ms > 0
                   AND e.customer_id = d3.customer_id AND e.session_id IS NOT NULL
                  THEN e.duration_ms ELSE 0 END) AS read_ms,
         sum(CASE WHEN e.type = 'internal.viewed' THEN 1 ELSE 0 END) AS internal
  FROM events e JOIN deliveries d3 ON d3.id = e.delivery_id
  WHERE e.type IN ('page.viewed', 'internal.viewed')
  GROUP BY e.delivery_id
) e ON e.delivery_id = d.id
WHERE coalesce(s.opens, 0) + coalesce(s.previews, 0) + coalesce(e.read_ms, 0)
      + coalesce(e.internal, 0) > 0
"""


def upgrade():
    op.create_table(
        "delivery_reads",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("opens", sa.Integer(), nullable=False),
        sa.Column("previews", sa.Integer(), nullable=False),
        sa.Column("read_ms", sa.BigInteger(), nullable=False),
        sa.Column("internal_views", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delivery_id"),
    )
    op.create_table(
        "delivery_page_reads",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("read_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delivery_id", "page"),
    )
    op.execute(BACKFILL_PAGES)
    op.execute(BACKFILL_READS)


def downgrade():
    op.drop_table("delivery_page_reads")
    op.drop_table("delivery_reads")
