"""template_versions: status, error_code, publish_when_ready (Office and image conversion)

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-05 23:59:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=12), server_default="ready", nullable=False)
        )
        batch_op.add_column(sa.Column("error_code", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("publish_when_ready", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade():
    with op.batch_alter_table("template_versions", schema=None) as batch_op:
        batch_op.drop_column("publish_when_ready")
        batch_op.drop_column("error_code")
        batch_op.drop_column("status")
