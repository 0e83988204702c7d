"""An Operation Encompass incident as the police give it (a form or a police system's file) and its checks: each
problem as a field key and a clear message. Recording a checked incident is `recording`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from marac import db
from marac.access.cases import user_area_ids
from marac.encompass.calendar import LONDON, Closures
from marac.encompass.models import (
    EducationSetting,
    PoliceIncident,
)
from marac.encompass.services import delivery
from marac.encompass.services.settings import closures_for
from marac.orgs.models import Agency, AgencyKind, agency_areas
from marac.people.models import age_on

MAX_CHILDREN = 12
MAX_PLACE = 200
MAX_CIRCUMSTANCES = 2000
MAX_NAME = 100
MAX_TEXT = 1000
YOUNGEST, OLDEST = 4, 17
REFERENCE = re.compile(r"^[A-Za-z0-9/-]{1,40}$")
TIME_FORMAT = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")

#: How a child's setting is given.
BY_URN, HOME_EDUCATED, NOT_KNOWN = "urn", "home_educated", "not_known"
ALREADY, ADDED = "already recorded", "added"


class IntakeError(ValueError):
    """The incident cannot be recorded as given: `problems` holds (field key, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _key, message in problems))
        self.problems = problems


@dataclass
class ChildAnswers:
    """What the officer says of one child: the name and date of birth as given, and what happened to them
    (plaintext, in memory only)."""

    given_name: str = ""
    family_name: str = ""
    date_of_birth: date | None = None
    present: bool | None = None
    location: str = ""
    spoken_to: bool | None = None
    child_said: str = ""
    other_adult: str = ""


@dataclass
class ChildInput(ChildAnswers):
    """One child as the officer gave them, with their setting."""

    setting_choice: str = ""  # BY_URN, HOME_EDUCATED or NOT_KNOWN
    urn: str = ""
    local_authority_id: int | None = None


@dataclass
class IncidentInput:
    """An incident as the officer gave it (plaintext, in memory only)."""

    police_reference: str = ""
    occurred_on: date | None = None
    occurred_time: str = ""  # HH:MM, Europe/London
    place: str = ""
    circumstances: str = ""
    children: list[ChildInput] = field(default_factory=list)


@dataclass
class ChildOutcome:
    """What happened to one child of the input."""

    position: int
    status: str  # ADDED or ALREADY
    route: str | None = None


@dataclass
class IntakeResult:
    """The incident recorded (or found again) and what happened to each child."""

    incident: PoliceIncident
    is_new: bool
    children: list[ChildOutcome]
    #: Children found in the person index (an existing record reused), for the audit only: never shown.
    matched: int = 0

    @property
    def added(self) -> int:
        """Children added by this recording."""
        return sum(c.status == ADDED for c in self.children)

    @property
    def already(self) -> int:
        """Children that were already on the incident."""
        return sum(c.status == ALREADY for c in self.children)


@dataclass
class Lookups:
    """What checking needs from the database, read once per form or file."""

    settings: dict[str, EducationSetting]
    authorities: dict[int, Agency]
    #: The settings' term calendars, when read up front for a batch (else read per incident).
    closures: dict[int, Closures] | None = None
    #: Each setting's briefed key adults told first, when read up front for a batch (else read per child).
    key_adults: dict[int, list[Any]] | None = None


def authority_choices(actor: Any) -> list[Agency]:
    """The local authorities serving the officer's areas (for home-educated children and unknown settings)."""
    areas = user_area_ids(actor) if getattr(actor, "agency", None) is not None else set()
    if not areas:
        return []
    query = (
        select(Agency)
        .join(agency_areas, agency_areas.c.agency_id == Agency.id)
        .where(Agency.kind == AgencyKind.LOCAL_AUTHORITY.value, agency_areas.c.area_id.in_(areas))
        .distinct()
        .order_by(Agency.name)
    )
    return list(db.session.scalars(query))


def lookups_for(actor: Any, urns: Iterable[str], *, authorities: bool = True, closures: bool = False) -> Lookups:
    """The settings named by URN, the authorities the officer may choose (when any child needs one) and, for a
    batch, the settings' term calendars."""
    wanted = sorted({u.strip() for u in urns if u and u.strip()})
    settings: dict[str, EducationSetting] = {}
    for start in range(0, len(wanted), 500):
        query = select(EducationSetting).where(EducationSetting.urn.in_(wanted[start : start + 500]))
        settings.update((s.urn, s) for s in db.session.scalars(query))
    choices = {a.id: a for a in authority_choices(actor)} if authorities else {}
    ids = [s.id for s in settings.values()]
    calendars = closures_for(ids) if closures else None
    told_first = delivery.briefed_key_adults_for(ids) if closures else None
    return Lookups(settings=settings, authorities=choices, closures=calendars, key_adults=told_first)


def lookups_for_incidents(actor: Any, items: list[IncidentInput], *, closures: bool = False) -> Lookups:
    children = [c for item in items for c in item.children]
    urns = [c.urn for c in children if c.setting_choice == BY_URN]
    needs_authority = any(c.setting_choice != BY_URN for c in children)
    return lookups_for(actor, urns, authorities=needs_authority, closures=closures)


