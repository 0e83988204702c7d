"""Text alerts: a user's sealed work mobile number, their choice to be texted urgent alerts, and a test text.

Numbers are checked with `phonenumbers` as UK mobiles and kept in E.164 (+447...), sealed on the user's row. They
never appear in the outbox, the audit trail or the logs: the relay reads the number when it sends a text.

A new number is confirmed before alerts go to it (as GOV.UK Notify does): it waits, sealed, as the *pending* number
while a 6-digit code is texted to it; the confirmed number (if any) keeps receiving alerts meanwhile. The code is
random, kept on the user's row only as an HMAC, works once, for 15 minutes and 5 wrong tries; a new one may be sent
once a minute. Each code bumps `mobile_code_version`, which its text's idempotency key carries, so the relay sends a
code only while it is the current one for the pending number (see `code_text_stale`).
"""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from sqlalchemy import func, select

from marac import audit, db
from marac.crypto import keyring
from marac.notify.models import OutboxMessage
from marac.notify.services import MARKING, queue_text

#: What a number may be typed with: digits, spaces, brackets, dots, dashes and a leading plus.
TYPED = re.compile(r"^\+?[0-9 ()./-]{7,24}$")
#: Ofcom keeps 07700 900000 to 900999 for drama: numbers that reach nobody, so demos and tests can use them.
DRAMA_RANGE = re.compile(r"^\+447700900[0-9]{3}$")
MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)

NOT_A_NUMBER = "Enter a UK mobile number, like 07700 900123"
OTHER_COUNTRY = "Enter a UK mobile number: texts cannot be sent to numbers from other countries"
LANDLINE = "Enter a mobile number, not a landline"
NOT_MOBILE = "Enter a mobile number starting 07, not a freephone, personal or other special number"
NEEDS_NUMBER = "Enter your work mobile number to turn on text alerts"
TEST_NEEDS_ALERTS = "Turn on text alerts with your work mobile number before sending a test text"
#: The test text: content-free like every text.
TEST_TEXT_BODY = f"{MARKING}: This is a test text from MARAC. Urgent alerts will arrive like this."

#: The outbox kind of a text carrying a code to confirm a number.
CODE_KIND = "mobile_code"
#: The code text: the code and nothing about the person or any case.
CODE_TEXT = MARKING + ": {code} is your MARAC code to confirm this number. It expires in 15 minutes."
#: What the outbox keeps of a code text once it was sent, skipped or dead-lettered: never the code.
CODE_TEXT_DONE = CODE_TEXT.format(code="[code removed]")
CODE_LIFETIME = timedelta(minutes=15)
CODE_RESEND_AFTER = timedelta(minutes=1)
CODE_MAX_WRONG = 5
#: Code texts a user may have sent in an hour, however often they change the number.
CODE_MAX_PER_HOUR = 5
#: Name of the HMAC key (derived from the blind-index keys) that codes are kept under.
CODE_HMAC_NAME = "users.mobile_code"

CODE_WRONG = "The code is not right: check the text we sent and try again"
CODE_LOCKED = "Too many wrong codes: send a new code"
CODE_EXPIRED = "The code has expired: send a new code"
CODE_USED = "That code has already been used"
TOO_MANY_CODES = "Too many codes were sent in the last hour: try again later"
NOTHING_PENDING = "There is no new number to confirm: enter your work mobile number again"


class TextAlertsError(ValueError):
    """A number or choice the platform refuses; the message says what to do (and never repeats the number)."""


def parse_uk_mobile(value: str) -> str:
    """The number in E.164 if it is a UK mobile number (GB), else TextAlertsError saying what is wrong."""
    typed = (value or "").strip()
    if not TYPED.match(typed):
        raise TextAlertsError(NOT_A_NUMBER)
    try:
        number = phonenumbers.parse(typed, "GB")
    except NumberParseException:
        raise TextAlertsError(NOT_A_NUMBER) from None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if number.country_code != 44:
        raise TextAlertsError(OTHER_COUNTRY)
    if DRAMA_RANGE.match(e164):
        return e164
    if not phonenumbers.is_valid_number(number):
        raise TextAlertsError(NOT_A_NUMBER)
    if phonenumbers.region_code_for_number(number) != "GB":
        raise TextAlertsError(OTHER_COUNTRY)  # Jersey, Guernsey and the Isle of Man share +44
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.FIXED_LINE:
        raise TextAlertsError(LANDLINE)
    if kind not in MOBILE_TYPES:
        raise TextAlertsError(NOT_MOBILE)
    return e164


def format_uk_mobile(e164: str) -> str:
    """A stored number as people write it (07700 900123)."""
    try:
        return phonenumbers.format_number(phonenumbers.parse(e164, "GB"), PhoneNumberFormat.NATIONAL)
    except NumberParseException:
        return e164


