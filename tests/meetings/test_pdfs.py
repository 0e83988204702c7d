"""The meeting's PDF papers: the marking on every page, each agency's pack holding only what it may see and only its
own research, refusals for those who may not see the meeting, and every download audited."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marac import db, pdf
from marac.access import Role, acting_offline
from marac.audit.models import AuditEvent
from marac.cases.models import Case, Referral
from marac.meetings.models import (
    AgendaItem,
    Meeting,
    ResearchRequest,
    ResearchStatus,
)
from marac.meetings.services import (
    add_meeting,
    add_observer,
    agree_action,
    allocate,
    local_to_utc,
    publish_agenda,
    record_attendance,
    record_discussion,
    sign_off_minutes,
)
from marac.orgs.models import Agency, AgencyKind, Area
from marac.people.models import PersonKind
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_agency, make_area, make_case, make_person, make_user

MARKING = "OFFICIAL-SENSITIVE"
VICTIM: dict[str, Any] = {
    "phones": ["+447700912345"],
    "email": "safe.contact.victim@example.org",
    "address": "14 Quietwater Lane",
    "postcode": "ZZ991AB",
    "health_notes": "Attends the community perinatal mental health clinic",
}
ROUTES = ("agenda.pdf", "research-pack.pdf", "minutes.pdf")


# --- reading the PDFs -----------------------------------------------------------------------------------------------


def pdf_pages(content: bytes, *, layout: bool = True) -> list[str]:
    """The text of each page (pdftotext; pages end with a form feed)."""
    command = ["pdftotext", *(["-layout"] if layout else []), "-enc", "UTF-8", "-", "-"]
    out = subprocess.run(command, input=content, capture_output=True, check=True).stdout.decode("utf-8")
    pages = out.split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def squashed(content: bytes) -> str:
    """All the PDF's text without any whitespace, so wrapped values can still be found."""
    return re.sub(r"\s+", "", "".join(pdf_pages(content, layout=False)))


def has(content: bytes, value: str) -> bool:
    """Whether a value appears anywhere in the PDF's text (whitespace ignored)."""
    return re.sub(r"\s+", "", value) in squashed(content)


# --- the world ------------------------------------------------------------------------------------------------------


@dataclass
class World:
    """An area with police, housing, health and a council MARAC team; one published meeting."""

    area: Area
    police: Agency
    housing: Agency
    health: Agency
    coordinator: Account
    police_rep: Account
    housing_rep: Account
    health_rep: Account
    meeting: Meeting
    cases: list[Case]

    def request(self, case: Case, agency: Agency) -> ResearchRequest:
        """The research request to `agency` about `case` at the meeting."""
        found = db.session.scalar(
            select(ResearchRequest)
            .join(AgendaItem, AgendaItem.id == ResearchRequest.agenda_item_id)
            .where(AgendaItem.case_id == case.id, ResearchRequest.agency_id == agency.id)
        )
        assert found is not None
        return found

    def url(self, document: str) -> str:
        """The download address of one of the meeting's papers."""
        return f"/meetings/{self.meeting.public_id}/{document}"


def accepted_case(area: Area, agency: Agency, **victim: Any) -> Case:
    """An open case with a victim and a perpetrator, accepted for MARAC."""
    perpetrator = make_person(PersonKind.PERPETRATOR, gender="Male", health_notes=None)
    case = make_case(area=area, agency=agency, victim=make_person(**victim), perpetrator=perpetrator)
    db.session.add(Referral(case_id=case.id, decision="accepted", decided_at=db.utcnow(), submitted_at=db.utcnow()))
    db.session.commit()
    return case


