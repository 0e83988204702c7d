"""Repeat-victim and serial-perpetrator flags, computed across every linked record of the same individual."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from sqlalchemy import select

from marac import db
from marac.cases.models import Case, CaseParty, Incident, PartyRole
from marac.people.models import Person
from marac.people.services import identity_person_ids


def months_before(day: date, months: int) -> date:
    """The same day `months` earlier (the last day of the month when that day does not exist)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass
class RepeatFlag:
    """Earlier incidents and referrals of the same individual inside the window."""

    window_months: int
    since: date
    case_ids: list[int] = field(default_factory=list)
    incident_count: int = 0
    agency_ids: set[int] = field(default_factory=set)

    @property
    def count(self) -> int:
        """Earlier referrals plus incidents in the window."""
        return len(self.case_ids) + self.incident_count

    @property
    def is_repeat(self) -> bool:
        """Whether there is at least one."""
        return self.count > 0


def repeat_flag(victim: Person, on: date, exclude_case: Case | None = None) -> RepeatFlag:
    """Referrals and incidents of the victim (any linked record, any agency, any phone or address) in the
    configured window before `on`, leaving out `exclude_case` and incidents recorded on it."""
    months = int(current_app.config["MARAC_REPEAT_WINDOW_MONTHS"])
    since = months_before(on, months)
    ids = identity_person_ids(victim)
    flag = RepeatFlag(window_months=months, since=since)
    cases = select(Case.id, Case.referring_agency_id).where(
        Case.victim_id.in_(ids), Case.referred_on >= since, Case.referred_on <= on
    )
    incidents = select(Incident.agency_id).where(
        Incident.victim_id.in_(ids), Incident.occurred_on >= since, Incident.occurred_on <= on
    )
    if exclude_case is not None:
        cases = cases.where(Case.id != exclude_case.id)
        incidents = incidents.where((Incident.case_id.is_(None)) | (Incident.case_id != exclude_case.id))
    for case_id, agency_id in db.session.execute(cases):
        flag.case_ids.append(case_id)
        flag.agency_ids.add(agency_id)
    for (agency_id,) in db.session.execute(incidents):
        flag.incident_count += 1
        flag.agency_ids.add(agency_id)
    return flag


@dataclass
class SerialFlag:
    """Distinct victims of the same individual as perpetrator."""

    threshold: int
    victim_identities: set[str] = field(default_factory=set)
    case_ids: set[int] = field(default_factory=set)

    @property
    def victim_count(self) -> int:
        """How many different victims (linked records count once)."""
        return len(self.victim_identities)

    @property
    def is_serial(self) -> bool:
        """Whether the count reaches the configured threshold (two by default)."""
        return self.victim_count >= self.threshold


def serial_flag(perpetrator: Person) -> SerialFlag:
    """Victims of this individual as perpetrator, in cases and in incidents, counted by victim identity."""
    ids = identity_person_ids(perpetrator)
    flag = SerialFlag(threshold=int(current_app.config["MARAC_SERIAL_VICTIMS"]))
    in_cases = (
        select(Case.id, Person.identity_key)
        .join(CaseParty, CaseParty.case_id == Case.id)
        .join(Person, Person.id == Case.victim_id)
        .where(CaseParty.person_id.in_(ids), CaseParty.role == PartyRole.PERPETRATOR.value)
    )
    for case_id, identity in db.session.execute(in_cases):
        flag.case_ids.add(case_id)
        flag.victim_identities.add(identity)
    in_incidents = (
        select(Person.identity_key)
        .join(Incident, Incident.victim_id == Person.id)
        .where(Incident.perpetrator_id.in_(ids))
    )
    flag.victim_identities.update(db.session.scalars(in_incidents))
    return flag


def repeat_case_ids(cases: list[Case]) -> set[int]:
    """Of `cases`, those whose victim is a repeat (as `repeat_flag` with each case excluded), in three queries for
    the whole list: list pages must not run the check once per row."""
    if not cases:
        return set()
    months = int(current_app.config["MARAC_REPEAT_WINDOW_MONTHS"])
    keys = dict(
        db.session.execute(
            select(Person.id, Person.identity_key).where(Person.id.in_({c.victim_id for c in cases}))
        ).all()
    )
    members = db.session.execute(
        select(Person.id, Person.identity_key).where(Person.identity_key.in_(set(keys.values())))
    ).all()
    identity_of: dict[int, str] = {row[0]: row[1] for row in members}
    earliest = min(months_before(c.referred_on, months) for c in cases)
    others = db.session.execute(
        select(Case.id, Case.victim_id, Case.referred_on).where(
            Case.victim_id.in_(identity_of), Case.referred_on >= earliest
        )
    ).all()
    incidents = db.session.execute(
        select(Incident.victim_id, Incident.occurred_on, Incident.case_id).where(
            Incident.victim_id.in_(identity_of), Incident.occurred_on >= earliest
        )
    ).all()
    found = set()
    for case in cases:
        key, since = keys.get(case.victim_id), months_before(case.referred_on, months)
        earlier = any(
            identity_of[v] == key and i != case.id and since <= d <= case.referred_on for i, v, d in others
        ) or any(identity_of[v] == key and c != case.id and since <= d <= case.referred_on for v, d, c in incidents)
        if earlier:
            found.add(case.id)
    return found
