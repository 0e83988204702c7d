"""The outbox relay: claim due messages, send them through the configured backend, mark each sent, retried or dead.

Crash-safety. A claim is a lease (`claimed_until`), committed before anything is sent, so no database lock is held
while a backend talks to the network. Each message is then marked in its own short transaction. A relay that dies
between sending and marking leaves the row pending and claimed; when the lease runs out another relay sends it again,
and the backend uses the idempotency key to recognise the resend where it can (see marac.notify.backends). Nothing
is lost: a message leaves "pending" only as "sent" or "dead".

Claims take `FOR UPDATE SKIP LOCKED` on PostgreSQL, so relays side by side never wait for or share rows; SQLite's
write transactions start with BEGIN IMMEDIATE, so a claim there is atomic anyway (SQLite ignores the locking clause).

Back-off after the n-th failed attempt: 2**n minutes (2, 4, 8 ... minutes), at most 6 hours. After
MARAC_OUTBOX_MAX_ATTEMPTS failures, or at once when the backend refuses the address, the message is dead-lettered:
admins see it on /admin/outbox and in `marac outbox status`.

Texts (channel "sms") go through the text backend (`MARAC_SMS_BACKEND`) to the recipient's number as it is when the
relay sends, never a copy taken at queueing time: the confirmed number, or for a code confirming a new number the
pending one. A text whose recipient has since removed their number or turned text alerts off (or a code whose
pending number was cleared or replaced) is marked "skipped" with the reason, not dead-lettered: nothing failed (the
user chose, and the email sent with it still goes), so it neither alerts admins nor is sent again by a re-queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from flask import current_app
from sqlalchemy import or_, select, text, update

from marac import audit, db
from marac.auth.models import User
from marac.crypto import Unreadable
from marac.notify import texts
from marac.notify.backends import Backend, DeliveryFailure, PermanentFailure, backend_from_config
from marac.notify.models import OutboxMessage
from marac.notify.sms import TextBackend, text_backend_from_config

log = structlog.get_logger(__name__)

#: The longest wait between two attempts.
MAX_BACKOFF = timedelta(hours=6)


@dataclass
class RelayResult:
    """What one pass of the relay did."""

    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    #: Sends the backend recognised as already delivered (a resend after a crash; 0 where the backend cannot tell).
    already_delivered: int = 0
    #: Texts not sent because the recipient no longer has a number or text alerts.
    skipped: int = 0


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt."""
    return min(timedelta(minutes=2 ** min(attempts, 20)), MAX_BACKOFF)


def claim_due(batch: int, now: datetime) -> list[OutboxMessage]:
    """Claim up to `batch` due, unclaimed messages for one lease, and commit the claim."""
    lease = timedelta(seconds=int(current_app.config["MARAC_OUTBOX_LEASE_SECONDS"]))
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
        )
        .order_by(OutboxMessage.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)  # rows this session loaded before were marked by plain UPDATEs
    )
    messages = list(db.session.scalars(query))
    for message in messages:
        message.claimed_until = now + lease
    db.session.commit()  # the session does not expire on commit: the loaded messages stay readable
    return messages