def build_world(cases: int, *, publish: bool = True) -> World:
    """A meeting next week with `cases` accepted cases allocated (the first with known victim details)."""
    area = make_area()
    police = make_agency(AgencyKind.POLICE, areas=[area])
    housing = make_agency(AgencyKind.HOUSING, areas=[area])
    health = make_agency(AgencyKind.HEALTH, areas=[area])
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area])
    coordinator = make_user(Role.COORDINATOR, agency=council, areas=[area])
    made = [accepted_case(area, council, **(VICTIM if n == 0 else {})) for n in range(cases)]
    starts = local_to_utc(db.london_today() + timedelta(days=7), time(10, 0))
    with acting_offline([coordinator.user]):
        meeting = add_meeting(coordinator.user, area, starts, length_minutes=480, venue="Town Hall", call_details="")
        for case in made:
            allocate(coordinator.user, meeting, case, minutes=10)
        if publish:
            publish_agenda(coordinator.user, meeting)
    db.session.commit()
    police_rep, housing_rep, health_rep = (
        make_user(Role.AGENCY_REP, agency=a, areas=[area]) for a in (police, housing, health)
    )
    return World(area, police, housing, health, coordinator, police_rep, housing_rep, health_rep, meeting, made)


def download(client: FlaskClient, clock: FakeClock, account: Account, url: str) -> Any:
    """Sign in as `account` in a browser of their own and GET `url`."""
    browser = client.application.test_client()
    login_as(browser, account, clock)
    return browser.get(url)


def pdf_events(meeting: Meeting, document: str, account: Account) -> list[AuditEvent]:
    """The audited downloads of one paper of the meeting by one user."""
    query = select(AuditEvent).where(
        AuditEvent.action == "meeting.pdf",
        AuditEvent.object_id == meeting.public_id,
        AuditEvent.actor_user_id == account.user.id,
    )
    return [e for e in db.session.scalars(query) if (e.details or {}).get("document") == document]


# --- the agenda -----------------------------------------------------------------------------------------------------


