"""Recording police incidents and the children linked to them: checks, matching each child to a person record,
one notification per child per setting with its due time, and sending it (the outbox) in the same transaction."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy import select, text

from marac import audit, db
from marac.access import can_record_incidents
from marac.access.cases import user_area_ids
from marac.encompass.calendar import LONDON, Closures, Nation, next_school_day_start
from marac.encompass.models import (
    EducationSetting,
    EncompassAuthority,
    EncompassChild,
    EncompassNotification,
    PoliceIncident,
    Route,
)
from marac.encompass.services import delivery
from marac.encompass.services.settings import closures_for
from marac.orgs.models import Agency, AgencyKind, agency_areas
from marac.people.matching import Identifiers
from marac.people.models import Person, PersonKind, age_on
from marac.people.services import PersonDetails, find_candidates, persons_by_ids, record_people

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

log = structlog.get_logger(__name__)


class IntakeError(ValueError):
    """The incident cannot be recorded as given: `problems` holds (field key, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(message for _key, message in problems))
        self.problems = problems


@dataclass
class ChildInput:
    """One child as the officer gave them (plaintext, in memory only)."""

    given_name: str = ""
    family_name: str = ""
    date_of_birth: date | None = None
    setting_choice: str = ""  # BY_URN, HOME_EDUCATED or NOT_KNOWN
    urn: str = ""
    local_authority_id: int | None = None
    present: bool | None = None
    location: str = ""
    spoken_to: bool | None = None
    child_said: str = ""
    other_adult: str = ""


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


def _lookups_for_incidents(actor: Any, items: list[IncidentInput], *, closures: bool = False) -> Lookups:
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
    return check_incident(data, _lookups_for_incidents(actor, [data]), db.utcnow())


def record_incident(actor: Any, data: IncidentInput, *, source: str = "form") -> IntakeResult:
    """Record an incident and its children (or add new children to the force's incident with that reference), match
    each child to a person, and create and send one notification per child. IntakeError when anything is wrong:
    nothing is then written."""
    if not can_record_incidents(actor):
        raise PermissionError("only police officers record Operation Encompass incidents")
    lookups = _lookups_for_incidents(actor, [data])
    problems = check_incident(data, lookups, db.utcnow())
    if problems:
        raise IntakeError(problems)
    return store_incidents(actor, [data], lookups, source=source)[0]


def record_incidents(actor: Any, items: list[IncidentInput], *, source: str = "import") -> list[IntakeResult]:
    """Record a batch of incidents (a police system's feed) as `record_incident` does each, reading settings, term
    calendars and authorities once and writing in a few statements. IntakeError (problems prefixed "Incident N: ")
    when any is wrong: nothing is then written."""
    if not can_record_incidents(actor):
        raise PermissionError("only police officers record Operation Encompass incidents")
    lookups, now = _lookups_for_incidents(actor, items, closures=True), db.utcnow()
    problems = [
        (f"incidents-{n}-{key}", f"Incident {n}: {message}")
        for n, item in enumerate(items, start=1)
        for key, message in check_incident(item, lookups, now)
    ]
    if problems:
        raise IntakeError(problems)
    return store_incidents(actor, items, lookups, source=source)


def store_incidents(actor: Any, items: list[IncidentInput], lookups: Lookups, *, source: str) -> list[IntakeResult]:
    """Write checked incidents, in order: an incident is found again by force and reference (its details are then
    kept as they were, and only children not already on it are added). Each child is matched to a person, gets one
    notification due at its setting's next school day, and that is sent. Audited per incident: the person search
    (fields and how many were found, never values) and what was recorded."""
    references = [item.police_reference.strip() for item in items]
    _serialise(actor.agency_id, references)
    incidents = _existing_incidents(actor.agency_id, references)
    on_incident = _people_on(incidents.values())
    closures = lookups.closures
    if closures is None:
        closures = closures_for([s.id for s in lookups.settings.values()])
    matches = iter(match_children(actor, [child for item in items for child in item.children]))
    results, added = [], []
    for item, reference in zip(items, references, strict=True):
        incident = incidents.get(reference)
        is_new = incident is None
        if incident is None:
            incident = incidents[reference] = _new_incident(actor, item, reference, source)
        people = on_incident.setdefault(reference, set())
        outcomes, matched = [], 0
        for position, child in enumerate(item.children, start=1):
            person, found = next(matches)
            matched += found
            if person.id in people:
                outcomes.append(ChildOutcome(position, ALREADY))
                continue
            people.add(person.id)
            outcome = ChildOutcome(position, ADDED)
            outcomes.append(outcome)
            added.append((outcome, _add_child(incident, person, child, lookups, closures), incident))
        results.append(IntakeResult(incident=incident, is_new=is_new, children=outcomes, matched=matched))
    db.session.flush()
    delivery.deliver_many([(n, i, _told_first(n, lookups)) for _o, n, i in added])
    for outcome, notification, _incident in added:
        outcome.route = notification.route  # unresolved when nobody could be told
    audit.record_many(
        [
            event
            for result in results
            for event in (
                # the children were looked up in the person index: which fields, how many (never the values)
                audit.Event(
                    "person.search", "person", details={"fields": ["date_of_birth", "name"], "results": result.matched}
                ),
                audit.Event(
                    "encompass.incident_record",
                    "encompass_incident",
                    result.incident.public_id,
                    details={"new": result.is_new, "added": result.added, "already": result.already},
                ),
            )
        ],
        actor=actor,
    )
    return results


