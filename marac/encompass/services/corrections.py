"""Correcting a recorded incident: the police gave a detail wrong (a misspelt name, a wrong date of birth, the place
or what the child said) or the wrong setting. Corrections use intake's checks and messages; key adults who already
read the notification are told to read it again, and a setting told in error loses it at once and is told so.
Messages never name the child; the audit holds the names of the fields changed, never their values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import or_, select

from marac import audit, db
from marac.access import can_correct_incident, can_receive_notification
from marac.auth.models import User
from marac.encompass.calendar import LONDON
from marac.encompass.models import (
    EducationSetting,
    EncompassChild,
    EncompassNotification,
    KeyAdult,
    PoliceIncident,
    Route,
)
from marac.encompass.services import delivery
from marac.encompass.services.escalation import KIND as ESCALATION_KIND
from marac.encompass.services.intake import (
    MAX_TEXT,
    ChildInput,
    IncidentInput,
    IntakeError,
    Lookups,
    check_incident,
    match_children,
)
from marac.encompass.services.intake import due_time as intake_due_time
from marac.encompass.services.settings import closures_for
from marac.notify.centre import notify_user
from marac.notify.models import OutboxMessage

#: Notification-centre kinds: a notification its recipients should read again, and one withdrawn from a setting.
CORRECTED_KIND = "encompass_corrected"
WITHDRAWN_KIND = "encompass_withdrawn"
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
NOT_SENT = "This notification has not been sent yet: name its setting from the unresolved notifications instead"


@dataclass
class ChildCorrection:
    """One child's details as corrected (plaintext, in memory only); `public_id` names the child on the incident."""

    public_id: str
    given_name: str = ""
    family_name: str = ""
    date_of_birth: date | None = None
    present: bool | None = None
    location: str = ""
    spoken_to: bool | None = None
    child_said: str = ""
    other_adult: str = ""


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
    reason = (data.reason or "").strip()
    if not reason:
        problems.append(("reason", ENTER_REASON))
    elif len(reason) > MAX_REASON:
        problems.append(("reason", REASON_TOO_LONG))
    return problems


def _child_input(child: ChildCorrection) -> ChildInput:
    return ChildInput(
        given_name=child.given_name,
        family_name=child.family_name,
        date_of_birth=child.date_of_birth,
        present=child.present,
        location=child.location,
        spoken_to=child.spoken_to,
        child_said=child.child_said,
        other_adult=child.other_adult,
    )


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
    matched = _match_again(actor, incident, renamed)
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
            "matched_again": matched,
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


def _match_again(actor: Any, incident: PoliceIncident, again: list[EncompassChild]) -> int:
    """Match each child whose name or date of birth changed to a person again, as intake does, so the notification
    follows the right child (a MARAC case lists a household's notifications through its people): the person found
    from the wrong details must not keep it. Audited as a person search (counts only). How many were matched."""
    if not again:
        return 0
    others = {c.id: c.person_id for c in incident.children}
    inputs = [
        ChildInput(given_name=str(c.given_name), family_name=str(c.family_name), date_of_birth=c.date_of_birth)
        for c in again
    ]
    found = 0
    for child, (person, existing) in zip(again, match_children(actor, inputs), strict=True):
        if person.id in {p for i, p in others.items() if i != child.id}:
            position = children_of(incident).index(child) + 1
            raise IntakeError([(f"children-{position}-given_name", f"Child {position}: {SAME_AS_ANOTHER}")])
        child.person = person
        others[child.id] = person.id
        found += existing
    audit.record(
        "person.search",
        actor=actor,
        object_type="person",
        details={"fields": ["date_of_birth", "name"], "results": found},
    )
    return len(again)


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
    """The users the notification (or its escalation) was sent to, from the outbox: only they hear of a correction
    or a withdrawal (a second key adult it never reached has nothing to read again)."""
    kinds = (delivery.NOTIFICATION_KIND, ESCALATION_KIND)
    query = select(OutboxMessage.recipient_id).where(
        OutboxMessage.kind.in_(kinds),
        OutboxMessage.channel == "email",
        or_(
            *(
                OutboxMessage.idempotency_key.startswith(f"{kind}:{notification.public_id}", autoescape=True)
                for kind in kinds
            )
        ),
    )
    return {i for i in db.session.scalars(query) if i is not None}


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