def test_every_page_of_a_40_case_agenda_carries_the_marking_and_page_x_of_y(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = build_world(40)

    response = download(client, clock, world.coordinator, world.url("agenda.pdf"))

    assert response.status_code == 200
    pages = pdf_pages(response.data)
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        lines = [line for line in text.splitlines() if line.strip()]
        assert MARKING in lines[0], f"page {number}: no marking at the top"
        assert any(MARKING in line for line in lines[-2:]), f"page {number}: no marking at the bottom"
        assert f"Page {number} of {len(pages)}" in text
        assert world.meeting.reference in text
    every = "".join(pages)
    assert all(case.reference in every for case in world.cases)
    assert "Generated by" in pages[0]
    assert world.coordinator.user.display_name in pages[0]


def test_agenda_download_is_a_pdf_attachment_and_audited(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    world = build_world(2)

    response = download(client, clock, world.housing_rep, world.url("agenda.pdf"))

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert response.headers["Content-Disposition"] == f'attachment; filename="{world.meeting.reference}-agenda.pdf"'
    assert "no-store" in response.headers["Cache-Control"]
    assert len(pdf_events(world.meeting, "agenda", world.housing_rep)) == 1


# --- research packs -------------------------------------------------------------------------------------------------


def test_housing_pack_has_none_of_the_victims_safe_contact_address_or_health_but_police_pack_has_the_phone(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = build_world(2)

    housing = download(client, clock, world.housing_rep, world.url("research-pack.pdf"))
    police = download(client, clock, world.police_rep, world.url("research-pack.pdf"))

    assert housing.status_code == police.status_code == 200
    assert has(housing.data, world.cases[0].reference)
    for value in ("07700 912345", VICTIM["email"], VICTIM["address"], "ZZ99 1AB", VICTIM["health_notes"]):
        assert not has(housing.data, value), f"housing pack shows {value}"
    assert has(housing.data, "Restricted")
    assert has(police.data, "07700 912345")
    assert has(police.data, VICTIM["address"])
    assert not has(police.data, VICTIM["health_notes"])
    assert len(pdf_events(world.meeting, "research_pack", world.housing_rep)) == 1


def test_health_pack_has_the_health_detail_and_housing_pack_does_not(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = build_world(1)

    health = download(client, clock, world.health_rep, world.url("research-pack.pdf"))
    housing = download(client, clock, world.housing_rep, world.url("research-pack.pdf"))

    assert has(health.data, VICTIM["health_notes"])
    assert not has(health.data, "07700 912345")
    assert not has(housing.data, VICTIM["health_notes"])


def test_a_pack_holds_only_its_own_agencys_research_answers(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    world = build_world(2)
    police_answer = world.request(world.cases[0], world.police)
    police_answer.facts = "Police hold eleven call-outs to the address since March"
    police_answer.opinion = "Police view: risk is escalating"
    police_answer.status = ResearchStatus.ANSWERED.value
    housing_answer = world.request(world.cases[0], world.housing)
    housing_answer.facts = "Housing hold a tenancy warning on the perpetrator"
    housing_answer.status = ResearchStatus.ANSWERED.value
    db.session.commit()

    housing = download(client, clock, world.housing_rep, world.url("research-pack.pdf"))
    police = download(client, clock, world.police_rep, world.url("research-pack.pdf"))

    assert has(housing.data, "Housing hold a tenancy warning on the perpetrator")
    assert not has(housing.data, "eleven call-outs")
    assert not has(housing.data, "risk is escalating")
    assert has(police.data, "eleven call-outs")
    assert not has(police.data, "tenancy warning")
    assert has(housing.data, f"Research pack: {world.housing.name}")


def test_an_agency_without_requests_gets_a_pack_that_says_so(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    world = build_world(1, publish=False)

    response = download(client, clock, world.coordinator, world.url("research-pack.pdf"))

    assert response.status_code == 200
    assert has(response.data, "Your agency has no research requests for this meeting")
    assert not has(response.data, world.cases[0].reference)


# --- minutes --------------------------------------------------------------------------------------------------------


def test_minutes_pdf_before_minutes_are_recorded_is_refused_with_a_reason(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = build_world(1)

    response = download(client, clock, world.coordinator, world.url("minutes.pdf"))

    assert response.status_code == 409
    assert "Minutes have not been recorded for this meeting yet" in response.get_data(as_text=True)
    assert pdf_events(world.meeting, "minutes", world.coordinator) == []


def record_minutes(world: World, clock: FakeClock, *, every_agency: bool = False) -> None:
    """The meeting (a day ago) heard the first case: its discussion, an action, attendance and an observer."""
    clock.current = world.meeting.starts_at + timedelta(days=1)
    coordinator = world.coordinator.user
    item = next(i for i in world.meeting.items if i.case_id == world.cases[0].id)
    with acting_offline([coordinator]):
        record_discussion(
            coordinator,
            item,
            "She wants the locks changed and to stay in her home",
            "Perpetrator due for release on licence next month",
            "Partners agreed the risk remains high after the latest incident",
        )
        agree_action(
            coordinator,
            item,
            agency=world.housing,
            owner=world.housing_rep.user,
            description="Fit sanctuary locks at the victim's home",
            due_on=date(2026, 12, 16),
        )
        record_attendance(coordinator, world.meeting, world.police, "present", "DS Ray, Public Protection", None)
        record_attendance(coordinator, world.meeting, world.health, "apologies", None, True)
        if every_agency:
            for agency in world.area.agencies:
                if agency.id not in {world.police.id, world.health.id}:
                    record_attendance(coordinator, world.meeting, agency, "absent", None, None)
        add_observer(coordinator, world.meeting, "Sam Student", "Testvale University", "Social work placement", True)
    db.session.commit()


def test_draft_minutes_show_the_discussion_actions_attendance_and_say_not_signed(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = build_world(2)
    record_minutes(world, clock)

    # Drafts stay with the area's coordinators and chairs until the signed minutes are distributed.
    response = download(client, clock, world.coordinator, world.url("minutes.pdf"))

    assert response.status_code == 200
    content = response.data
    for text in (
        "DRAFT - not signed",
        world.cases[0].reference,
        "the risk remains high after the latest incident",
        "due for release on licence",
        "wants the locks changed",
        "Fit sanctuary locks at the victim's home",
        world.housing_rep.user.display_name,
        "16 Dec 2026",
        "DS Ray",
        "Information sent beforehand",
        "Sam Student",
        "Testvale University",
    ):
        assert has(content, text), f"minutes lack {text!r}"
    assert not has(content, world.cases[1].reference)  # listed but not heard
    assert all(MARKING in page for page in pdf_pages(content))
    assert len(pdf_events(world.meeting, "minutes", world.coordinator)) == 1


def test_signed_minutes_show_the_version_and_who_signed(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    world = build_world(1)
    record_minutes(world, clock, every_agency=True)
    chair = make_user(Role.CHAIR, agency=world.police, areas=[world.area])
    with acting_offline([chair.user]):
        signed = sign_off_minutes(chair.user, world.meeting)
    db.session.commit()

    response = download(client, clock, world.coordinator, world.url("minutes.pdf"))

    assert has(response.data, f"Signed version 1, signed by {chair.user.display_name}")
    assert has(response.data, signed.digest[:16])
    assert not has(response.data, "DRAFT")


# --- refusals -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("document", ROUTES)
def test_someone_who_may_not_see_the_meeting_is_told_not_found_and_it_is_audited(
    app: Flask, client: FlaskClient, clock: FakeClock, document: str
) -> None:
    world = build_world(1)
    world.meeting.minutes_version = 1
    db.session.commit()
    outsider = make_user(Role.AGENCY_REP, agency=make_agency(AgencyKind.HOUSING))

    response = download(client, clock, outsider, world.url(document))

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    denied = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "meeting.view",
            AuditEvent.outcome == "denied",
            AuditEvent.object_id == world.meeting.public_id,
            AuditEvent.actor_user_id == outsider.user.id,
        )
    ).all()
    assert len(denied) == 1
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "meeting.pdf")) is None


@pytest.mark.parametrize("document", ROUTES)
def test_a_member_agency_cannot_download_papers_before_the_agenda_is_published(
    app: Flask, client: FlaskClient, clock: FakeClock, document: str
) -> None:
    world = build_world(1, publish=False)

    response = download(client, clock, world.police_rep, world.url(document))

    assert response.status_code == 404


def test_a_user_without_meeting_access_is_refused_before_anything_is_read(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    world = build_world(1)
    referrer = make_user(Role.REFERRER, agency=world.police, areas=[world.area])

    response = download(client, clock, referrer, world.url("agenda.pdf"))

    assert response.status_code == 403


def test_when_every_pdf_slot_stays_busy_the_user_is_asked_to_try_again(
    settings: dict[str, Any], app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    app.config["MARAC_PDF_WAIT_SECONDS"] = 0.01
    world = build_world(1)
    login_as(client, world.coordinator, clock)
    held = [pdf._slots.acquire(timeout=1) for _ in range(pdf.CONCURRENT_RENDERS)]
    try:
        response = client.get(world.url("agenda.pdf"))
    finally:
        for _ in held:
            pdf._slots.release()

    assert response.status_code == 503
    assert "The document service is busy: try again in a minute" in response.get_data(as_text=True)
    assert pdf_events(world.meeting, "agenda", world.coordinator) == []


def test_start_times_follow_the_time_budgeted_for_each_case(app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    world = build_world(3)
    items = sorted(world.meeting.items, key=lambda i: i.position)
    items[0].minutes_budget = 25
    db.session.commit()

    response = download(client, clock, world.coordinator, world.url("agenda.pdf"))

    lines = [line.split() for line in pdf_pages(response.data)[0].splitlines() if "MC-" in line]
    times = {words[2]: words[1] for words in lines}
    assert times[items[0].case.reference] == "10:00-10:25"
    assert times[items[1].case.reference] == "10:25-10:35"
    assert times[items[2].case.reference] == "10:35-10:45"