def _existing_incidents(agency_id: int, references: list[str]) -> dict[str, PoliceIncident]:
    wanted = sorted(set(references))
    found: dict[str, PoliceIncident] = {}
    for start in range(0, len(wanted), 500):
        query = select(PoliceIncident).where(
            PoliceIncident.police_agency_id == agency_id,
            PoliceIncident.police_reference.in_(wanted[start : start + 500]),
        )
        found.update((i.police_reference, i) for i in db.session.scalars(query))
    return found


def _people_on(incidents: Iterable[PoliceIncident]) -> dict[str, set[int]]:
    """The persons already on each incident, by police reference."""
    by_id = {i.id: i.police_reference for i in incidents}
    people: dict[str, set[int]] = {reference: set() for reference in by_id.values()}
    ids = sorted(by_id)
    for start in range(0, len(ids), 500):
        query = select(EncompassChild.incident_id, EncompassChild.person_id).where(
            EncompassChild.incident_id.in_(ids[start : start + 500])
        )
        for incident_id, person_id in db.session.execute(query):
            people[by_id[incident_id]].add(person_id)
    return people


def _new_incident(actor: Any, data: IncidentInput, reference: str, source: str) -> PoliceIncident:
    incident = PoliceIncident(
        police_agency_id=actor.agency_id,
        police_reference=reference,
        occurred_at=occurred_at(data),
        recorded_by_id=actor.id,
        recorded_at=db.utcnow(),
        source=source,
    )
    incident.place = (data.place or "").strip() or None
    incident.circumstances = data.circumstances.strip()
    db.session.add(incident)
    return incident


