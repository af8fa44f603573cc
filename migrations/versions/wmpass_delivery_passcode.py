"""deliveries.passcode_hash: a send's optional passcode, stored hashed

Revision ID: wmpass
Revises: privacy2
Create Date: 2026-12-06 03:10:00

deliveries.watermark existed (the viewer's overlay); it now also marks every page of the
downloaded PDF. Sends made before keep no passcode.
"""

import sqlalchemy as sa
from alembic import op

revision = "wmpass"
down_revision = "privacy2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("passcode_hash", sa.String(length=255), nullable=True))


def downgrade():
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("passcode_hash")
