"""Text alerts: a user's sealed work mobile number, their choice to be texted urgent alerts, and a test text.

Numbers are checked with `phonenumbers` as UK mobiles and kept in E.164 (+447...), sealed on the user's row. They
never appear in the outbox, the audit trail or the logs: the relay reads the number when it sends a text.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from marac import audit, db
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


def set_text_alerts(actor: Any, number: str | None, text_alerts: bool) -> None:
    """Set (or, with None, remove) the actor's own mobile number and turn text alerts on or off; audited without
    the number. Text alerts need a number."""
    if text_alerts and not number:
        raise TextAlertsError(NEEDS_NUMBER)
    e164 = parse_uk_mobile(number) if number else None
    change = _number_change(actor.mobile_number, e164)
    actor.mobile_number = e164
    actor.text_alerts = text_alerts
    audit.record(
        "account.text_alerts",
        actor=actor,
        object_type="user",
        object_id=actor.public_id,
        details={"text_alerts": text_alerts, "mobile_number": change},
    )
    db.session.flush()


def send_test_text(actor: Any, now: datetime) -> OutboxMessage | None:
    """Queue a content-free test text to the actor's own number; at most one a minute (None when one was already
    queued this minute). Audited without the number."""
    if not (actor.text_alerts and actor.mobile_number):
        raise TextAlertsError(TEST_NEEDS_ALERTS)
    message = queue_text(actor, "test_text", now.strftime("%Y-%m-%dT%H:%M"), body=TEST_TEXT_BODY)
    audit.record(
        "account.test_text",
        actor=actor,
        object_type="user",
        object_id=actor.public_id,
        details={"queued": message is not None},
    )
    db.session.flush()
    return message