def _serialise(agency_id: int, references: Iterable[str]) -> None:
    """Two intakes of the same force's incident (a double submit, a re-sent import) take turns: on PostgreSQL a
    transaction-scoped advisory lock on each force and reference, taken in one order by every intake (so two batches
    cannot deadlock), so the second sees the first's children and adds none twice. SQLite's write transactions
    already run one at a time (BEGIN IMMEDIATE)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted(
        int.from_bytes(hashlib.sha256(f"encompass:{agency_id}:{reference}".encode()).digest()[:8], "big", signed=True)
        for reference in set(references)
    )
    if keys:
        db.session.execute(
            text(
                "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS t(k, n) "
                "ORDER BY n"
            ),
            {"keys": keys},
        )


def match_children(actor: Any, children: list[ChildInput]) -> list[tuple[Person, bool]]:
    """Each child's person record and whether it was found: an existing one when the best candidate is a high match
    with the same date of birth, else a new one (one for a child given twice in the batch, by name and date of
    birth). Candidates are never shown to the officer, and Encompass pages show the name and date of birth as the
    officer gave them (the child's own snapshot), never the stored person's: a match must not reveal a newer or
    fuller identity (a renamed or relocated child)."""
    found: list[int | None] = []
    with db.session.no_autoflush:  # nothing pending bears on the index
        for child in children:
            ids = Identifiers(
                given_name=child.given_name.strip(),
                family_name=child.family_name.strip(),
                date_of_birth=child.date_of_birth,
            )
            best = find_candidates(actor, ids, limit=3, audit_search=False)  # audited per incident; never shown
            good = best and best[0].band == "high" and "dob" in best[0].fields
            found.append(best[0].person_id if good else None)
    existing = persons_by_ids([i for i in found if i is not None])
    new: dict[tuple[str, str, date | None], PersonDetails] = {}
    for child, person_id in zip(children, found, strict=True):
        if person_id is None or person_id not in existing:
            new.setdefault(_same_child(child), _details(child))
    made = dict(zip(new, record_people(actor, PersonKind.CHILD, list(new.values())), strict=True))
    return [
        (existing[i], True) if i is not None and i in existing else (made[_same_child(child)], False)
        for child, i in zip(children, found, strict=True)
    ]


def _same_child(child: ChildInput) -> tuple[str, str, date | None]:
    """What makes two children of a batch one new person: the same full names, in any script (compared as
    written, case and spacing aside: `fold` keeps Latin letters only, and would make all Cyrillic twins one), and
    the same date of birth."""

    def plain(name: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", name).casefold().split())

    return plain(child.given_name), plain(child.family_name), child.date_of_birth


def _details(child: ChildInput) -> PersonDetails:
    return PersonDetails(
        given_name=child.given_name.strip(), family_name=child.family_name.strip(), date_of_birth=child.date_of_birth
    )


def _told_first(notification: EncompassNotification, lookups: Lookups) -> list[Any] | None:
    """The briefed key adults told first at the notification's setting ([] when unresolved: nobody to tell)."""
    if notification.route != Route.SETTING.value or notification.setting_id is None:
        return [] if notification.route == Route.UNRESOLVED.value else None
    known = lookups.key_adults
    return (
        known.get(notification.setting_id, [])
        if known is not None
        else delivery.briefed_key_adults(notification.setting_id)
    )


def _add_child(
    incident: PoliceIncident, person: Person, data: ChildInput, lookups: Lookups, closures: dict[int, Closures]
) -> EncompassNotification:
    setting = lookups.settings.get(data.urn.strip()) if data.setting_choice == BY_URN else None
    child = EncompassChild(
        person=person,
        setting=setting,
        home_educated=data.setting_choice == HOME_EDUCATED,
        local_authority_id=setting.local_authority_id if setting else data.local_authority_id,
    )
    child.incident = incident
    db.session.add(child)
    child.given_name = data.given_name.strip()
    child.family_name = data.family_name.strip()
    child.date_of_birth = data.date_of_birth
    child.present = data.present
    child.location = data.location.strip() or None
    child.spoken_to = data.spoken_to
    child.child_said = data.child_said.strip() or None
    child.other_adult = data.other_adult.strip() or None
    notification = EncompassNotification(
        local_authority_id=child.local_authority_id,
        route=Route.UNRESOLVED.value,
        due_at=due_time(incident.occurred_at, setting, child.local_authority_id, closures),
        created_at=db.utcnow(),
    )
    notification.child = child
    db.session.add(notification)
    if setting is not None and setting.is_active and _has_key_adults(setting, lookups):
        notification.route, notification.setting = Route.SETTING.value, setting
    elif child.home_educated:
        notification.route = Route.HOME_EDUCATION.value
    return notification


def _has_key_adults(setting: EducationSetting, lookups: Lookups) -> bool:
    known = lookups.key_adults
    return bool(known.get(setting.id) if known is not None else delivery.briefed_key_adults(setting.id))


def due_time(
    at: datetime, setting: EducationSetting | None, authority_id: int | None, closures: dict[int, Closures]
) -> datetime:
    """The start of the first school day after `at`: the setting's calendar, else its authority's nation at 08:30."""
    if setting is not None:
        try:
            return next_school_day_start(at, setting.nation, setting.day_start, closures.get(setting.id))
        except ValueError:
            # a term calendar that closes the setting for over a year is a mistake: the notification must still
            # go, due by weekends and bank holidays only (and the log says which setting needs its calendar fixed)
            log.warning("encompass_calendar_closes_everything", setting=setting.public_id)
            return next_school_day_start(at, setting.nation, setting.day_start)
    nation = db.session.scalar(
        select(EncompassAuthority.nation).where(EncompassAuthority.local_authority_id == authority_id)
    )
    return next_school_day_start(at, nation or Nation.ENGLAND_WALES)


def resolve_notification(actor: Any, notification: EncompassNotification, urn: str) -> EncompassNotification:
    """Name the setting of a child whose notification was unresolved: its due time is worked out again from the
    incident for that setting (so it stays due if it was), and it is sent at once (late when past due)."""
    from marac.access import can_resolve_notification

    if not can_resolve_notification(actor, notification):
        raise PermissionError("only a lead for its local authority or the recording force may resolve this")
    urn = (urn or "").strip()
    setting = db.session.scalar(select(EducationSetting).where(EducationSetting.urn == urn)) if urn else None
    if setting is None:
        raise IntakeError([("urn", f"No setting has URN {urn[:12]}" if urn else "Enter the setting's URN")])
    if not delivery.can_deliver_to_setting(setting):
        raise IntakeError([("urn", f"{setting.name} has no briefed key adult to receive the notification")])
    child, incident = notification.child, notification.child.incident
    child.setting_id, child.home_educated, child.local_authority_id = setting.id, False, setting.local_authority_id
    notification.setting_id, notification.route = setting.id, Route.SETTING.value
    notification.local_authority_id = setting.local_authority_id
    notification.due_at = due_time(incident.occurred_at, setting, None, closures_for([setting.id]))
    db.session.flush()
    db.session.refresh(notification, ["setting"])
    delivery.deliver(notification, incident)
    audit.record(
        "encompass.resolve",
        actor=actor,
        object_type="encompass_notification",
        object_id=notification.public_id,
        details={"late": notification.is_late},
    )
    return notification
