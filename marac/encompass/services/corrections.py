"""Correcting a recorded incident: the police gave a detail wrong (a misspelt name, a wrong date of birth, the place
or what the child said). Corrections use intake's checks and messages, and key adults who already read the
notification are told to read it again (moving one to the right setting: `redirects`).
Each correction leaves a row in the incident's correction history: who, when, the names of the fields changed (or the
settings moved between) and the sealed reason; the old values are not kept. Messages never name the child; the audit
holds the names of the fields changed, never their values nor the reason."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

from sqlalchemy import select

from marac import audit, db
from marac.access import can_correct_incident, can_receive_notification
from marac.auth.models import User
from marac.encompass.calendar import LONDON
from marac.encompass.models import (
    CorrectionKind,
    EncompassChild,
    EncompassCorrection,
    EncompassNotification,
    KeyAdult,
    PoliceIncident,
    Route,
)
from marac.encompass.services import delivery
from marac.encompass.services.escalation import KIND as ESCALATION_KIND
from marac.encompass.services.intake import (
    MAX_TEXT,
    ChildAnswers,
    ChildInput,
    IncidentInput,
    IntakeError,
    Lookups,
    check_incident,
)
from marac.encompass.services.recording import match_children
from marac.notify.centre import notify_user
from marac.notify.models import Notification

#: Notification-centre kind: a notification its recipients should read again.
CORRECTED_KIND = "encompass_corrected"
#: The longest reason for a correction.
MAX_REASON = MAX_TEXT
#: What may be corrected: the incident's fields, and each child's as the police gave them (intake's field names).
INCIDENT_FIELDS = ("place", "circumstances")
CHILD_FIELDS = (
    "given_name",
    "family_name",
    "date_of_birth",
    "present",
    "location",
    "spoken_to",
    "child_said",
    "other_adult",
)

#: The details a child is matched to a person by.
IDENTITY = ("given_name", "family_name", "date_of_birth")

ENTER_REASON = "Enter the reason for the correction"
REASON_TOO_LONG = f"The reason must be {MAX_REASON:,} characters or fewer"
NOTHING_CHANGED = "Nothing was changed: correct at least one detail, or go back to the incident"
CHANGED_MEANWHILE = "The incident's children changed while you were correcting it: start the correction again"
RETAINED = "This incident's details were removed under the retention policy: it can no longer be corrected"
SAME_AS_ANOTHER = "these details are of another child already on this incident"


@dataclass
class ChildCorrection(ChildAnswers):
    """One child's details as corrected (plaintext, in memory only); `public_id` names the child on the incident."""

    public_id: str = ""


@dataclass
class CorrectionInput:
    """The incident's details as corrected, and why (plaintext, in memory only)."""

    place: str = ""
    circumstances: str = ""
    children: list[ChildCorrection] = field(default_factory=list)
    reason: str = ""


def is_retained(incident: PoliceIncident) -> bool:
    """Whether any of the incident's notifications had its details removed under the retention policy."""
    query = (
        select(EncompassNotification.id)
        .join(EncompassChild, EncompassChild.id == EncompassNotification.child_id)
        .where(EncompassChild.incident_id == incident.id, EncompassNotification.anonymised_at.is_not(None))
    )
    return db.session.scalar(query.limit(1)) is not None


def children_of(incident: PoliceIncident) -> list[EncompassChild]:
    """The incident's children in the order they were recorded (the order of "Child 1", "Child 2")."""
    return sorted(incident.children, key=lambda c: c.id)


def current_details(incident: PoliceIncident) -> CorrectionInput:
    """The incident and its children as recorded now (to fill in the correction form)."""
    return CorrectionInput(
        place=str(incident.place or ""),
        circumstances=str(incident.circumstances or ""),
        children=[_as_given(child) for child in children_of(incident)],
    )


def _as_given(child: EncompassChild) -> ChildCorrection:
    born = child.date_of_birth
    return ChildCorrection(
        public_id=child.public_id,
        given_name=str(child.given_name or ""),
        family_name=str(child.family_name or ""),
        date_of_birth=born if isinstance(born, date) else None,
        present=child.present if isinstance(child.present, bool) else None,
        location=str(child.location or ""),
        spoken_to=child.spoken_to if isinstance(child.spoken_to, bool) else None,
        child_said=str(child.child_said or ""),
        other_adult=str(child.other_adult or ""),
    )


