"""confirm mobile numbers: a new work mobile number waits, sealed, for a texted code before text alerts go to it;
numbers already saved count as confirmed

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import marac.db

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_mobile_number_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("pending_text_alerts", sa.Boolean(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("mobile_code_hash", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("mobile_code_sent_at", marac.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("mobile_code_attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("mobile_code_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("mobile_code_version")
        batch_op.drop_column("mobile_code_attempts")
        batch_op.drop_column("mobile_code_sent_at")
        batch_op.drop_column("mobile_code_hash")
        batch_op.drop_column("pending_text_alerts")
        batch_op.drop_column("pending_mobile_number_sealed")
