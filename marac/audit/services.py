"""Write audit events into the current transaction and verify the chain."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Generator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_request_context
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from marac import db
from marac.audit.models import AuditEvent

#: Key for the PostgreSQL transaction-level advisory lock that serialises chain appends.
CHAIN_LOCK_KEY = 0x4D415241  # "MARA"
OUTCOMES = ("success", "failure", "denied")


def _chain_key() -> bytes:
    return hashlib.sha256(b"marac-audit-chain:" + current_app.config["MARAC_AUDIT_KEY"].encode()).digest()


def _canonical(event: AuditEvent) -> bytes:
    fields = [
        event.seq,
        event.occurred_at.isoformat(timespec="microseconds"),
        event.actor_user_id,
        event.agency_id,
        event.role,
        event.action,
        event.object_type,
        event.object_id,
        event.purpose,
        event.outcome,
        event.details,
        event.prev_hash,
    ]
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()


def compute_hash(event: AuditEvent, key: bytes | None = None) -> str:
    """HMAC-SHA256 of the event's fields chained to the previous hash."""
    return hmac.new(key or _chain_key(), _canonical(event), hashlib.sha256).hexdigest()


def _lock_chain(session: Session) -> None:
    """Serialise appends: an advisory lock on PostgreSQL; SQLite transactions already BEGIN IMMEDIATE."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})


def _actor_from_request() -> Any:
    if not has_request_context():
        return None
    from flask_login import current_user

    return current_user if current_user.is_authenticated else None


def record(
    action: str,
    *,
    actor: Any = None,
    object_type: str | None = None,
    object_id: str | None = None,
    purpose: str | None = None,
    outcome: str = "success",
    details: dict[str, object] | None = None,
    session: Session | None = None,
) -> AuditEvent:
    """Append an event to the chain inside the caller's transaction (the caller commits)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown audit outcome {outcome!r}")
    session = session or db.session
    actor = actor if actor is not None else _actor_from_request()
    if details is not None:
        details = json.loads(json.dumps(details))  # hash exactly what the JSON column will give back
    _lock_chain(session)
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    event = AuditEvent(
        seq=(last.seq + 1) if last else 1,
        occurred_at=db.utcnow(),
        actor_user_id=getattr(actor, "id", None),
        agency_id=getattr(actor, "agency_id", None),
        role=",".join(sorted(r.role for r in actor.roles)) if actor is not None else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        purpose=purpose,
        outcome=outcome,
        details=details,
        prev_hash=last.hash if last else "",
    )
    event.hash = compute_hash(event)
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class Event:
    """One event for `record_many`: what `record` takes, without the actor and session."""

    action: str
    object_type: str | None = None
    object_id: str | None = None
    details: dict[str, object] | None = None
    outcome: str = "success"


def record_many(events: list[Event], *, actor: Any = None, session: Session | None = None) -> list[AuditEvent]:
    """Append several events by one actor to the chain in order, with one lock, one read of the chain's end and one
    write (a batch of intake). The caller commits."""
    if not events:
        return []
    if any(e.outcome not in OUTCOMES for e in events):
        raise ValueError("unknown audit outcome")
    session = session or db.session
    actor = actor if actor is not None else _actor_from_request()
    role = ",".join(sorted(r.role for r in actor.roles)) if actor is not None else None
    key = _chain_key()
    _lock_chain(session)
    now = db.utcnow()  # after the lock: times follow the chain's order
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    seq, prev_hash = (last.seq, last.hash) if last else (0, "")
    written = []
    for item in events:
        seq += 1
        event = AuditEvent(
            seq=seq,
            occurred_at=now,
            actor_user_id=getattr(actor, "id", None),
            agency_id=getattr(actor, "agency_id", None),
            role=role,
            action=item.action,
            object_type=item.object_type,
            object_id=item.object_id,
            purpose=None,
            outcome=item.outcome,
            details=json.loads(json.dumps(item.details)) if item.details is not None else None,
            prev_hash=prev_hash,
        )
        event.hash = prev_hash = compute_hash(event, key)
        written.append(event)
    session.add_all(written)
    session.flush()
    return written


def record_denial(action: str, *, object_type: str, object_id: str | None, reason: str | None = None) -> None:
    """Record a refused request and commit it at once: the request is about to end in 403/404 with nothing else."""
    record(
        action,
        object_type=object_type,
        object_id=object_id,
        outcome="denied",
        details={"reason": reason} if reason else None,
    )
    db.session.commit()


@dataclass(frozen=True)
class ChainProblem:
    """The first event where the chain does not hold."""

    seq: int
    event_id: int | None
    reason: str

    def __str__(self) -> str:
        where = f"event seq {self.seq}" + (f" (id {self.event_id})" if self.event_id is not None else "")
        return f"audit chain broken at {where}: {self.reason}"


def _events(session: Session) -> Generator[AuditEvent]:
    # Close the (server-side, on PostgreSQL) cursor even when the caller stops at the first problem.
    with session.scalars(select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)) as events:
        yield from events


def verify_chain(session: Session | None = None) -> tuple[int, ChainProblem | None]:
    """Walk the chain in order; return how many events were checked and the first problem, if any."""
    session = session or db.session
    key = _chain_key()
    expected_seq, prev_hash, checked = 1, "", 0
    with closing(_events(session)) as events:
        for event in events:
            if event.seq != expected_seq:
                reason = f"expected seq {expected_seq} here: event(s) deleted or reordered"
                return checked, ChainProblem(event.seq, event.id, reason)
            if event.prev_hash != prev_hash:
                return checked, ChainProblem(event.seq, event.id, "does not link to the previous event")
            if not hmac.compare_digest(event.hash, compute_hash(event, key)):
                reason = "contents do not match its hash (altered or inserted)"
                return checked, ChainProblem(event.seq, event.id, reason)
            prev_hash, expected_seq, checked = event.hash, expected_seq + 1, checked + 1
    return checked, None


def chain_head(session: Session | None = None) -> tuple[int, str] | None:
    """The newest event's seq and hash: record it outside the database as an anchor against truncation."""
    session = session or db.session
    row = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return (row.seq, row.hash) if row else None


def check_anchor(seq: int, expected_hash: str, session: Session | None = None) -> ChainProblem | None:
    """Compare a previously recorded head with the chain: a missing event means the tail was cut off."""
    session = session or db.session
    event = session.scalar(select(AuditEvent).where(AuditEvent.seq == seq))
    if event is None:
        return ChainProblem(seq, None, "anchored event is missing: the chain was truncated")
    if not hmac.compare_digest(event.hash, expected_hash):
        return ChainProblem(seq, event.id, "hash differs from the recorded anchor")
    return None