def occurred_at(data: IncidentInput) -> datetime | None:
    """The incident's time in UTC (given as Europe/London wall time), None when not given properly."""
    match = TIME_FORMAT.match((data.occurred_time or "").strip())
    if data.occurred_on is None or match is None:
        return None
    local = datetime.combine(data.occurred_on, time(int(match[1]), int(match[2])), tzinfo=LONDON)
    return local.astimezone(UTC)


def check_incident(data: IncidentInput, lookups: Lookups, now: datetime) -> list[tuple[str, str]]:
    """Every problem with the incident and its children, as (field key, message); empty when it may be recorded."""
    problems: list[tuple[str, str]] = []
    reference = (data.police_reference or "").strip()
    if not reference:
        problems.append(("police_reference", "Enter the police reference"))
    elif not REFERENCE.match(reference):
        problems.append(
            ("police_reference", "The police reference must be 40 characters or fewer: letters, digits, / and -")
        )
    problems.extend(_check_time(data, now))
    if len(data.place or "") > MAX_PLACE:
        problems.append(("place", f"The place must be {MAX_PLACE} characters or fewer"))
    if not (data.circumstances or "").strip():
        problems.append(("circumstances", "Enter the circumstances"))
    elif len(data.circumstances) > MAX_CIRCUMSTANCES:
        problems.append(("circumstances", f"The circumstances must be {MAX_CIRCUMSTANCES:,} characters or fewer"))
    if not data.children:
        problems.append(("children", "Add at least one child"))
    elif len(data.children) > MAX_CHILDREN:
        problems.append(("children", f"Record at most {MAX_CHILDREN} children on one incident"))
    incident_day = data.occurred_on
    for position, child in enumerate(data.children[:MAX_CHILDREN], start=1):
        problems.extend(_check_child(position, child, incident_day, lookups))
    return problems


def _check_time(data: IncidentInput, now: datetime) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if data.occurred_on is None:
        problems.append(("occurred_on", "Enter the incident date as a real date, like 21 11 2026"))
    if not TIME_FORMAT.match((data.occurred_time or "").strip()):
        problems.append(("occurred_time", "Enter the incident time on the 24-hour clock, like 18:30"))
    at = occurred_at(data)
    if at is not None and at > now:
        problems.append(("occurred_time", "The incident date and time must not be in the future"))
    elif at is not None and at < now - timedelta(days=365):
        problems.append(("occurred_on", "The incident must be within the last year"))
    return problems


def _check_child(position: int, child: ChildInput, day: date | None, lookups: Lookups) -> list[tuple[str, str]]:
    key, who = f"children-{position}-", f"Child {position}: "
    problems: list[tuple[str, str]] = []
    for name, label in (("given_name", "given name"), ("family_name", "family name")):
        value = (getattr(child, name) or "").strip()
        if not value:
            problems.append((key + name, f"{who}enter the child's {label}"))
        elif len(value) > MAX_NAME:
            problems.append((key + name, f"{who}the {label} must be {MAX_NAME} characters or fewer"))
    if child.date_of_birth is None:
        problems.append((key + "date_of_birth", f"{who}enter the date of birth as a real date, like 4 6 2015"))
    elif day is not None:
        age = age_on(child.date_of_birth, day)
        if age is None or not YOUNGEST <= age <= OLDEST:
            problems.append(
                (
                    key + "date_of_birth",
                    f"{who}date of birth gives age {age} on the incident date: "
                    "Operation Encompass covers reception to 17",
                )
            )
    problems.extend(_check_setting(key, who, child, lookups))
    if child.present is None:
        problems.append((key + "present", f"{who}say whether the child was present"))
    if child.spoken_to is None:
        problems.append((key + "spoken_to", f"{who}say whether the child was spoken to"))
    for name in ("location", "child_said", "other_adult"):
        if len(getattr(child, name) or "") > MAX_TEXT:
            problems.append((key + name, f"{who}this answer must be {MAX_TEXT:,} characters or fewer"))
    return problems


def _check_setting(key: str, who: str, child: ChildInput, lookups: Lookups) -> list[tuple[str, str]]:
    if child.setting_choice == BY_URN:
        urn = (child.urn or "").strip()
        if not urn:
            return [(key + "urn", f"{who}enter the setting's URN")]
        if urn not in lookups.settings:
            return [(key + "urn", f"{who}no setting has URN {urn[:12]}")]
        return []
    if child.setting_choice in (HOME_EDUCATED, NOT_KNOWN):
        if child.local_authority_id not in lookups.authorities:
            return [(key + "local_authority_id", f"{who}choose the local authority where the child lives")]
        return []
    return [(key + "setting_choice", f"{who}say which setting the child attends, or that it is not known")]


def problems_for(actor: Any, data: IncidentInput) -> list[tuple[str, str]]:
    """Every problem with the incident as given, without recording anything."""
    return check_incident(data, lookups_for_incidents(actor, [data]), db.utcnow())
