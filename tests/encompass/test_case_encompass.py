"""The coordinator's view of the Operation Encompass notifications for the children on a MARAC case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select

from marac import db
from marac.access import Role, acting_offline
from marac.audit.models import AuditEvent
from marac.cases.models import Case, PartyRole
from marac.cases.services import add_party, load_case_for
from marac.encompass.models import EncompassNotification
from marac.encompass.services.monitoring import case_notification_count
from marac.orgs.models import Agency, Area
from marac.people.models import Relationship
from tests.conftest import FakeClock
from tests.encompass.factories import (
    make_child,
    make_incident_with_children,
    make_key_adult,
    make_local_authority,
    make_setting,
)
from tests.factories import Account, login_as, make_agency, make_area, make_case, make_disclosure, make_user

DUE = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)


@dataclass
class World:
    """A case with two children, each at their own school and each on the same police incident; another child's
    notification that has nothing to do with the case."""

    case: Case
    coordinator: Account
    notifications: list[EncompassNotification]
    area: Area
    police: Agency


@pytest.fixture
def world(app: Flask) -> World:
    area = make_area()
    police = make_agency(areas=[area])
    authority = make_local_authority(area)
    oakfield, riverside = (
        make_setting(authority, "Oakfield Primary School"),
        make_setting(authority, "Riverside Academy"),
    )
    case = make_case(area=area, agency=police)
    maisie = make_child(given_name="Maisie", family_name="Thornbury")
    oliver_on_case = make_child(given_name="Oliver", family_name="Thornbury")
    add_party(None, case, maisie, PartyRole.CHILD, Relationship.CHILD, same_household=True)
    add_party(None, case, oliver_on_case, PartyRole.CHILD, Relationship.CHILD, same_household=True)
    oliver_police = make_child(given_name="Oliver", family_name="Thornbury")  # police's own record of him
    oliver_police.identity_key = oliver_on_case.identity_key  # confirmed to be the same child
    db.session.commit()
    sent = make_incident_with_children(
        police,
        [(maisie, oakfield), (oliver_police, riverside)],
        occurred_at=DUE.replace(hour=0),
        due_at=DUE,
        reference="40055555/26",
    )
    acknowledger = make_key_adult(oakfield)
    notice = sent.notifications[0]
    notice.acknowledged_at, notice.acknowledged_by_id = DUE.replace(hour=9), acknowledger.user.id
    notice.support_note = "Spoke to Maisie at break; she is staying with her grandmother"
    unrelated = make_child(given_name="Harriet", family_name="Pennington")
    make_incident_with_children(police, [(unrelated, oakfield)], occurred_at=DUE.replace(hour=1), due_at=DUE)
    coordinator = make_user(Role.COORDINATOR, agency=make_agency(areas=[area]), areas=[area])
    return World(case, coordinator, sent.notifications, area, police)


def _path(case: Case) -> str:
    return f"/cases/{case.public_id}/encompass"


def test_coordinator_sees_both_childrens_notifications_on_the_case(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.coordinator, clock)
    response = client.get(_path(world.case))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Maisie Thornbury" in page
    assert "Oliver Thornbury" in page
    assert "Oakfield Primary School" in page
    assert "Riverside Academy" in page
    assert page.count("40055555/26") == 2
    assert "Spoke to Maisie at break; she is staying with her grandmother" in page
    assert "Not acknowledged" in page
    assert "Harriet Pennington" not in page
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "encompass.case_view")).one()
    assert (event.object_id, event.details) == (world.case.public_id, {"n": 2})


def test_case_page_links_to_the_notifications_with_their_count(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.coordinator, clock)
    page = client.get(f"/cases/{world.case.public_id}").get_data(as_text=True)
    assert f'href="{_path(world.case)}">Operation Encompass notifications (2)</a>' in page


def test_count_is_one_query_whatever_the_number_of_children(world: World) -> None:
    coordinator = world.coordinator.user
    for _ in range(3):  # more children on the case, one notification each
        child = make_child()
        add_party(None, world.case, child, PartyRole.CHILD, Relationship.CHILD, same_household=True)
        setting = world.notifications[0].setting
        make_incident_with_children(world.police, [(child, setting)], occurred_at=DUE.replace(hour=2), due_at=DUE)
    with acting_offline([coordinator]):
        view = load_case_for(coordinator, world.case.public_id)
        assert view is not None
        statements: list[str] = []
        connection = db.session.connection()
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(connection, "before_cursor_execute", listener)
        try:
            count = case_notification_count(coordinator, view)
        finally:
            event.remove(connection, "before_cursor_execute", listener)
    assert count == 5
    assert len(statements) == 1


def test_no_link_when_the_case_has_no_notifications(world: World, client: FlaskClient, clock: FakeClock) -> None:
    other = make_case(area=world.area, agency=world.police)
    add_party(None, other, make_child(), PartyRole.CHILD, Relationship.CHILD, same_household=True)
    login_as(client, world.coordinator, clock)
    page = client.get(f"/cases/{other.public_id}").get_data(as_text=True)
    assert "Operation Encompass notifications" not in page
    assert _path(other) not in page


def test_no_link_for_an_agency_the_children_were_not_disclosed_to(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    referrer = make_user(Role.REFERRER, agency=world.police, areas=[world.area])
    housing, health = make_agency(areas=[world.area]), make_agency(areas=[world.area])
    make_disclosure(world.case, housing, referrer.user, parts=["summary"])
    make_disclosure(world.case, health, referrer.user)  # the default parts include the household
    narrow = make_user(Role.AGENCY_REP, agency=housing, areas=[world.area])
    login_as(client, narrow, clock)
    response = client.get(f"/cases/{world.case.public_id}")
    assert response.status_code == 200  # the case summary was shared with them
    assert "Operation Encompass notifications" not in response.get_data(as_text=True)
    assert client.get(_path(world.case)).status_code == 404

    wide = client.application.test_client()
    login_as(wide, make_user(Role.AGENCY_REP, agency=health, areas=[world.area]), clock)
    page = wide.get(f"/cases/{world.case.public_id}").get_data(as_text=True)
    assert f'href="{_path(world.case)}">Operation Encompass notifications (2)</a>' in page
    assert wide.get(_path(world.case)).status_code == 200


def test_someone_without_a_relationship_to_the_case_gets_404(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    outsider = make_user(Role.COORDINATOR, agency=make_agency(), areas=[make_area()])
    login_as(client, outsider, clock)
    response = client.get(_path(world.case))
    assert response.status_code == 404
    assert "Maisie Thornbury" not in response.get_data(as_text=True)
    denied = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "case.view", AuditEvent.outcome == "denied")
    ).all()
    assert [e.object_id for e in denied] == [world.case.public_id]


def test_key_adult_cannot_open_the_case_page(world: World, client: FlaskClient, clock: FakeClock) -> None:
    school = world.notifications[0].setting
    assert school is not None
    login_as(client, make_key_adult(school), clock)
    assert client.get(_path(world.case)).status_code == 403
