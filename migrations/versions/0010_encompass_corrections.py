"""Operation Encompass corrections: when a child on an incident (or the incident's details) was last corrected, so a
key adult who already read the notification sees that it changed

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 04:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import marac.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    with op.batch_alter_table("encompass_children", schema=None) as batch_op:
        batch_op.add_column(sa.Column("corrected_at", marac.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("encompass_children", schema=None) as batch_op:
        batch_op.drop_column("corrected_at")
