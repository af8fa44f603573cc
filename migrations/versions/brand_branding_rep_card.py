"""branding: brand_settings (company name, logo, accent colour); the rep's contact card on
users (job title, phone, WeChat ID, WeChat QR image)

Revision ID: brand
Revises: wmpass
Create Date: 2026-12-06 03:40:00
"""

import sqlalchemy as sa
from alembic import op

import portal.db_types

revision = "brand"
down_revision = "wmpass"
branch_labels = None
depends_on = None

CARD_COLUMNS = (("job_title", 120), ("phone", 40), ("wechat_id", 60), ("wechat_qr_key", 120))


def upgrade():
    op.create_table(
        "brand_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_name", sa.String(length=120), nullable=False),
        sa.Column("accent_color", sa.String(length=7), nullable=False),
        sa.Column("logo_key", sa.String(length=120), nullable=False),
        sa.Column("updated_at", portal.db_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["updated_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("users") as batch:
        for name, length in CARD_COLUMNS:
            batch.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default="")
            )


def downgrade():
    with op.batch_alter_table("users") as batch:
        for name, _length in reversed(CARD_COLUMNS):
            batch.drop_column(name)
    op.drop_table("brand_settings")