def check_correction(incident: PoliceIncident, data: CorrectionInput) -> list[tuple[str, str]]:
    """Every problem with the correction as (field key, message): intake's checks of the fields that may change
    (the date, time and reference stay as recorded), the children named, and the reason."""
    local = incident.occurred_at.astimezone(LONDON)
    as_intake = IncidentInput(
        police_reference=incident.police_reference,
        occurred_on=local.date(),  # intake checks the child's age on the incident's date
        occurred_time=local.strftime("%H:%M"),
        place=data.place,
        circumstances=data.circumstances,
        children=[_child_input(c) for c in data.children],
    )
    editable = set(INCIDENT_FIELDS)
    problems = [
        (key, message)
        for key, message in check_incident(as_intake, Lookups(settings={}, authorities={}), db.utcnow())
        if key in editable or (key.startswith("children-") and key.split("-", 2)[-1] in CHILD_FIELDS)
    ]
    if [c.public_id for c in data.children] != [c.public_id for c in children_of(incident)]:
        problems.append(("children", CHANGED_MEANWHILE))
    return problems + reason_problems(data.reason, ENTER_REASON)


def reason_problems(reason: str, missing: str) -> list[tuple[str, str]]:
    """The problem with a correction's reason, if any, as ("reason", message): `missing` when it is blank."""
    reason = (reason or "").strip()
    if not reason:
        return [("reason", missing)]
    return [("reason", REASON_TOO_LONG)] if len(reason) > MAX_REASON else []


def note_correction(
    actor: Any, incident: PoliceIncident, kind: CorrectionKind, fields: list[str], reason: str, **moved: Any
) -> EncompassCorrection:
    """Add the correction to the incident's history (in the caller's transaction): names of fields, never values."""
    row = EncompassCorrection(
        incident_id=incident.id,
        kind=kind.value,
        made_by_id=actor.id,
        agency_id=actor.agency_id,
        made_at=db.utcnow(),
        fields=fields,
        **moved,
    )
    row.reason = reason.strip()
    db.session.add(row)
    return row


def _child_input(child: ChildCorrection) -> ChildInput:
    return ChildInput(**{f.name: getattr(child, f.name) for f in fields(ChildAnswers)})


def _stored(child: ChildCorrection) -> dict[str, Any]:
    """The child's values as intake stores them (trimmed; empty optional answers as None)."""
    return {
        "given_name": child.given_name.strip(),
        "family_name": child.family_name.strip(),
        "date_of_birth": child.date_of_birth,
        "present": child.present,
        "location": child.location.strip() or None,
        "spoken_to": child.spoken_to,
        "child_said": child.child_said.strip() or None,
        "other_adult": child.other_adult.strip() or None,
    }


def correct_incident(actor: Any, incident: PoliceIncident, data: CorrectionInput) -> list[str]:
    """Correct the incident's place and circumstances and its children as the police gave them; the key adults who
    already received a changed notification are told to read it again. IntakeError when anything is wrong (nothing
    is then changed). The names of the fields changed ("place", "child.given_name")."""
    if not can_correct_incident(actor, incident):
        raise PermissionError("only the recording officer or a lead of the recording force may correct an incident")
    if is_retained(incident):
        raise IntakeError([("incident", RETAINED)])
    problems = check_correction(incident, data)
    if problems:
        raise IntakeError(problems)
    changed, touched, renamed = _apply(incident, data, db.utcnow())
    if not changed:
        raise IntakeError([("changes", NOTHING_CHANGED)])
    relinked = _match_again(actor, incident, renamed)
    note_correction(actor, incident, CorrectionKind.DETAILS, sorted(changed), data.reason)
    told = sum(_tell_corrected(n) for child in touched for n in _notifications_of(child))
    audit.record(
        "encompass.incident_correct",
        actor=actor,
        object_type="encompass_incident",
        object_id=incident.public_id,
        details={
            "fields": sorted(changed),
            "children": len(touched),
            "told": told,
            "relinked": relinked,
            "reason_length": len(data.reason.strip()),
        },
    )
    db.session.flush()
    return sorted(changed)


