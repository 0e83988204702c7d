"""text alerts: a sealed work mobile number and a text-alerts choice per user; a channel per outbox message

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mobile_number_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("text_alerts", sa.Boolean(), server_default="0", nullable=False))
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=10), server_default="email", nullable=False))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("outbox_messages", schema=None) as batch_op:
        batch_op.drop_column("channel")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("text_alerts")
        batch_op.drop_column("mobile_number_sealed")
