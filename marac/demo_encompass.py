"""Operation Encompass demo data, made through the services as people would: settings in two local authorities
with their term calendars, key adults (briefed and not), a week of incidents around the latest bank holiday and the
last seven days (a weekend each), with the notifications they made: most acknowledged, some not (escalated), one
home-educated child, one whose school is not known, and one child of a MARAC case in Northvale North."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import Random
from typing import Any

from sqlalchemy import select

from marac import db
from marac.access import acting_offline
from marac.auth.models import User
from marac.cases.models import Case, CaseParty, PartyRole
from marac.demo_meetings import at
from marac.encompass.calendar import LONDON, Nation, bank_holidays
from marac.encompass.models import EncompassNotification, ParentContact, SettingKind
from marac.encompass.services.calendar_import import ClosureRow, add_closures
from marac.encompass.services.escalation import escalate_unacknowledged
from marac.encompass.services.intake import (
    BY_URN,
    HOME_EDUCATED,
    NOT_KNOWN,
    ChildInput,
    IncidentInput,
)
from marac.encompass.services.receiving import acknowledge_notification, open_notification
from marac.encompass.services.recording import record_incident
from marac.encompass.services.settings import SettingData, add_key_adult, save_authority, save_setting
from marac.orgs.models import Agency, Area

#: The two local authorities (agency names in marac/demo.py).
NORTH_LA, SOUTH_LA = "Northvale City Council", "Calder Mills Borough Council"
CHILDRENS_SERVICES = "Northvale Children's Services"
#: (URN, agency name, kind, local authority, day start)
SETTINGS = (
    ("100001", "Oakfield Primary School", SettingKind.SCHOOL, NORTH_LA, "08:45"),
    ("100002", "St Anne's C of E Primary School", SettingKind.SCHOOL, NORTH_LA, "08:50"),
    ("100003", "Moorside High School", SettingKind.SCHOOL, NORTH_LA, "08:30"),
    ("130001", "Hollins Park College", SettingKind.COLLEGE, NORTH_LA, "09:00"),
    ("200001", "Riverside Academy", SettingKind.SCHOOL, SOUTH_LA, "08:40"),
    ("200002", "Calder Vale Pupil Referral Unit", SettingKind.PUPIL_REFERRAL_UNIT, SOUTH_LA, "09:15"),
)
#: (login, setting URN, rank, briefed)
KEY_ADULTS = (
    ("key-adult-oakfield", "100001", 1, True),
    ("key-adult-oakfield-deputy", "100001", 2, True),
    ("key-adult-moorside", "100003", 1, True),
    ("key-adult-riverside", "200001", 1, True),
    ("key-adult-st-annes", "100002", 1, False),  # briefing not recorded: St Anne's receives nothing yet
)
PLACES = ("a house in Ashworth", "a flat in Kelbrook", "a street in Moorside", "a house in Southey", "a car park")
CIRCUMSTANCES = (
    "Police called by a neighbour to raised voices; the mother had visible injuries; the father was arrested.",
    "Verbal argument between the parents; no injuries; words of advice given and a DASH completed (medium).",
    "Ex-partner attended the home in breach of bail conditions; he left before police arrived.",
    "Mother reported threats by text; police visited; a safety plan was discussed.",
)
SAID = ("", "Said they were scared when Dad shouted.", "Said they hid upstairs with their sister.", "")


@dataclass
class EncompassStats:
    """What was seeded (counts only)."""

    settings: int = 0
    incidents: int = 0
    notifications: int = 0
    acknowledged: int = 0


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def _academic_start(today: date) -> int:
    return today.year if today.month >= 9 else today.year - 1


def _term_calendar(today: date) -> list[ClosureRow]:
    """A typical English maintained-school calendar for this academic year and the summer before it."""
    y = _academic_start(today)
    holidays = [
        (date(y, 7, 22), date(y, 9, 1), "Summer holiday"),
        (date(y, 10, 26), date(y, 10, 30), "Autumn half term"),
        (date(y, 12, 21), date(y + 1, 1, 1), "Christmas holiday"),
        (date(y + 1, 2, 15), date(y + 1, 2, 19), "Spring half term"),
        (date(y + 1, 3, 29), date(y + 1, 4, 9), "Easter holiday"),
        (date(y + 1, 5, 31), date(y + 1, 6, 4), "Summer half term"),
    ]
    rows = [ClosureRow("holiday", start, end, label) for start, end, label in holidays]
    rows.append(ClosureRow("training_day", date(y, 9, 2), date(y, 9, 2), "INSET day"))
    rows.append(ClosureRow("training_day", date(y + 1, 1, 4), date(y + 1, 1, 4), "INSET day"))
    return rows


def _latest_bank_holiday(today: date) -> date:
    found = [d for year in (today.year - 1, today.year) for d in bank_holidays(Nation.ENGLAND_WALES, year) if d < today]
    return max(found)


def _marac_child(area: Area) -> tuple[str, str, date] | None:
    """A child of an open MARAC case in the area (name and date of birth), to link an incident to the case."""
    rows = db.session.execute(
        select(CaseParty)
        .join(Case, Case.id == CaseParty.case_id)
        .where(Case.area_id == area.id, Case.status == "open", CaseParty.role == PartyRole.CHILD.value)
        .order_by(CaseParty.id)
    ).scalars()
    for party in rows:
        person = party.person
        dob = person.date_of_birth
        if isinstance(dob, date) and person.given_name and person.family_name:
            return str(person.given_name), str(person.family_name), dob
    return None


class _Children:
    """Synthetic children of school age on a given day, named by the demo's people source (never a staff, agency or
    area name)."""

    def __init__(self, people: Any) -> None:
        self.people = people
        self.random: Random = people.rng

    def child(self, on: date, setting: str, *, choice: str = BY_URN, authority: int | None = None) -> ChildInput:
        age = self.random.randint(5, 15)
        born = on - timedelta(days=365 * age + self.random.randint(10, 300))
        present = self.random.random() < 0.7
        return ChildInput(
            given_name=self.people.name("first_name"),
            family_name=self.people.name("last_name"),
            date_of_birth=born,
            setting_choice=choice,
            urn=setting if choice == BY_URN else "",
            local_authority_id=authority,
            present=present,
            location="In the living room" if present else "Staying with grandparents",
            spoken_to=present and self.random.random() < 0.6,
            child_said=self.random.choice(SAID) if present else "",
            other_adult="Maternal grandmother" if self.random.random() < 0.2 else "",
        )


def seed_encompass(users: dict[str, User], agencies: dict[str, Agency], north: Area, people: Any) -> EncompassStats:
    """Settings, key adults, calendars and a week of incidents with their notifications."""
    stats = EncompassStats()
    today, now = db.london_today(), db.utcnow()
    admin = users["admin"]
    with acting_offline(users.values()):
        settings = {}
        for urn, name, kind, authority, start in SETTINGS:
            data = SettingData(
                urn=urn,
                name=name,
                kind=kind.value,
                local_authority_id=agencies[authority].public_id,
                nation=Nation.ENGLAND_WALES.value,
                day_start=start,
                parent_contact=ParentContact.SEEK_ADVICE.value,
                agency=agencies[name].public_id,
                is_active=True,
            )
            settings[urn] = save_setting(admin, data)
        for authority in (NORTH_LA, SOUTH_LA):
            save_authority(admin, agencies[authority], agencies[CHILDRENS_SERVICES].public_id, Nation.ENGLAND_WALES)
        for login, urn, rank, briefed in KEY_ADULTS:
            briefed_on = today - timedelta(days=200) if briefed else None
            add_key_adult(admin, settings[urn], users[login].public_id, rank, briefed_on, today)
        add_closures(admin, list(settings.values()), _term_calendar(today), "demo")
        stats.settings = len(settings)
        db.session.commit()
        stats.incidents = _seed_incidents(users, agencies, north, today, now, _Children(people))
        db.session.commit()
        stats.acknowledged = _acknowledge(users, now)
        with at(now):
            escalate_unacknowledged()
    stats.notifications = len(db.session.scalars(select(EncompassNotification.id)).all())
    db.session.commit()
    return stats


def _seed_incidents(
    users: dict[str, User], agencies: dict[str, Agency], north: Area, today: date, now: datetime, children: _Children
) -> int:
    """Incidents the week around the latest bank holiday and over the last seven days, recorded as they happened."""
    officer = users["referrer"]
    holiday = _latest_bank_holiday(today)
    days = [holiday - timedelta(days=n) for n in (3, 2, 1)] + [holiday, holiday + timedelta(days=1)]
    days += [today - timedelta(days=n) for n in range(7, 0, -1)]
    # Mostly settings with briefed key adults; St Anne's once (its key adult is not briefed yet: it waits to be
    # resolved), and today's incident at Oakfield, for its key adult to read this morning.
    urns = ["100003", "100001", "200001", "100001", "100003", "200001", "100002", "100001", "100003", "200001"]
    recorded = 0
    marac_child = _marac_child(north)
    for number, day in enumerate(days):
        happened = _local(day, 19 + number % 4, 10 * (number % 6))
        kids = [children.child(day, "100001" if day == days[-1] else urns[number % len(urns)])]
        if number % 3 == 0:
            kids.append(children.child(day, urns[(number + 2) % len(urns)]))
        if number == len(days) - 4:  # a home-educated child
            kids.append(children.child(day, "", choice=HOME_EDUCATED, authority=agencies[NORTH_LA].id))
        if number == len(days) - 2:  # a child whose school is not known: waits to be resolved
            kids.append(children.child(day, "", choice=NOT_KNOWN, authority=agencies[SOUTH_LA].id))
        if number == len(days) - 3 and marac_child is not None:  # a child of a MARAC case
            given, family, born = marac_child
            kids[0].given_name, kids[0].family_name, kids[0].date_of_birth = given, family, born
            kids[0].urn = "100001"
        data = IncidentInput(
            police_reference=f"NV/{day:%y%m%d}/{4100 + number}",
            occurred_on=day,
            occurred_time=f"{happened.astimezone(LONDON):%H:%M}",
            place=PLACES[number % len(PLACES)],
            circumstances=CIRCUMSTANCES[number % len(CIRCUMSTANCES)],
            children=kids,
        )
        with at(min(happened + timedelta(hours=2), now)):
            record_incident(officer, data)
        db.session.commit()
        recorded += 1
    return recorded


def _acknowledge(users: dict[str, User], now: datetime) -> int:
    """Key adults acknowledge what was due before today (and open but leave one of today's)."""
    key_adults = {login: users[login] for login, _urn, _rank, briefed in KEY_ADULTS if briefed}
    notes = (
        "Spoke with the child at morning drop-off; class teacher aware; will check in at lunchtime.",
        "Child seemed settled; offered time with the learning mentor; parents not contacted (local policy).",
    )
    done = 0
    query = (
        select(EncompassNotification)
        .where(EncompassNotification.route == "setting")
        .order_by(EncompassNotification.due_at)
    )
    for number, notification in enumerate(db.session.scalars(query).all()):
        if notification.due_at >= now - timedelta(hours=30):
            continue  # today's and yesterday's: left for the key adult to read
        reader = next(
            (u for u in key_adults.values() if notification.setting and _is_key_adult(u, notification.setting_id)),
            None,
        )
        if reader is None or number % 5 == 4:
            continue  # one in five older ones never acknowledged (escalated)
        with at(notification.due_at + timedelta(minutes=20 + number % 30)):
            open_notification(reader, notification)
            acknowledge_notification(reader, notification, notes[number % len(notes)])
        db.session.commit()
        done += 1
    return done


def _is_key_adult(user: User, setting_id: int | None) -> bool:
    from marac.access import key_adult_setting_ids

    return setting_id in key_adult_setting_ids(user)
