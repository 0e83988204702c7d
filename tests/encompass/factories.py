"""Small factories for Operation Encompass: local authorities, settings with key adults, and police incidents with
children and their notifications (built on the models directly, as intake would leave them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from marac import db
from marac.access import Role
from marac.encompass.models import (
    EducationSetting,
    EncompassAuthority,
    EncompassChild,
    EncompassNotification,
    KeyAdult,
    ParentContact,
    PoliceIncident,
    Route,
)
from marac.orgs.models import Agency, AgencyKind, Area
from marac.people.models import Person, PersonKind
from tests.factories import Account, fake, make_agency, make_area, make_person, make_user


def make_local_authority(area: Area | None = None, name: str | None = None) -> Agency:
    """A local authority serving `area` (a new area when none), with its Encompass arrangements."""
    authority = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area or make_area()], name=name)
    db.session.add(EncompassAuthority(local_authority_id=authority.id))
    db.session.commit()
    return authority


def make_setting(
    local_authority: Agency, name: str | None = None, parent_contact: ParentContact = ParentContact.SEEK_ADVICE
) -> EducationSetting:
    """A school in `local_authority` with its own education agency (whose users are its key adults)."""
    name = name or f"{fake.unique.last_name()} Primary School"
    agency = make_agency(AgencyKind.EDUCATION, areas=list(local_authority.areas), name=name)
    setting = EducationSetting(
        urn=str(fake.unique.random_number(digits=6, fix_len=True)),
        name=name,
        local_authority_id=local_authority.id,
        agency_id=agency.id,
        parent_contact=parent_contact.value,
    )
    db.session.add(setting)
    db.session.commit()
    return setting


def make_key_adult(setting: EducationSetting, rank: int = 1, briefed: bool = True) -> Account:
    """A key adult of `setting` (a user of its agency), briefed unless told otherwise."""
    assert setting.agency is not None
    account = make_user(Role.KEY_ADULT, agency=setting.agency)
    briefed_on = date(2026, 9, 1) if briefed else None
    db.session.add(KeyAdult(setting_id=setting.id, user_id=account.user.id, rank=rank, briefed_on=briefed_on))
    db.session.commit()
    return account


def make_lead(local_authority: Agency) -> Account:
    """A local-authority Encompass lead."""
    return make_user(Role.ENCOMPASS_LEAD, agency=local_authority, areas=list(local_authority.areas))


def make_child(**overrides: Any) -> Person:
    """A school-age child's person record."""
    overrides.setdefault("date_of_birth", date(2017, 3, 14))
    overrides.setdefault("phones", [])
    overrides.setdefault("health_notes", None)
    return make_person(PersonKind.CHILD, **overrides)


@dataclass
class Sent:
    """A recorded incident and its notifications, one per child."""

    incident: PoliceIncident
    notifications: list[EncompassNotification]


def make_incident_with_children(
    police: Agency,
    children: list[tuple[Person, EducationSetting | None]],
    *,
    occurred_at: datetime,
    due_at: datetime,
    sent_at: datetime | None = None,
    local_authority: Agency | None = None,
    home_educated: bool = False,
    reference: str | None = None,
) -> Sent:
    """An incident with each child at their setting (None: home-educated when `home_educated`, else unresolved)
    and one notification each, sent at `sent_at` (the incident's time plus 10 minutes unless told)."""
    incident = PoliceIncident(
        police_agency_id=police.id,
        police_reference=reference or f"{fake.unique.random_number(digits=8, fix_len=True)}/26",
        occurred_at=occurred_at,
        recorded_at=occurred_at + timedelta(minutes=10),
    )
    incident.place = f"{fake.street_name()}, {fake.city()}"
    incident.circumstances = "Neighbours heard shouting; an adult was arrested"
    db.session.add(incident)
    db.session.flush()
    sent = sent_at if sent_at is not None else occurred_at + timedelta(minutes=10)
    notifications = []
    for person, setting in children:
        notifications.append(
            _child_notification(incident, person, setting, due_at, sent, local_authority, home_educated)
        )
    db.session.commit()
    return Sent(incident=incident, notifications=notifications)


def _child_notification(
    incident: PoliceIncident,
    person: Person,
    setting: EducationSetting | None,
    due_at: datetime,
    sent_at: datetime,
    local_authority: Agency | None,
    home_educated: bool,
) -> EncompassNotification:
    authority_id = setting.local_authority_id if setting else (local_authority.id if local_authority else None)
    child = EncompassChild(
        incident_id=incident.id,
        person_id=person.id,
        setting_id=setting.id if setting else None,
        home_educated=home_educated,
        local_authority_id=authority_id,
    )
    child.given_name, child.family_name = person.given_name, person.family_name  # as the police gave them
    child.date_of_birth = person.date_of_birth
    child.present, child.location = True, "In the upstairs bedroom"
    child.spoken_to, child.child_said = True, "Said she was scared when the shouting started"
    child.other_adult = "Grandmother stayed with the children"
    db.session.add(child)
    db.session.flush()
    route = Route.SETTING if setting else (Route.HOME_EDUCATION if home_educated else Route.UNRESOLVED)
    notification = EncompassNotification(
        child_id=child.id,
        setting_id=setting.id if setting else None,
        local_authority_id=authority_id,
        route=route.value,
        due_at=due_at,
        created_at=sent_at,
        sent_at=None if route is Route.UNRESOLVED else sent_at,
        is_late=route is not Route.UNRESOLVED and sent_at > due_at,
    )
    db.session.add(notification)
    db.session.flush()
    return notification