def _apply(
    incident: PoliceIncident, data: CorrectionInput, now: Any
) -> tuple[set[str], list[EncompassChild], list[EncompassChild]]:
    """Write the changed values; the names of the fields changed, the children whose notifications changed and
    those whose name or date of birth changed."""
    changed: set[str] = set()
    touched: list[EncompassChild] = []
    renamed: list[EncompassChild] = []
    incident_values = {"place": data.place.strip() or None, "circumstances": data.circumstances.strip()}
    for name, value in incident_values.items():
        if getattr(incident, name) != value:
            setattr(incident, name, value)
            changed.add(name)
    for child, given in zip(children_of(incident), data.children, strict=True):
        values = _stored(given)
        fields = [n for n, v in values.items() if getattr(child, n) != v]
        for name in fields:
            setattr(child, name, values[name])
        changed.update(f"child.{n}" for n in fields)
        if fields or changed & set(INCIDENT_FIELDS):  # the incident's details are on every child's notification
            child.corrected_at = now
            touched.append(child)
        if set(fields) & set(IDENTITY):
            renamed.append(child)
    return changed, touched, renamed


def _match_again(actor: Any, incident: PoliceIncident, again: list[EncompassChild]) -> list[list[str]]:
    """Match each child whose name or date of birth changed to a person again, as intake does, so the notification
    follows the right child (a MARAC case lists a household's notifications through its people): the person found
    from the wrong details must not keep it. Audited as a person search (counts only). The [from, to] person public
    ids of each child now linked to another person (for the audit: a DPO can see every re-attachment)."""
    if not again:
        return []
    others = {c.id: c.person_id for c in incident.children}
    inputs = [
        ChildInput(given_name=str(c.given_name), family_name=str(c.family_name), date_of_birth=c.date_of_birth)
        for c in again
    ]
    found, moved = 0, []
    for child, (person, existing) in zip(again, match_children(actor, inputs), strict=True):
        if person.id in {p for i, p in others.items() if i != child.id}:
            position = children_of(incident).index(child) + 1
            raise IntakeError([(f"children-{position}-given_name", f"Child {position}: {SAME_AS_ANOTHER}")])
        if person.id != child.person_id:
            moved.append([child.person.public_id, person.public_id])
        child.person = person
        others[child.id] = person.id
        found += existing
    audit.record(
        "person.search",
        actor=actor,
        object_type="person",
        details={"fields": ["date_of_birth", "name"], "results": found},
    )
    return moved


def _notifications_of(child: EncompassChild) -> list[EncompassNotification]:
    query = select(EncompassNotification).where(EncompassNotification.child_id == child.id)
    return list(db.session.scalars(query.order_by(EncompassNotification.id)))


def with_access(notification: EncompassNotification) -> list[User]:
    """Everyone who may open the notification now (by the same rule as its page): a setting's briefed key adults
    of any rank, or the key adults at children's social care for a home-educated child."""
    if notification.route == Route.HOME_EDUCATION.value:
        return delivery.social_care_key_adults(notification.local_authority_id)
    if notification.route != Route.SETTING.value or notification.setting_id is None:
        return []
    query = (
        select(User)
        .join(KeyAdult, KeyAdult.user_id == User.id)
        .where(KeyAdult.setting_id == notification.setting_id, KeyAdult.briefed_on.is_not(None))
        .order_by(User.id)
    )
    return [u for u in db.session.scalars(query) if can_receive_notification(u, notification)]


def were_told(notification: EncompassNotification) -> set[int]:
    """The users the notification (or its escalation) was sent to, by their notification-centre entries linking to
    it: only they hear of a correction or a withdrawal (a second key adult it never reached has nothing to read
    again)."""
    query = select(Notification.user_id).where(
        Notification.link == f"/encompass/notifications/{notification.public_id}",
        Notification.kind.in_((delivery.NOTIFICATION_KIND, ESCALATION_KIND)),
    )
    return set(db.session.scalars(query))


def _where(notification: EncompassNotification) -> str:
    return notification.setting.name if notification.setting is not None else "children's social care"


def _tell_corrected(notification: EncompassNotification) -> int:
    """Tell those who received the notification that it changed (no child details). How many were told."""
    if notification.sent_at is None or notification.anonymised_at is not None:
        return 0  # nobody has read it yet: they will read the corrected one
    stamp = notification.child.corrected_at
    key = f"{notification.public_id}:{stamp.isoformat() if stamp else ''}"
    text = (
        f"The police corrected an Operation Encompass notification for {_where(notification)}: "
        "sign in to read it again."
    )
    link = f"/encompass/notifications/{notification.public_id}"
    told = were_told(notification)
    people = [u for u in with_access(notification) if u.id in told]
    return sum(notify_user(u, CORRECTED_KIND, key, text, link) is not None for u in people)
