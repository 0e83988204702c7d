"""review reminders and escalation on safety plans and trigger reviews; when an agency last reported on an action

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:30:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

import marac.db

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    for table in ("safety_plans", "case_events"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("reminded_on", sa.Date(), nullable=True))
            batch_op.add_column(sa.Column("escalated_at", marac.db.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reported_at", marac.db.UTCDateTime(timezone=True), nullable=True))
    # Actions already changed were reported on when their status last changed.
    op.execute("UPDATE actions SET reported_at = status_changed_at WHERE status_changed_at IS NOT NULL")
    _mark_already_due()


def _mark_already_due() -> None:
    """Reviews already due when this runs count as reminded and escalated: they are on everyone's overdue lists
    already, and the first scheduler run after the upgrade must not send an escalation (email and text) for every
    review ever missed. Reviews falling due from now on are chased as usual."""
    now = datetime.now(UTC)
    today = now.astimezone(ZoneInfo("Europe/London")).date()
    plans = sa.table(
        "safety_plans",
        sa.column("status", sa.String()),
        sa.column("review_on", sa.Date()),
        sa.column("reminded_on", sa.Date()),
        sa.column("escalated_at", marac.db.UTCDateTime()),
    )
    op.execute(
        plans.update()
        .where(plans.c.status == "active", plans.c.review_on <= today)
        .values(reminded_on=today, escalated_at=now)
    )
    events = sa.table(
        "case_events",
        sa.column("reviewed_at", marac.db.UTCDateTime()),
        sa.column("review_due_on", sa.Date()),
        sa.column("reminded_on", sa.Date()),
        sa.column("escalated_at", marac.db.UTCDateTime()),
    )
    op.execute(
        events.update()
        .where(events.c.reviewed_at.is_(None), events.c.review_due_on <= today)
        .values(reminded_on=today, escalated_at=now)
    )


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_column("reported_at")
    for table in ("case_events", "safety_plans"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("escalated_at")
            batch_op.drop_column("reminded_on")