def _mark(message: OutboxMessage, **values: object) -> bool:
    """Update a claimed message unless another relay already finished it; commit. On PostgreSQL the commit does not
    wait for the disk flush (`synchronous_commit` off for this transaction only): a relay that dies still leaves
    the mark committed, and only a crash of the database server itself within a fraction of a second could undo
    it, leaving the message to be sent again, which the idempotency key lets the backend recognise."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    if message.kind == texts.CODE_KIND and values.get("status") in {"sent", "skipped", "dead"}:
        values["body"] = texts.CODE_TEXT_DONE  # a code is kept only until its text is sent (or cannot be)
    done = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == "pending")
        .values(claimed_until=None, attempts=OutboxMessage.attempts + 1, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    db.session.expire(message)  # read again from the database if anyone looks
    return bool(getattr(done, "rowcount", 0))


def _dead_letter(message: OutboxMessage, reason: str, now: datetime) -> None:
    audit.record(
        "outbox.dead_lettered",
        object_type="outbox_message",
        object_id=message.public_id,
        outcome="failure",
        details={"kind": message.kind, "attempts": message.attempts + 1},
    )
    log.warning("outbox_dead_letter", message=message.public_id, kind=message.kind, reason=reason)
    _mark(message, status="dead", dead_at=now, last_error=reason)


def _failed(message: OutboxMessage, failure: DeliveryFailure, result: RelayResult) -> None:
    """Retry later with back-off, or dead-letter a refused message or one out of attempts."""
    now = db.utcnow()
    attempts = message.attempts + 1
    if isinstance(failure, PermanentFailure) or attempts >= int(current_app.config["MARAC_OUTBOX_MAX_ATTEMPTS"]):
        _dead_letter(message, failure.reason, now)
        result.dead += 1
        return
    _mark(message, next_attempt_at=now + backoff(attempts), last_error=failure.reason)
    result.retrying += 1


def _sent(message: OutboxMessage, reference: str, result: RelayResult) -> None:
    _mark(message, status="sent", sent_at=db.utcnow(), provider_reference=reference[:200], last_error=None)
    result.sent += 1


def deliver(backend: Backend, message: OutboxMessage, result: RelayResult) -> None:
    """Send one claimed message and record the outcome in its own transaction."""
    try:
        reference = backend.send(message)
    except DeliveryFailure as failure:
        _failed(message, failure, result)
        return
    _sent(message, reference, result)


def current_number(message: OutboxMessage) -> tuple[str | None, str | None]:
    """The recipient's mobile number now, or why there is none to text: (number, None) or (None, reason). A code
    goes to the number it confirms (the pending one) while it is still the current code; everything else only to
    the confirmed number, when text alerts are on."""
    query = select(User).where(User.id == message.recipient_id).execution_options(populate_existing=True)
    user = db.session.scalars(query).one_or_none()  # read afresh: a long-running relay's session keeps old rows
    if user is None or not user.is_active:
        return None, "recipient not active"
    if message.kind == texts.CODE_KIND:
        stale = texts.code_text_stale(user, message, db.utcnow())
        if stale is not None:
            return None, stale
        number = user.pending_mobile_number
    elif not user.text_alerts:
        return None, "text alerts turned off"
    else:
        number = user.mobile_number
    if isinstance(number, Unreadable):
        raise PermanentFailure("mobile number unreadable")
    if not number:
        return None, "no mobile number"
    return str(number), None


def deliver_text(backend: TextBackend | None, message: OutboxMessage, result: RelayResult) -> None:
    """Send one claimed text to the recipient's current number (or skip it) and record the outcome."""
    try:
        if backend is None:
            raise PermanentFailure("no text backend: MARAC_SMS_BACKEND is none")
        number, reason = current_number(message)
        if number is None:
            log.info("outbox_text_skipped", message=message.public_id, kind=message.kind, reason=reason)
            _mark(message, status="skipped", last_error=reason)
            result.skipped += 1
            return
        reference = backend.send_text(message, number)
    except DeliveryFailure as failure:
        _failed(message, failure, result)
        return
    _sent(message, reference, result)


def relay_once(
    batch: int = 100, backend: Backend | None = None, text_backend: TextBackend | None = None
) -> RelayResult:
    """Claim one batch of due messages and deliver them, each through its channel's backend (the scheduler's
    `outbox-relay` job)."""
    backend = backend or backend_from_config(current_app)
    text_backend = text_backend or text_backend_from_config(current_app)
    already = backend.already_delivered + (text_backend.already_delivered if text_backend else 0)
    result = RelayResult()
    messages = claim_due(batch, db.utcnow())
    result.claimed = len(messages)
    try:
        for message in messages:
            if message.claimed_until is not None and db.utcnow() >= message.claimed_until:
                break  # our lease ran out (a slow backend): another relay may claim the rest; never send them too
            if message.channel == "sms":
                deliver_text(text_backend, message, result)
            else:
                deliver(backend, message, result)
    finally:
        backend.close()
        if text_backend is not None:
            text_backend.close()
    result.already_delivered = backend.already_delivered + (text_backend.already_delivered if text_backend else 0)
    result.already_delivered -= already
    if result.claimed:
        log.info("outbox_relayed", **vars(result))
    return result


def run_relay(
    batch: int = 100,
    stop: threading.Event | None = None,
    idle_seconds: float = 1.0,
    on_pass: Callable[[RelayResult], None] | None = None,
) -> RelayResult:
    """Relay batches until `stop` is set, resting `idle_seconds` whenever nothing was due; the totals."""
    stop = stop or threading.Event()
    backend = backend_from_config(current_app)
    text_backend = text_backend_from_config(current_app)
    total = RelayResult()
    while not stop.is_set():
        result = relay_once(batch, backend, text_backend)
        for name, value in vars(result).items():
            setattr(total, name, getattr(total, name) + value)
        if on_pass is not None:
            on_pass(result)
        if result.claimed == 0:
            stop.wait(idle_seconds)
    return total