def _number_change(before: Any, after: str | None) -> str:
    if not before and not after:
        return "none"
    if not before:
        return "added"
    if not after:
        return "removed"
    return "unchanged" if str(before) == after else "changed"


def masked_number(e164: str) -> str:
    """A number with all but its last 3 digits hidden (07xxx xxx123), to say where a code went."""
    return f"07xxx xxx{e164[-3:]}"


def _clear_pending(actor: Any) -> None:
    actor.pending_mobile_number = None
    actor.pending_text_alerts = False
    actor.mobile_code_hash = None
    actor.mobile_code_sent_at = None
    actor.mobile_code_attempts = 0


def _hold(actor: Any) -> None:
    """Read the user's row afresh and hold it to the end of the transaction (PostgreSQL: SELECT ... FOR UPDATE;
    SQLite's write transactions already run one at a time), so parallel requests cannot each count one wrong code
    over the other, or issue two codes of the same version."""
    db.session.refresh(actor, with_for_update=True)


def set_text_alerts(actor: Any, number: str | None, text_alerts: bool, now: datetime) -> OutboxMessage | None:
    """Set (or, with None, remove) the actor's own mobile number and turn text alerts on or off; audited without
    the number. Text alerts need a number. Removing the number, keeping the confirmed one and turning alerts off
    take effect at once; a new number waits for its code (the text queued to it is returned; None otherwise)."""
    if text_alerts and not number:
        raise TextAlertsError(NEEDS_NUMBER)
    e164 = parse_uk_mobile(number) if number else None
    _hold(actor)
    before, pending = actor.mobile_number, actor.pending_mobile_number
    message = None
    if e164 is None or (before and str(before) == e164):
        change = _number_change(before, e164)
        _clear_pending(actor)
        actor.mobile_number, actor.text_alerts = e164, text_alerts
    else:
        change = "pending"
        actor.text_alerts = actor.text_alerts and text_alerts  # turning alerts off needs no code
        actor.pending_text_alerts = text_alerts
        if not (pending and str(pending) == e164):
            actor.pending_mobile_number = e164
            message = _issue_code(actor, now)
        elif _code_dead(actor, now):  # the number already waiting keeps a live code; a dead one is replaced
            message = _issue_code(actor, now)
    audit.record(
        "account.text_alerts",
        actor=actor,
        object_type="user",
        object_id=actor.public_id,
        details={"text_alerts": actor.text_alerts, "mobile_number": change, "code_queued": message is not None},
    )
    db.session.flush()
    return message


@dataclass(frozen=True)
class _CodeRecipient:
    """The user as `queue_text` sees them for a code: texted at the pending number, whatever their alerts are."""

    id: int
    public_id: str
    mobile_number_enc: bytes | None
    text_alerts: bool = True


def _code_digest(actor: Any, version: int, code: str, index_version: int | None = None) -> bytes:
    """The code's HMAC, bound to the user and to the code's version."""
    return keyring().term(CODE_HMAC_NAME, f"{actor.public_id}|{version}|{code}", index_version)


def _issue_code(actor: Any, now: datetime) -> OutboxMessage | None:
    """Make a new code for the pending number, keep its HMAC and queue the text that carries it; at most
    `CODE_MAX_PER_HOUR` an hour (a user must not be able to text strangers at will: TextAlertsError)."""
    recent = select(func.count(OutboxMessage.id)).where(
        OutboxMessage.recipient_id == actor.id,
        OutboxMessage.kind == CODE_KIND,
        OutboxMessage.created_at >= now - timedelta(hours=1),
    )
    if (db.session.scalar(recent) or 0) >= CODE_MAX_PER_HOUR:
        raise TextAlertsError(TOO_MANY_CODES)
    code = f"{secrets.randbelow(10**6):06d}"
    actor.mobile_code_version = (actor.mobile_code_version or 0) + 1
    actor.mobile_code_hash = _code_digest(actor, actor.mobile_code_version, code)
    actor.mobile_code_sent_at, actor.mobile_code_attempts = now, 0
    recipient = _CodeRecipient(actor.id, actor.public_id, actor.pending_mobile_number_enc)
    return queue_text(recipient, CODE_KIND, str(actor.mobile_code_version), body=CODE_TEXT.format(code=code))


def _code_dead(actor: Any, now: datetime) -> bool:
    """Whether the pending number's code can no longer confirm it (expired, or too many wrong tries) and a new one
    may be sent (not within a minute of the last)."""
    sent_at = actor.mobile_code_sent_at
    if sent_at is None:
        return True
    dead = now >= sent_at + CODE_LIFETIME or actor.mobile_code_attempts >= CODE_MAX_WRONG or not actor.mobile_code_hash
    return dead and now >= sent_at + CODE_RESEND_AFTER


