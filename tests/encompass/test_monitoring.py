"""Monitoring for leads: exact counts on a hand-built set, by setting (worst first) and by day, only for the local
authorities the lead monitors, with no child's name on the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from marac import db
from marac.access import Role
from marac.encompass.models import EducationSetting, EncompassNotification
from marac.encompass.services import monitoring
from marac.encompass.services.monitoring import Figures, PageNotFound, delivery_figures
from marac.orgs.models import Agency, AgencyKind
from tests.conftest import FakeClock
from tests.encompass.factories import (
    make_child,
    make_incident_with_children,
    make_key_adult,
    make_lead,
    make_local_authority,
    make_setting,
)
from tests.factories import Account, login_as, make_agency, make_area

NOW = datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # Wednesday 11:00 (GMT)


def _due(day: int) -> datetime:
    return datetime(2026, 11, day, 8, 30, tzinfo=UTC)


@dataclass
class World:
    """Two local authorities with their leads; Oakfield and Riverside in the first, Hillside in the second."""

    first: Agency
    second: Agency
    lead_first: Account
    lead_second: Account
    oakfield: EducationSetting
    riverside: EducationSetting
    hillside: EducationSetting


def _one(world_police: Agency, setting: EducationSetting | None, due: datetime, **fields: object) -> None:
    """One notification due at `due`, sent the evening before unless `sent_at` is given, then `fields` set."""
    sent_at = fields.pop("sent_at", due - timedelta(hours=12))
    authority = fields.pop("authority", None)
    sent = make_incident_with_children(
        world_police,
        [(make_child(given_name="Zephyrine"), setting)],
        occurred_at=due - timedelta(hours=13),
        due_at=due,
        sent_at=sent_at,  # type: ignore[arg-type]
        local_authority=authority,  # type: ignore[arg-type]
    )
    notification: EncompassNotification = sent.notifications[0]
    for name, value in fields.items():
        setattr(notification, name, value)
    db.session.commit()


@pytest.fixture
def world(app: Flask, clock: FakeClock) -> World:
    clock.current = NOW
    area = make_area()
    police = make_agency(AgencyKind.POLICE, areas=[area])
    first, second = make_local_authority(area, "Northshire Council"), make_local_authority(area, "Southshire Council")
    oakfield, riverside = make_setting(first, "Oakfield Primary School"), make_setting(first, "Riverside Academy")
    hillside = make_setting(second, "Hillside School")
    world = World(first, second, make_lead(first), make_lead(second), oakfield, riverside, hillside)
    _one(police, oakfield, _due(23), acknowledged_at=_due(23) + timedelta(minutes=20))  # on time, acknowledged
    _one(police, oakfield, _due(24), sent_at=_due(24) + timedelta(minutes=30), escalation_level=2)  # late, unack.
    _one(police, oakfield, _due(25))  # on time, not acknowledged by 10:00
    _one(police, riverside, _due(25))  # on time, not acknowledged by 10:00
    _one(police, riverside, _due(25), sent_at=_due(25) + timedelta(hours=2))  # late at 10:30: has until 12:30
    _one(police, None, _due(24), authority=first)  # setting unknown
    _one(police, hillside, _due(24))  # the other authority's
    _one(police, oakfield, _due(20))  # before the range
    return world


def test_counts_are_exact_for_the_authoritys_notifications(world: World) -> None:
    figures = delivery_figures({world.first.id}, date(2026, 11, 23), date(2026, 11, 25))
    assert figures.totals.total == 6
    assert figures.totals.values == {
        "on_time": 3,
        "late": 2,
        "unresolved": 1,
        "acknowledged": 1,
        "unacknowledged": 3,
        "escalated": 1,
    }
    assert figures.totals.rate("late") == "33%"
    assert [(c.label, c.total, c.problems) for c in figures.by_setting] == [
        ("Oakfield Primary School", 3, 3),
        ("Riverside Academy", 2, 2),
        ("Setting unknown (Northshire Council)", 1, 1),
    ]
    days = {day: (c.total, c.values) for day, c in figures.by_day}
    assert list(days) == [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]
    assert days[date(2026, 11, 23)] == (
        1,
        {"on_time": 1, "late": 0, "unresolved": 0, "acknowledged": 1, "unacknowledged": 0, "escalated": 0},
    )
    assert days[date(2026, 11, 24)] == (
        2,
        {"on_time": 0, "late": 1, "unresolved": 1, "acknowledged": 0, "unacknowledged": 1, "escalated": 1},
    )
    assert days[date(2026, 11, 25)] == (
        3,
        {"on_time": 2, "late": 1, "unresolved": 0, "acknowledged": 0, "unacknowledged": 2, "escalated": 0},
    )


def test_a_late_notification_counts_as_unacknowledged_two_hours_after_sending(world: World, clock: FakeClock) -> None:
    clock.current = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)
    figures = delivery_figures({world.first.id}, date(2026, 11, 25), date(2026, 11, 25))
    assert figures.totals.values["unacknowledged"] == 3


def test_lead_sees_only_their_authoritys_settings_and_no_child_names(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.lead_first, clock)
    response = client.get("/encompass/monitoring?from=2026-11-23&to=2026-11-25")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Oakfield Primary School" in page
    assert "Riverside Academy" in page
    assert "Hillside School" not in page
    assert "Southshire Council" not in page
    assert "Zephyrine" not in page
    assert '<td class="govuk-table__cell govuk-table__cell--numeric">6</td>' in page

    other = client.application.test_client()
    login_as(other, world.lead_second, clock)
    page = other.get("/encompass/monitoring?from=2026-11-23&to=2026-11-25").get_data(as_text=True)
    assert "Hillside School" in page
    assert "Oakfield Primary School" not in page


def test_another_authority_in_the_query_string_is_not_found(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.lead_first, clock)
    assert client.get(f"/encompass/monitoring?authority={world.second.public_id}").status_code == 404
    response = client.get(f"/encompass/monitoring?authority={world.first.public_id}&from=2026-11-23&to=2026-11-25")
    assert response.status_code == 200


def test_bad_dates_and_long_ranges_answer_400_with_a_message(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.lead_first, clock)
    for query, message in (
        ("from=2026-02-30", "Enter the from date as a real date like 2026-11-25"),
        ("to=25/11/2026", "Enter the to date as a real date like 2026-11-25"),
        ("from=2026-11-25&to=2026-11-01", "The start date must be on or before the end date"),
        ("from=2026-01-01&to=2026-11-25", "Choose a range of 92 days or fewer"),
    ):
        response = client.get(f"/encompass/monitoring?{query}")
        assert response.status_code == 400, query
        assert message in response.get_data(as_text=True)


def test_default_range_is_the_last_seven_days(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.lead_first, clock)
    page = client.get("/encompass/monitoring").get_data(as_text=True)
    assert "Notifications due 19 November 2026 to 25 November 2026" in page
    assert '<td class="govuk-table__cell govuk-table__cell--numeric">7</td>' in page  # the 20th's included


def test_key_adult_cannot_see_monitoring(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, make_key_adult(world.oakfield), clock)
    assert client.get("/encompass/monitoring").status_code == 403


def test_police_lead_sees_the_authorities_serving_their_areas(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    from tests.factories import make_user

    area = world.first.areas[0]
    police_lead = make_user(Role.ENCOMPASS_LEAD, agency=make_agency(AgencyKind.POLICE, areas=[area]), areas=[area])
    login_as(client, police_lead, clock)
    page = client.get("/encompass/monitoring?from=2026-11-23&to=2026-11-25").get_data(as_text=True)
    assert "Oakfield Primary School" in page
    assert "Hillside School" in page


# --- the by-setting table, a page at a time ----------------------------------------------------------------------


def _acknowledged_setting(world: World, name: str, how_many: int) -> EducationSetting:
    """A setting whose notifications all went on time and were acknowledged: no problems, however many."""
    setting = make_setting(world.first, name)
    police = make_agency(AgencyKind.POLICE, areas=list(world.first.areas))
    for _ in range(how_many):
        _one(police, setting, _due(25), acknowledged_at=_due(25) + timedelta(minutes=5))
    return setting


def test_settings_are_paged_with_problems_first(world: World) -> None:
    _acknowledged_setting(world, "Meadow Infant School", 4)  # the most notifications, none of them a problem
    first = delivery_figures({world.first.id}, date(2026, 11, 23), date(2026, 11, 25), page=1, per_page=2)
    second = delivery_figures({world.first.id}, date(2026, 11, 23), date(2026, 11, 25), page=2, per_page=2)

    assert [(c.label, c.total, c.problems) for c in first.by_setting] == [
        ("Oakfield Primary School", 3, 3),
        ("Riverside Academy", 2, 2),
    ]
    assert [(c.label, c.total, c.problems) for c in second.by_setting] == [
        ("Setting unknown (Northshire Council)", 1, 1),
        ("Meadow Infant School", 4, 0),
    ]
    assert (first.settings_total, first.pages, second.first_shown) == (4, 2, 3)
    assert first.totals.total == second.totals.total == 10  # the totals are never paged
    with pytest.raises(PageNotFound):
        delivery_figures({world.first.id}, date(2026, 11, 23), date(2026, 11, 25), page=3, per_page=2)
    assert monitoring.PER_PAGE == 50


def test_page_numbers_show_first_last_and_neighbours() -> None:
    def numbers(page: int, settings: int) -> list[int | None]:
        empty = monitoring.Counts("All", 0, {})
        return Figures(date(2026, 11, 25), date(2026, 11, 25), empty, page=page, settings_total=settings).page_numbers

    assert numbers(1, 50) == [1]
    assert numbers(1, 400) == [1, 2, None, 8]
    assert numbers(5, 400) == [1, None, 4, 5, 6, None, 8]
    assert numbers(8, 400) == [1, None, 7, 8]


def test_the_page_links_keep_the_range_and_bad_page_numbers_never_fail(
    world: World, client: FlaskClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitoring, "PER_PAGE", 2)
    login_as(client, world.lead_first, clock)
    base = "/encompass/monitoring?from=2026-11-23&to=2026-11-25"

    first = client.get(base).get_data(as_text=True)
    assert "Oakfield Primary School" in first
    assert "Riverside Academy" in first
    assert "Setting unknown (Northshire Council)" not in first
    assert "Settings 1 to 2 of 3 (page 1 of 2)" in first
    assert 'href="/encompass/monitoring?page=2&amp;from=2026-11-23&amp;to=2026-11-25#by-setting" rel="next"' in first

    second = client.get(f"{base}&page=2").get_data(as_text=True)
    assert "Setting unknown (Northshire Council)" in second
    assert "Oakfield Primary School" not in second
    assert 'rel="prev"' in second
    assert 'rel="next"' not in second

    for bad in ("0", "-1", "abc", "1.5", "", "%EF%BC%92"):  # the last: a full-width digit two
        response = client.get(f"{base}&page={bad}")
        assert response.status_code == 200, bad
        assert "Settings 1 to 2 of 3 (page 1 of 2)" in response.get_data(as_text=True)
    for past in ("3", "99999999999999999999", "9" * 5000):
        assert client.get(f"{base}&page={past}").status_code == 404