# --- redirecting a notification to the right setting ---------------------------------------------------------------


def redirect_notification(actor: Any, notification: EncompassNotification, urn: str) -> EncompassNotification:
    """Move a sent notification to the child's right setting: its due time is worked out again from the incident for
    that setting, it is sent at once to that setting's briefed key adults (late when past due) with its
    acknowledgement and escalation started again, and the setting told in error loses it at once and is told so.
    IntakeError (on "urn") when it cannot move: nothing is then changed."""
    child = notification.child
    incident = child.incident
    if not can_correct_incident(actor, incident):
        raise PermissionError("only the recording officer or a lead of the recording force may redirect this")
    setting = _target(notification, urn)
    told = were_told(notification)
    old_setting = notification.setting
    old_people = [u for u in with_access(notification) if u.id in told]
    child.setting_id, child.home_educated, child.local_authority_id = setting.id, False, setting.local_authority_id
    notification.setting_id, notification.route = setting.id, Route.SETTING.value
    notification.local_authority_id = setting.local_authority_id
    notification.due_at = intake_due_time(incident.occurred_at, setting, None, closures_for([setting.id]))
    _start_again(notification)
    db.session.flush()
    db.session.refresh(notification, ["setting"])
    delivery.deliver(notification, incident)
    now_told = {u.id for u in with_access(notification)}
    _tell_withdrawn(notification, old_setting, [u for u in old_people if u.id not in now_told])
    audit.record(
        "encompass.redirect",
        actor=actor,
        object_type="encompass_notification",
        object_id=notification.public_id,
        details={
            "from": old_setting.public_id if old_setting is not None else None,
            "to": setting.public_id,
            "late": notification.is_late,
        },
    )
    return notification


def _target(notification: EncompassNotification, urn: str) -> EducationSetting:
    """The setting to move the notification to, or IntakeError saying why it cannot go there."""
    if notification.anonymised_at is not None:
        raise IntakeError([("urn", RETAINED)])
    if notification.route == Route.UNRESOLVED.value or notification.sent_at is None:
        raise IntakeError([("urn", NOT_SENT)])
    urn = (urn or "").strip()
    setting = db.session.scalar(select(EducationSetting).where(EducationSetting.urn == urn)) if urn else None
    if setting is None:  # intake's messages, as when a setting is named for an unresolved notification
        raise IntakeError([("urn", f"No setting has URN {urn[:12]}" if urn else "Enter the setting's URN")])
    if notification.route == Route.SETTING.value and notification.setting_id == setting.id:
        raise IntakeError([("urn", f"The notification already went to {setting.name}: enter the right setting's URN")])
    if not delivery.can_deliver_to_setting(setting):
        raise IntakeError([("urn", f"{setting.name} has no briefed key adult to receive the notification")])
    clash = select(EncompassNotification.id).where(
        EncompassNotification.child_id == notification.child_id, EncompassNotification.setting_id == setting.id
    )
    if db.session.scalar(clash) is not None:
        raise IntakeError([("urn", f"{setting.name} already has a notification about this child")])
    return setting


def _start_again(notification: EncompassNotification) -> None:
    """Clear what the setting told in error did with it: opened, acknowledged (with its note), escalated."""
    notification.opened_at, notification.opened_by_id = None, None
    notification.acknowledged_at, notification.acknowledged_by_id = None, None
    notification.support_note = None
    notification.escalation_level, notification.escalated_at = 0, None


def _tell_withdrawn(notification: EncompassNotification, old: EducationSetting | None, people: list[User]) -> int:
    """Tell the key adults who lost the notification that it was withdrawn (no child details). How many."""
    where = old.name if old is not None else "children's social care"
    text = (
        f"An Operation Encompass notification sent to {where} was withdrawn: the police sent it to the wrong "
        "setting. You can no longer open it."
    )
    was = old.public_id if old is not None else Route.HOME_EDUCATION.value
    key = f"{notification.public_id}:{was}:{db.utcnow().isoformat()}"  # moved away from here again later: told again
    return sum(notify_user(u, WITHDRAWN_KIND, key, text, "/encompass/notifications") is not None for u in people)


def notification_by_id(public_id: str) -> EncompassNotification | None:
    """The notification with this public id (who may act on it is for the caller to decide)."""
    return db.session.scalar(select(EncompassNotification).where(EncompassNotification.public_id == public_id))
