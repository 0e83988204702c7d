"""Chasing work that falls due (actions, safety-plan reviews, trigger reviews): one reminder before the due date and
one escalation once it is overdue, each a content-free message plus a notification-centre entry, sent once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import current_app

from marac import audit
from marac.access import is_excluded
from marac.cases.overdue import add_working_days
from marac.notify.centre import notify_user


@dataclass(frozen=True)
class Chase:
    """One reminder or escalation about one piece of work (the text names the case by reference, never a person)."""

    #: Notification kind (picks the content-free subject).
    kind: str
    #: What makes it unique: the same key is never sent twice to the same person.
    key: str
    #: What the notification centre shows.
    text: str
    #: Where the work is done.
    link: str
    #: Who is told.
    recipients: list[Any]
    #: Audit action, object type and id.
    audit_action: str
    object_type: str
    object_id: str
    #: The case the text names: anyone on its must-not-receive list is left out, whatever their role.
    case: Any = None


def send_chase(chase: Chase) -> int:
    """Tell every recipient (once per key) and audit it; how many were told now. A chase repeated by a later run
    with nobody new to tell is not audited again; one with nobody to tell at all is (nobody could be told)."""
    recipients = [u for u in chase.recipients if chase.case is None or not is_excluded(u, chase.case)]
    told = sum(notify_user(u, chase.kind, chase.key, chase.text, chase.link) is not None for u in recipients)
    if recipients and not told:
        return 0
    audit.record(
        chase.audit_action,
        object_type=chase.object_type,
        object_id=chase.object_id,
        details={"to": len(recipients), "new": told},
    )
    return told


def reminder_horizon(today: date, setting: str) -> date:
    """The last due date to remind about today: `setting` working days ahead."""
    return add_working_days(today, int(current_app.config[setting]))


def escalation_cutoff(today: date, setting: str) -> date:
    """The latest due date that is overdue by at least `setting` days today."""
    return today - timedelta(days=int(current_app.config[setting]))
