"""Recording checked Operation Encompass incidents: matching each child to a person record through the blind
indexes, one notification per child per setting due at the start of its next school day, and sending it (the
outbox), all in the caller's transaction and in a few statements for a batch (a police system's night feed)."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import structlog
from sqlalchemy import select, text

from marac import audit, db
from marac.access import can_record_incidents
from marac.encompass.calendar import Closures, Nation, next_school_day_start
from marac.encompass.models import (
    EducationSetting,
    EncompassAuthority,
    EncompassChild,
    EncompassNotification,
    PoliceIncident,
    Route,
)
from marac.encompass.services import delivery
from marac.encompass.services.intake import (
    ADDED,
    ALREADY,
    BY_URN,
    HOME_EDUCATED,
    ChildInput,
    ChildOutcome,
    IncidentInput,
    IntakeError,
    IntakeResult,
    Lookups,
    check_incident,
    lookups_for_incidents,
    occurred_at,
)
from marac.encompass.services.settings import closures_for
from marac.people.matching import Identifiers, name_key
from marac.people.models import Person, PersonKind
from marac.people.services import PersonDetails, find_candidates_many, persons_by_ids, record_people

log = structlog.get_logger(__name__)


def record_incident(actor: Any, data: IncidentInput, *, source: str = "form") -> IntakeResult:
    """Record an incident and its children (or add new children to the force's incident with that reference), match
    each child to a person, and create and send one notification per child. IntakeError when anything is wrong:
    nothing is then written."""
    if not can_record_incidents(actor):
        raise PermissionError("only police officers record Operation Encompass incidents")
    lookups = lookups_for_incidents(actor, [data])
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
    lookups, now = lookups_for_incidents(actor, items, closures=True), db.utcnow()
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
    searched = [
        Identifiers(given_name=c.given_name.strip(), family_name=c.family_name.strip(), date_of_birth=c.date_of_birth)
        for c in children
    ]
    with db.session.no_autoflush:  # nothing pending bears on the index
        best = find_candidates_many(searched, limit=3)  # audited per incident; never shown
    found = [b[0].person_id if b and b[0].band == "high" and "dob" in b[0].fields else None for b in best]
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
    """What makes two new children of a batch one person: what the index calls a high match for a child recorded
    one at a time (the same name key, folded, with the first given name, and the same date of birth), so a batch
    gives what one-by-one recording gives. A name without Latin letters has no name key: then the same full names as
    written (case and spacing aside), so non-Latin twins stay two."""
    key = name_key(child.given_name, child.family_name)
    if key is not None:
        return "name-key", key, child.date_of_birth

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
