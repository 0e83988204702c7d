"""Every route declares a permission, and each role reaches exactly the pages tests/data/route_matrix.csv says."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marac import db
from marac.access import Role, acting_offline, route_permission
from marac.actions.models import Action
from marac.audit.models import AuditEvent
from marac.sharing.models import BreakGlassGrant
from tests.conftest import FakeClock
from tests.factories import login_as, make_area, make_case, make_safety_plan, make_user

MATRIX_FILE = Path(__file__).parent / "data" / "route_matrix.csv"
ANONYMOUS = "anonymous"
COLUMNS = [r.value for r in Role] + [ANONYMOUS]

#: GET routes the matrix does not cover, and why.
NOT_IN_MATRIX = {
    "web.govuk_images": "public GOV.UK Frontend images read from disk; no personal data, no sign-in",
    "web.govuk_script": "public GOV.UK Frontend JavaScript read from disk; no personal data, no sign-in",
    "web.static": "the platform's public compiled CSS/JS read from disk; no personal data, no sign-in",
}
#: Routes with a path parameter that the matrix checks with a sample object made in the test.
SAMPLE_OBJECTS = (
    "admin.area",
    "admin.agency",
    "admin.user",
    "cases.view",
    "cases.add_person",
    "people.view",
    "people.matches",
    "people.edit",
    "sharing.disclose",
    "sharing.must_not_receive",
    "sharing.break_glass",
    "sharing.dpo_case_disclosures",
    "sharing.dpo_review",
    "referrals.task_list",
    "referrals.assessment",
    "referrals.details",
    "referrals.check",
    "casework.sign_off",
    "casework.decide",
    "casework.plans_page",
    "casework.new_plan",
    "casework.review_plan",
    "casework.new_trigger",
    "cases.add_incident",
    "meetings.pattern",
    "meetings.add",
    "meetings.view",
    "meetings.move",
    "meetings.cancel",
    "meetings.invite",
    "meetings.agenda",
    "meetings.defer_item",
    "meetings.agenda_pdf",
    "meetings.research_pack_pdf",
    "meetings.minutes_pdf",
    "meetings.research_requests",
    "meetings.answer_research",
    "meetings.research_grid",
    "meetings.record",
    "meetings.sign_off",
    "meetings.minutes",
    "meetings.case_history",
    "actions.view",
    "actions.meeting_actions",
    "encompass.setting",
    "encompass.calendar",
    "encompass.key_adult",
    "encompass.authority",
    "encompass.notification",
    "encompass.case_page",
    "encompass.incident",
    "encompass.correct_incident",
    "encompass.resolve",
)


def unmarked_routes(app: Flask) -> list[str]:
    """Endpoints whose view declares no permission (neither @require nor @public)."""
    return sorted({rule.endpoint for rule in app.url_map.iter_rules() if route_permission(app, rule.endpoint) is None})


def read_matrix() -> list[dict[str, str]]:
    """The expected status of every GET route for every role, from the data file."""
    with MATRIX_FILE.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows, "the matrix is empty"
    assert list(rows[0]) == ["endpoint", "path", "method", *COLUMNS], "unexpected matrix columns"
    return rows


def get_routes(app: Flask) -> set[tuple[str, str]]:
    """(endpoint, rule) for every route that answers GET."""
    return {(rule.endpoint, rule.rule) for rule in app.url_map.iter_rules() if "GET" in (rule.methods or set())}


def denied_events(user_id: int | None, endpoint: str) -> list[AuditEvent]:
    """Audit events recording a refusal of `endpoint` for this user."""
    query = select(AuditEvent).where(
        AuditEvent.action == "route.denied",
        AuditEvent.outcome == "denied",
        AuditEvent.object_id == endpoint,
        AuditEvent.actor_user_id == user_id,
    )
    return list(db.session.scalars(query))


def test_every_route_declares_a_permission(app: Flask) -> None:
    assert len(list(app.url_map.iter_rules())) > 10
    assert unmarked_routes(app) == []


def test_route_without_marker_is_reported_and_refused_even_to_admin(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    app.add_url_rule("/unmarked", "unmarked", lambda: "UNMARKED VIEW BODY")
    assert unmarked_routes(app) == ["unmarked"]

    login_as(client, make_user(Role.ADMIN), clock)
    response = client.get("/unmarked")
    assert response.status_code == 403
    page = response.get_data(as_text=True)
    assert "UNMARKED VIEW BODY" not in page
    assert "You do not have access to this page" in page


def test_route_without_marker_is_refused_to_anonymous_visitor(app: Flask, client: FlaskClient) -> None:
    app.add_url_rule("/unmarked", "unmarked", lambda: "UNMARKED VIEW BODY")
    response = client.get("/unmarked")
    assert response.status_code == 403
    assert "UNMARKED VIEW BODY" not in response.get_data(as_text=True)


def test_every_get_route_has_expectations_in_matrix(app: Flask) -> None:
    listed = {(row["endpoint"], row["path"]) for row in read_matrix()}
    routes = {(endpoint, rule) for endpoint, rule in get_routes(app) if endpoint not in NOT_IN_MATRIX}
    assert routes - listed == set(), "add these GET routes to tests/data/route_matrix.csv"
    assert listed - routes == set(), "these matrix rows name routes that no longer exist"
    with_parameters = {endpoint for endpoint, rule in routes if "<" in rule}
    assert with_parameters <= set(SAMPLE_OBJECTS), "give these routes a sample object in SAMPLE_OBJECTS"


def test_matrix_rows_are_all_get_with_status_codes() -> None:
    for row in read_matrix():
        assert row["method"] == "GET"
        assert all(row[column] in {"200", "302", "403", "404"} for column in COLUMNS), row


def _sample_meeting(area: Any) -> tuple[Any, Any, Any]:
    """A published meeting of `area` with one case on it and one agency's research request."""
    from datetime import timedelta

    from marac.meetings.models import AgendaItem, MeetingStatus, ResearchRequest
    from tests.factories import make_accepted_case, make_meeting

    meeting = make_meeting(area, db.utcnow() + timedelta(days=7))
    meeting.status, meeting.published_at = MeetingStatus.PUBLISHED.value, db.utcnow()
    item = AgendaItem(meeting_id=meeting.id, case_id=make_accepted_case(area).id, position=1)
    db.session.add(item)
    db.session.flush()
    research = ResearchRequest(agenda_item_id=item.id, agency_id=item.case.referring_agency_id)
    db.session.add(research)
    db.session.commit()
    return meeting, item, research


