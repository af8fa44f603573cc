"""events: API idempotency keys are scoped to the customer ("api:<customer id>:<key>")

The key column grows from 120 to 160 characters (prefix, customer id and the API's 116), and
the keys stored before ("api:<key>", global) are rewritten to the scoped form, so that a retry
of an old event is still recognised as a duplicate.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-05 23:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column(
            'idempotency_key',
            existing_type=sa.String(length=120),
            type_=sa.String(length=160),
            existing_nullable=True,
        )
    op.execute(
        "UPDATE events SET idempotency_key = "
        "'api:' || CAST(customer_id AS VARCHAR) || ':' || SUBSTR(idempotency_key, 5) "
        "WHERE idempotency_key LIKE 'api:%'"
    )


def downgrade():
    # Back to one key space for every customer: fails (unique) if two customers used one key.
    op.execute(
        "UPDATE events SET idempotency_key = 'api:' || "
        "SUBSTR(idempotency_key, LENGTH('api:' || CAST(customer_id AS VARCHAR) || ':') + 1) "
        "WHERE idempotency_key LIKE 'api:%'"
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.alter_column(
            'idempotency_key',
            existing_type=sa.String(length=160),
            type_=sa.String(length=120),
            existing_nullable=True,
        )
