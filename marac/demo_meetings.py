"""Demo meetings: an area's fortnightly pattern, three past meetings heard, minuted, signed (two distributed) with
their actions, a published upcoming agenda with some research answered, and referrals waiting for a meeting. Uses
the real services, run at the moments they happened by moving the app's clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import select

from marac import db
from marac.access import acting_offline
from marac.auth.models import User
from marac.cases.models import Case, CaseStatus, Referral
from marac.meetings import services
from marac.meetings import services as minutes_services
from marac.meetings.models import Meeting, ResearchRequest
from marac.orgs.models import Agency, Area

#: Cases on each past meeting's agenda, on the upcoming one and on the one after.
PAST_CASES, UPCOMING_CASES, NEXT_CASES = 6, 12, 2
VOICES = (
    "She wants the locks changed and is frightened he will come back when he is released.",
    "She does not want police involvement but agrees to stay in contact with the IDVA.",
    "She is worried about the children's contact arrangements at the weekend.",
)
RISKS = (
    "Escalating threats by text; recent strangulation; separation in the last month.",
    "Perpetrator due for release; breach of bail conditions twice; child witnessed the last incident.",
    "Financial control and isolation from family; pregnancy.",
)
ACTIONS = (
    ("Northvale Police", "Place a marker on the address and brief the neighbourhood team", 7),
    ("Northvale Homes", "Fit additional locks and a door camera through the sanctuary scheme", 14),
    ("Northvale Children's Services", "Complete a strategy discussion for the children", 5),
    ("Northvale IDVA Service", "Review the safety plan with the victim after the court date", 21),
    ("Northvale Health NHS Trust", "Flag the record and tell the GP and health visitor", 10),
)


@dataclass
class MeetingStats:
    """What was seeded (counts only)."""

    meetings: int = 0
    heard: int = 0
    actions: int = 0
    research_answers: int = 0
    waiting: int = 0


@contextmanager
def at(moment: datetime) -> Iterator[None]:
    """Run services as if it were `moment` (the app's injectable clock), then go back to real time."""
    before = current_app.config.get("MARAC_CLOCK")
    current_app.config["MARAC_CLOCK"] = lambda: moment
    try:
        yield
    finally:
        current_app.config["MARAC_CLOCK"] = before


def seed_meetings(
    area: Area, users: dict[str, User], agencies: dict[str, Agency], accepted: list[Case]
) -> MeetingStats:
    """Meetings for `area`: a pattern, past meetings with signed minutes and actions, a published upcoming agenda
    built from `accepted` referrals, the next agenda being built, and the rest waiting for a meeting."""
    stats = MeetingStats()
    now, today = db.utcnow(), db.london_today()
    coordinator, chair = users["coordinator"], users["chair"]
    with acting_offline(users.values()):
        start = today - timedelta(days=49)
        start += timedelta(days=(3 - start.weekday()) % 7)  # a Thursday
        with at(now - timedelta(days=56)):
            services.save_pattern(coordinator, area, _pattern(start, chair))
        services.generate_meetings(area, today=today)
        meetings = list(
            db.session.scalars(select(Meeting).where(Meeting.area_id == area.id).order_by(Meeting.starts_at))
        )
        past = [m for m in meetings if m.starts_at < now - timedelta(days=1)][-3:]
        used: set[int] = set()
        for number, meeting in enumerate(past):
            batch = _heard_cases(area, coordinator, meeting, used)
            _hold(meeting, batch, users, agencies, stats, distribute=number < len(past) - 1)
        upcoming = _future(area, now)[:2]
        if upcoming:
            _publish(upcoming[0], accepted[:UPCOMING_CASES], coordinator, now)
            stats.research_answers += _answer_some(upcoming[0], users, now)
        if len(upcoming) > 1:
            with at(now):
                for case in accepted[UPCOMING_CASES : UPCOMING_CASES + NEXT_CASES]:
                    services.allocate(coordinator, upcoming[1], case)
        stats.waiting = max(0, len(accepted) - UPCOMING_CASES - NEXT_CASES)
        stats.meetings = len(past) + len(upcoming)
    db.session.flush()
    return stats


def _pattern(start: date, chair: User) -> dict[str, Any]:
    return {
        "frequency": "fortnightly",
        "weekday": 3,
        "week_of_month": None,
        "starts_on": start,
        "start_time": time(10, 0),
        "length_minutes": 150,
        "case_limit": 15,
        "minutes_per_case": 10,
        "research_due_days": 2,
        "venue": "Northvale Civic Centre, Committee Room 2",
        "call_details": "Video call: link in the calendar invite from the MARAC team",
        "chair": chair,
    }


def _future(area: Area, now: datetime) -> list[Meeting]:
    return list(
        db.session.scalars(
            select(Meeting)
            .where(Meeting.area_id == area.id, Meeting.starts_at > now + timedelta(days=2))
            .order_by(Meeting.starts_at)
        )
    )


def _heard_cases(area: Area, coordinator: User, meeting: Meeting, used: set[int]) -> list[Case]:
    """Open cases referred before the meeting (most recent first), given the accepted referral an agenda needs."""
    before = services.to_local(meeting.starts_at).date() - timedelta(days=3)
    cases = list(
        db.session.scalars(
            select(Case)
            .where(Case.area_id == area.id, Case.status == CaseStatus.OPEN.value, Case.referred_on <= before)
            .where(~select(Referral.id).where(Referral.case_id == Case.id).exists())
            .order_by(Case.referred_on.desc())
            .limit(PAST_CASES)
        )
    )
    for case in cases:
        decided = datetime.combine(case.referred_on + timedelta(days=1), time(12, 0), tzinfo=UTC)
        db.session.add(
            Referral(
                case_id=case.id, step="check", decision="accepted", decided_by_id=coordinator.id, decided_at=decided
            )
        )
        used.add(case.id)
    db.session.flush()
    return list(reversed(cases))


def _publish(meeting: Meeting, cases: list[Case], coordinator: User, moment: datetime) -> None:
    with at(min(moment, meeting.starts_at - timedelta(days=7))):
        for case in cases:
            services.allocate(coordinator, meeting, case)
        services.publish_agenda(coordinator, meeting)


def _answer_some(meeting: Meeting, users: dict[str, User], moment: datetime) -> int:
    """Representatives answer part of their research (the rest shows as outstanding)."""
    answered = 0
    for login in ("agency-rep", "police-rep"):
        rep = users.get(login)
        if rep is None:
            continue
        requests = db.session.scalars(
            select(ResearchRequest)
            .where(ResearchRequest.agency_id == rep.agency_id)
            .join(ResearchRequest.item)
            .where(ResearchRequest.item.has(meeting_id=meeting.id))
        ).all()
        with at(min(moment, meeting.starts_at - timedelta(hours=1))):
            for number, request in enumerate(requests[: len(requests) * 2 // 3]):
                nothing = number % 3 == 2
                services.answer_research(
                    rep,
                    request,
                    facts=None if nothing else "Known since 2024: two attendances recorded, last one in the spring.",
                    opinion=None if nothing else "Contact has become more frequent; we think the risk is rising.",
                    withheld=None,
                    withheld_reason=None,
                    nothing_held=nothing,
                )
                answered += 1
    return answered


def _hold(
    meeting: Meeting,
    cases: list[Case],
    users: dict[str, User],
    agencies: dict[str, Agency],
    stats: MeetingStats,
    *,
    distribute: bool,
) -> None:
    """Publish, research, hold, minute, sign and (if asked) distribute one past meeting."""
    coordinator, chair = users["coordinator"], users["chair"]
    _publish(meeting, cases, coordinator, meeting.starts_at)
    stats.research_answers += _answer_some(meeting, users, meeting.starts_at)
    with at(meeting.starts_at + timedelta(hours=2)):
        for number, agency in enumerate(services.member_agencies(meeting)):
            apologies = number % 5 == 4
            minutes_services.record_attendance(
                coordinator,
                meeting,
                agency,
                "apologies" if apologies else "present",
                None if apologies else f"MARAC representative, {agency.name}",
                True if apologies else None,
            )
        minutes_services.add_observer(
            coordinator, meeting, "Student social worker", "Northvale University", "Placement learning", True
        )
        for number, item in enumerate(services.listed_items(meeting)):
            minutes_services.record_discussion(
                coordinator,
                item,
                VOICES[number % len(VOICES)],
                RISKS[number % len(RISKS)],
                "Information shared by each agency; the risks above agreed; actions below agreed by the owners.",
            )
            for name, text, days in ACTIONS[number % 3 : number % 3 + 2]:
                minutes_services.agree_action(
                    coordinator,
                    item,
                    agency=agencies[name],
                    owner=None,
                    description=text,
                    due_on=meeting.starts_at.date() + timedelta(days=days),
                )
                stats.actions += 1
            stats.heard += 1
    with at(meeting.starts_at + timedelta(hours=5)):
        minutes_services.sign_off_minutes(chair, meeting)
    if distribute:
        with at(meeting.starts_at + timedelta(days=1, hours=2)):
            minutes_services.distribute_minutes(coordinator, meeting)