def send_new_code(actor: Any, now: datetime) -> OutboxMessage | None:
    """Text a new code to the actor's pending number, at most once a minute (None when one was sent this minute);
    the old code stops working. Audited without the number or the code."""
    _hold(actor)
    if not actor.pending_mobile_number_enc:
        raise TextAlertsError(NOTHING_PENDING)
    sent_at = actor.mobile_code_sent_at
    message = None if sent_at and now < sent_at + CODE_RESEND_AFTER else _issue_code(actor, now)
    return _queued_audited(actor, "account.mobile_code_sent", message)


def _code_matches(actor: Any, code: str) -> bool:
    stored = actor.mobile_code_hash
    if not stored:
        return False
    ring = keyring()
    return any(
        hmac.compare_digest(bytes(stored), _code_digest(actor, actor.mobile_code_version, code, version))
        for version in ring.readable_index_versions  # a code made just before an index key rotation still works
    )


def _code_problem(actor: Any, code: str, now: datetime) -> str | None:
    """Why `code` does not confirm the pending number (a wrong one is counted), or None when it does."""
    if not actor.pending_mobile_number:  # none, or unreadable
        return CODE_USED if _code_matches(actor, code) else NOTHING_PENDING
    if actor.mobile_code_attempts >= CODE_MAX_WRONG or not actor.mobile_code_hash:
        return CODE_LOCKED
    if actor.mobile_code_sent_at is None or now >= actor.mobile_code_sent_at + CODE_LIFETIME:
        return CODE_EXPIRED
    if not _code_matches(actor, code):
        actor.mobile_code_attempts += 1
        return CODE_LOCKED if actor.mobile_code_attempts >= CODE_MAX_WRONG else CODE_WRONG
    return None


def confirm_mobile_number(actor: Any, code: str, now: datetime) -> str | None:
    """Confirm the pending number with the texted code: it becomes the number alerts go to, with alerts on if asked.
    The problem (wrong, locked, expired, used) or None; the caller commits either way so wrong tries count. Audited
    without the number or the code."""
    _hold(actor)
    problem = _code_problem(actor, "".join(code.split()), now)
    if problem is not None:
        audit.record(
            "account.mobile_code_refused",
            actor=actor,
            object_type="user",
            object_id=actor.public_id,
            outcome="failure",
            details={"wrong_codes": actor.mobile_code_attempts},
        )
        db.session.flush()
        return problem
    change = _number_change(actor.mobile_number, str(actor.pending_mobile_number))
    actor.mobile_number, actor.text_alerts = actor.pending_mobile_number, actor.pending_text_alerts
    actor.pending_mobile_number, actor.pending_text_alerts = None, False  # the code's HMAC stays: a reuse is told
    audit.record(
        "account.mobile_confirmed",
        actor=actor,
        object_type="user",
        object_id=actor.public_id,
        details={"text_alerts": actor.text_alerts, "mobile_number": change},
    )
    db.session.flush()
    return None


def code_text_stale(user: Any, message: OutboxMessage, now: datetime) -> str | None:
    """Why a code text should no longer be sent (the number it confirms was cleared or replaced, a newer code was
    sent, or it expired), or None: the relay then sends it to the user's pending number."""
    if not user.pending_mobile_number_enc:
        return "no number waiting to be confirmed"
    version = message.idempotency_key.removeprefix(f"sms:{CODE_KIND}:").split(":", 1)[0]
    if version != str(user.mobile_code_version):
        return "pending number changed or a newer code sent"
    if user.mobile_code_sent_at is None or now >= user.mobile_code_sent_at + CODE_LIFETIME:
        return "code expired"
    return None


def send_test_text(actor: Any, now: datetime) -> OutboxMessage | None:
    """Queue a content-free test text to the actor's own number; at most one a minute (None when one was already
    queued this minute). Audited without the number."""
    if not (actor.text_alerts and actor.mobile_number):
        raise TextAlertsError(TEST_NEEDS_ALERTS)
    message = queue_text(actor, "test_text", now.strftime("%Y-%m-%dT%H:%M"), body=TEST_TEXT_BODY)
    return _queued_audited(actor, "account.test_text", message)


def _queued_audited(actor: Any, action: str, message: OutboxMessage | None) -> OutboxMessage | None:
    """Audit whether a text to the actor was queued (never the number or what it says); the message."""
    audit.record(
        action, actor=actor, object_type="user", object_id=actor.public_id, details={"queued": message is not None}
    )
    db.session.flush()
    return message
