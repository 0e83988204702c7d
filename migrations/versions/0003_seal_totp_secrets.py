"""seal TOTP secrets: users.totp_secret and totp_pending_secret move to sealed columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.orm import Session

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PAIRS = (("totp_secret", "totp_secret_sealed"), ("totp_pending_secret", "totp_pending_secret_sealed"))


def upgrade() -> None:
    """Add the sealed columns, seal any existing secrets, drop the plaintext columns."""
    with op.batch_alter_table("users") as batch:
        for _plain, sealed in PAIRS:
            batch.add_column(sa.Column(sealed, sa.LargeBinary(), nullable=True))
    _seal_existing()
    with op.batch_alter_table("users") as batch:
        for plain, _sealed in PAIRS:
            batch.drop_column(plain)


def _seal_existing() -> None:
    from marac.crypto import AadParts, Keyring, ensure_keys, parse_master_key

    conn = op.get_bind()
    users = sa.table("users", *(sa.column(c) for c in ("id", "public_id", *[p for pair in PAIRS for p in pair])))
    rows = conn.execute(
        sa.select(users).where(sa.or_(*(users.c[plain].is_not(None) for plain, _sealed in PAIRS)))
    ).all()
    if not rows:
        return
    master_key = context.config.attributes.get("master_key")
    if master_key is None:
        raise RuntimeError("TOTP secrets must be sealed with the master key: run `marac db upgrade`")
    master = parse_master_key(master_key)
    with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
        ensure_keys(session, master)
        session.commit()
        ring = Keyring(master=master)
        ring.load(session)
    for row in rows:
        values = {}
        for plain, sealed in PAIRS:
            value = getattr(row, plain)
            if value is not None:
                values[sealed] = ring.seal(value.encode(), AadParts("users", sealed, row.public_id))
        conn.execute(sa.update(users).where(users.c.id == row.id).values(**values))


def downgrade() -> None:
    """Secrets cannot be unsealed here: everyone enrols their authenticator again."""
    with op.batch_alter_table("users") as batch:
        for plain, sealed in PAIRS:
            batch.add_column(sa.Column(plain, sa.String(64), nullable=True))
            batch.drop_column(sealed)
    op.execute("UPDATE users SET mfa_enrolled_at = NULL, totp_last_step = NULL")
