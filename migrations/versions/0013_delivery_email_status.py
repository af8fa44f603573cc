"""deliveries.email_status: whether the e-mail of a send was accepted by the SMTP server

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-05 23:50:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_status", sa.String(length=20), nullable=True))
    # Before this column an e-mail counted as sent whenever the job ran, SMTP or not: those
    # rows keep email_sent_at and are shown as sent; there is no record to tell them apart.
    op.execute("UPDATE deliveries SET email_status = 'sent' WHERE email_sent_at IS NOT NULL")


def downgrade():
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("email_status")