def _sample_encompass_setting(area: Any, user: Any) -> dict[str, str]:
    """A setting of a local authority serving `area`, with one key adult: sample ids for the settings pages."""
    from marac.encompass.models import EducationSetting, KeyAdult
    from marac.orgs.models import AgencyKind
    from tests.factories import make_agency

    authority = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area])
    setting = EducationSetting(urn="7000017", name="Matrix Sample School", local_authority_id=authority.id)
    key_adult = KeyAdult(setting=setting, user_id=user.id, rank=1)
    db.session.add_all([setting, key_adult])
    db.session.commit()
    pages = ("encompass.setting", "encompass.calendar")
    return dict.fromkeys(pages, setting.public_id) | {
        "encompass.key_adult": key_adult.public_id,
        "encompass.authority": authority.public_id,
    }


def _sample_encompass_notification(area: Any) -> str:
    """A sent notification to a school of a local authority serving `area`: its id for the key adult's page."""
    from datetime import timedelta

    from tests.encompass.factories import make_child, make_incident_with_children, make_local_authority, make_setting
    from tests.factories import make_agency

    setting = make_setting(make_local_authority(area))
    now = db.utcnow()
    sent = make_incident_with_children(
        make_agency(areas=[area]), [(make_child(), setting)], occurred_at=now - timedelta(hours=12), due_at=now
    )
    return sent.notifications[0].public_id


