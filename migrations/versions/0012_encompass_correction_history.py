"""Operation Encompass correction history: who corrected an incident or moved a notification, when, the names of the
fields changed or the settings moved between, and the sealed reason (old values are not kept); notification-centre
entries indexed by link (who was told about a notification)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 05:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import marac.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply."""
    op.create_table(
        "encompass_corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("made_by_id", sa.Integer(), nullable=False),
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("made_at", marac.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("from_setting_id", sa.Integer(), nullable=True),
        sa.Column("to_setting_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["agency_id"], ["agencies.id"], name=op.f("fk_encompass_corrections_agency_id_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["from_setting_id"],
            ["education_settings.id"],
            name=op.f("fk_encompass_corrections_from_setting_id_education_settings"),
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["encompass_incidents.id"],
            name=op.f("fk_encompass_corrections_incident_id_encompass_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["made_by_id"], ["users.id"], name=op.f("fk_encompass_corrections_made_by_id_users")),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["encompass_notifications.id"],
            name=op.f("fk_encompass_corrections_notification_id_encompass_notifications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_setting_id"],
            ["education_settings.id"],
            name=op.f("fk_encompass_corrections_to_setting_id_education_settings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_encompass_corrections")),
        sa.UniqueConstraint("public_id", name=op.f("uq_encompass_corrections_public_id")),
    )
    with op.batch_alter_table("encompass_corrections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_encompass_corrections_agency_id"), ["agency_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_encompass_corrections_from_setting_id"), ["from_setting_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_encompass_corrections_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_encompass_corrections_made_by_id"), ["made_by_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_encompass_corrections_notification_id"), ["notification_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_encompass_corrections_to_setting_id"), ["to_setting_id"], unique=False)

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_link"), ["link"], unique=False)


def downgrade() -> None:
    """Revert."""
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_link"))
    with op.batch_alter_table("encompass_corrections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_encompass_corrections_to_setting_id"))
        batch_op.drop_index(batch_op.f("ix_encompass_corrections_notification_id"))
        batch_op.drop_index(batch_op.f("ix_encompass_corrections_made_by_id"))
        batch_op.drop_index(batch_op.f("ix_encompass_corrections_incident_id"))
        batch_op.drop_index(batch_op.f("ix_encompass_corrections_from_setting_id"))
        batch_op.drop_index(batch_op.f("ix_encompass_corrections_agency_id"))
    op.drop_table("encompass_corrections")
