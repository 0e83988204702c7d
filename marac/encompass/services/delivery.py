"""Sending Operation Encompass notifications through the outbox: who receives each one (briefed key adults of the
setting, or children's social care for a home-educated child), and telling leads about unresolved ones. Messages
and notification-centre texts never name the child, the police reference or the place."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.auth.models import User, UserRole
from marac.encompass.calendar import LONDON
from marac.encompass.models import (
    EducationSetting,
    EncompassAuthority,
    EncompassNotification,
    KeyAdult,
    PoliceIncident,
    Route,
)
from marac.notify.centre import notify_user, notify_users

NOTIFICATION_KIND = "encompass_notification"
UNRESOLVED_KIND = "encompass_unresolved"


def _with_role(query: Any, role: Role) -> Any:
    return query.join(UserRole, UserRole.user_id == User.id).where(UserRole.role == role.value, User.is_active)


def _at_the_setting() -> Any:
    """Key adults still working for the setting's own agency (someone moved to another agency receives nothing)."""
    return (
        select(User, KeyAdult.rank, KeyAdult.setting_id)
        .join(KeyAdult, KeyAdult.user_id == User.id)
        .join(EducationSetting, EducationSetting.id == KeyAdult.setting_id)
        .where(EducationSetting.agency_id == User.agency_id, KeyAdult.briefed_on.is_not(None))
    )


def briefed_key_adults(setting_id: int) -> list[User]:
    """The setting's briefed key adults who are told first: rank 1, or rank 2 when no rank-1 key adult is briefed."""
    query = _with_role(_at_the_setting(), Role.KEY_ADULT).where(KeyAdult.setting_id == setting_id)
    rows = db.session.execute(query.order_by(KeyAdult.rank, User.id)).all()
    if not rows:
        return []
    first = rows[0][1]
    return [user for user, rank, _setting in rows if rank == first]


def briefed_key_adults_for(setting_ids: list[int]) -> dict[int, list[User]]:
    """`briefed_key_adults` for many settings in a few queries (a batch of incidents)."""
    found: dict[int, list[tuple[int, User]]] = {i: [] for i in setting_ids}
    ids = sorted(set(setting_ids))
    for start in range(0, len(ids), 500):
        query = _with_role(_at_the_setting(), Role.KEY_ADULT).where(KeyAdult.setting_id.in_(ids[start : start + 500]))
        for user, rank, setting_id in db.session.execute(query.order_by(KeyAdult.rank, User.id)):
            found[setting_id].append((rank, user))
    return {i: [u for rank, u in rows if rank == rows[0][0]] for i, rows in found.items()}


def can_deliver_to_setting(setting: EducationSetting) -> bool:
    """Whether the setting is open and has at least one briefed key adult to receive."""
    return setting.is_active and bool(briefed_key_adults(setting.id))


def social_care_key_adults(local_authority_id: int | None) -> list[User]:
    """The key adults at the authority's children's social care (they receive home-educated children's
    notifications)."""
    care_id = db.session.scalar(
        select(EncompassAuthority.childrens_social_care_id).where(
            EncompassAuthority.local_authority_id == local_authority_id
        )
    )
    if care_id is None:
        return []
    query = _with_role(select(User), Role.KEY_ADULT).where(User.agency_id == care_id).order_by(User.id)
    return list(db.session.scalars(query))


def recipients(notification: EncompassNotification) -> list[User]:
    """Who receives the notification now (nobody while it is unresolved)."""
    if notification.route == Route.SETTING.value and notification.setting_id is not None:
        return briefed_key_adults(notification.setting_id)
    if notification.route == Route.HOME_EDUCATION.value:
        return social_care_key_adults(notification.local_authority_id)
    return []


def deliver(notification: EncompassNotification, incident: PoliceIncident, people: list[User] | None = None) -> int:
    """Send the notification to its recipients (content-free), marking it sent and late when past due; with nobody
    to receive it, it becomes unresolved and the leads are told. `people`: the recipients when the caller has just
    looked them up. How many were told."""
    return deliver_many([(notification, incident, people)])[0]


def deliver_many(batch: list[tuple[EncompassNotification, PoliceIncident, list[User] | None]]) -> list[int]:
    """`deliver` for many notifications at once (a batch of intake), queueing every message in one write. How many
    were told, for each."""
    now = db.utcnow()
    told, wanted, owners = [0] * len(batch), [], []
    for position, (notification, incident, people) in enumerate(batch):
        people = recipients(notification) if people is None else people
        if not people:
            notification.route, notification.setting_id = Route.UNRESOLVED.value, None
            db.session.flush()
            alert_unresolved(notification, incident)
            continue
        due = notification.due_at.astimezone(LONDON).strftime("%-d %B %Y at %H:%M")
        where = notification.setting.name if notification.setting is not None else "children's social care"
        text = f"New Operation Encompass notification for {where}, due before {due}: sign in to read it."
        link = f"/encompass/notifications/{notification.public_id}"
        key = send_key(notification, now)
        for user in people:
            wanted.append((user, NOTIFICATION_KIND, key, text, link))
            owners.append(position)
        notification.sent_at, notification.is_late = now, now > notification.due_at
    for position, made in zip(owners, notify_users(wanted), strict=True):
        told[position] += made is not None
    return told


def send_key(notification: EncompassNotification, now: datetime) -> str:
    """The message key of one sending: the notification's id the first time; sent again (moved to the right setting,
    perhaps back to one that lost it) the time too, so that everyone it goes to now is told again."""
    if notification.sent_at is None:
        return notification.public_id
    return f"{notification.public_id}:{now.isoformat()}"


def unresolved_leads(notification: EncompassNotification, incident: PoliceIncident) -> list[User]:
    """The Encompass leads of the notification's local authority and of the force that recorded the incident."""
    agencies = {a for a in (notification.local_authority_id, incident.police_agency_id) if a is not None}
    query = _with_role(select(User), Role.ENCOMPASS_LEAD).where(User.agency_id.in_(agencies)).order_by(User.id)
    return list(db.session.scalars(query))


def alert_unresolved(notification: EncompassNotification, incident: PoliceIncident) -> int:
    """Tell the leads there is a notification to resolve (no child details). How many were told."""
    text = "An Operation Encompass notification needs its setting named before it can be sent: sign in to resolve it."
    link = f"/encompass/unresolved/{notification.public_id}"
    leads = unresolved_leads(notification, incident)
    return sum(notify_user(u, UNRESOLVED_KIND, notification.public_id, text, link) is not None for u in leads)


def unresolved_reason(notification: EncompassNotification) -> str:
    """Why the notification is waiting: no setting known, a closed setting, or nobody briefed to receive."""
    child = notification.child
    if child.home_educated:
        return "Home educated: no key adult at the local authority's children's social care"
    if child.setting is None:
        return "Setting not known"
    if not child.setting.is_active:
        return f"{child.setting.name} is closed"
    return f"{child.setting.name} has no briefed key adult"
