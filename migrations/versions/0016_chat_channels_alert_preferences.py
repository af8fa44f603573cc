"""chat channels (WeCom, DingTalk, Feishu), the outbox of alert messages, notification
preferences; notifications.in_app and coalesce_key

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-06 00:40:00

"""

import sqlalchemy as sa
from alembic import op

import portal.db_types

# revision identifiers, used by Alembic.
revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None

OUTBOX_INDEXED = (
    "user_id",
    "notification_id",
    "channel_id",
    "status",
    "hold_until",
    "next_attempt_at",
)


def upgrade():
    op.create_table(
        "chat_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("url_encrypted", sa.Text(), nullable=False),
        sa.Column("url_hint", sa.String(length=200), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=True),
        sa.Column("team", sa.String(length=80), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", portal.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chat_channels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_channels_team"), ["team"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_channels_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("in_app", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("coalesce_key", sa.String(length=120), nullable=True))
        batch_op.create_unique_constraint(
            "uq_notifications_user_coalesce", ["user_id", "coalesce_key"]
        )

    op.create_table(
        "outbox_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("transport", sa.String(length=10), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("hold_until", portal.db_types.UTCDateTime(), nullable=True),
        sa.Column("next_attempt_at", portal.db_types.UTCDateTime(), nullable=True),
        sa.Column("created_at", portal.db_types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", portal.db_types.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["channel_id"], ["chat_channels.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        for column in (
            "user_id",
            "notification_id",
            "channel_id",
            "status",
            "hold_until",
            "next_attempt_at",
        ):
            batch_op.create_index(
                batch_op.f(f"ix_outbox_messages_{column}"), [column], unique=False
            )

    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("choices", portal.db_types.JSONType, nullable=False),
        sa.Column("quiet_enabled", sa.Boolean(), nullable=False),
        sa.Column("quiet_start", sa.String(length=5), nullable=False),
        sa.Column("quiet_end", sa.String(length=5), nullable=False),
        sa.Column("updated_at", portal.db_types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id"),
    )


def downgrade():
    op.drop_table("notification_preferences")
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        for column in (
            "user_id",
            "notification_id",
            "channel_id",
            "status",
            "hold_until",
            "next_attempt_at",
        ):
            batch_op.drop_index(batch_op.f(f"ix_outbox_messages_{column}"))
    op.drop_table("outbox_messages")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_constraint("uq_notifications_user_coalesce", type_="unique")
        batch_op.drop_column("coalesce_key")
        batch_op.drop_column("in_app")
    with op.batch_alter_table("chat_channels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_channels_user_id"))
        batch_op.drop_index(batch_op.f("ix_chat_channels_team"))
    op.drop_table("chat_channels")