def _sample_encompass_unresolved() -> dict[str, str]:
    """Another force's incident with one child whose notification is unresolved (intake and resolve pages)."""
    from marac.encompass.models import EncompassChild, EncompassNotification, PoliceIncident
    from tests.encompass.factories import make_child
    from tests.factories import make_agency

    incident = PoliceIncident(police_agency_id=make_agency().id, police_reference="SAMPLE/1", occurred_at=db.utcnow())
    db.session.add(incident)
    db.session.flush()
    child = EncompassChild(incident_id=incident.id, person_id=make_child().id)
    db.session.add(child)
    db.session.flush()
    note = EncompassNotification(child_id=child.id, route="unresolved", due_at=db.utcnow())
    db.session.add(note)
    db.session.commit()
    return {
        "encompass.incident": incident.public_id,
        "encompass.correct_incident": incident.public_id,
        "encompass.resolve": note.public_id,
    }


@pytest.mark.parametrize("column", COLUMNS)
def test_role_reaches_exactly_the_routes_in_matrix(client: FlaskClient, clock: FakeClock, column: str) -> None:
    area = make_area()
    sample = make_user(Role.REFERRER, areas=[area])
    case = make_case(area=area, agency=sample.user.agency, actor=sample.user)
    with acting_offline([sample.user]):
        plan = make_safety_plan(case, sample.user)
    meeting, item, research = _sample_meeting(area)
    grant = BreakGlassGrant(case_id=case.id, user_id=sample.user.id, expires_at=db.utcnow())
    grant.reason = "Sample use of emergency access for the matrix"
    db.session.add(grant)
    action = Action(case_id=case.id, agency_id=sample.user.agency_id, due_on=date(2026, 12, 1))
    db.session.add(action)
    db.session.commit()
    ids = {
        "admin.area": area.public_id,
        "admin.agency": sample.user.agency.public_id,
        "admin.user": sample.user.public_id,
        "cases.view": case.public_id,
        "cases.add_person": case.public_id,
        "people.view": case.victim.public_id,
        "people.matches": case.victim.public_id,
        "people.edit": case.victim.public_id,
        "sharing.disclose": case.public_id,
        "sharing.must_not_receive": case.public_id,
        "sharing.break_glass": case.public_id,
        "sharing.dpo_case_disclosures": case.public_id,
        "sharing.dpo_review": grant.public_id,
        "referrals.task_list": case.public_id,
        "referrals.assessment": case.public_id,
        "referrals.details": case.public_id,
        "referrals.check": case.public_id,
        "casework.sign_off": case.public_id,
        "casework.decide": case.public_id,
        "casework.plans_page": case.public_id,
        "casework.new_plan": case.public_id,
        "casework.review_plan": case.public_id,
        "casework.new_trigger": case.public_id,
        "cases.add_incident": case.public_id,
        **{name: meeting.public_id for name in SAMPLE_OBJECTS if name.startswith("meetings.")},
        "meetings.pattern": area.public_id,
        "meetings.add": area.public_id,
        "meetings.answer_research": research.public_id,
        "meetings.case_history": case.public_id,
        "actions.view": action.public_id,
        "actions.meeting_actions": meeting.public_id,
        **_sample_encompass_setting(area, sample.user),
        "encompass.notification": _sample_encompass_notification(area),
        "encompass.case_page": case.public_id,
        **_sample_encompass_unresolved(),
    }
    user_id = None
    if column != ANONYMOUS:
        account = make_user(Role(column))
        login_as(client, account, clock)
        user_id = account.user.id

    def concrete(row: dict[str, str]) -> str:
        path = row["path"].replace("<pid:public_id>", ids.get(row["endpoint"], ""))
        return path.replace("<pid:plan_id>", plan.public_id).replace("<pid:item_id>", item.public_id)

    seen = {}
    for row in read_matrix():
        endpoint, path = row["endpoint"], concrete(row)
        before = len(denied_events(user_id, endpoint))
        response = client.get(path)
        seen[path] = response.status_code
        if response.status_code == 403:
            assert len(denied_events(user_id, endpoint)) == before + 1, f"403 on {path} left no denied audit event"
            assert "You do not have access to this page" in response.get_data(as_text=True)
        if response.status_code == 302 and column == ANONYMOUS and row[column] == "302" and endpoint != "auth.code":
            assert response.headers["Location"].startswith("/sign-in?next="), path

    expected = {concrete(row): int(row[column]) for row in read_matrix()}
    assert seen == expected
