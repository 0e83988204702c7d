"""The DPO's audit trail page: filters show the matching events, bad input is explained, searches are audited."""

from __future__ import annotations

from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from marac import audit, db
from marac.access import Role
from marac.audit.models import AuditEvent
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_agency, make_user

COLUMNS = ("seq", "when", "who", "action", "object", "outcome")


class _EventTable(HTMLParser):
    """Collects the text of each cell in the events table body."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_body, self._cell = False, None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.rows.append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data + " ")


def event_rows(page: str) -> list[dict[str, str]]:
    """The events the page lists, as the DPO reads them (empty when "No events match.")."""
    parser = _EventTable()
    parser.feed(page)
    return [dict(zip(COLUMNS, row, strict=True)) for row in parser.rows if len(row) == len(COLUMNS)]


def shown_objects(client: FlaskClient, query: dict[str, str]) -> list[str]:
    """The object column of every row a search shows, newest first."""
    response = client.get("/audit/", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return [row["object"] for row in event_rows(response.get_data(as_text=True))]


class Scene:
    """Two practitioners in two agencies, and case events on three days in November."""

    def __init__(self, clock: FakeClock) -> None:
        self.alice = make_user(Role.IDVA, agency=make_agency(name="Alpha Housing"))
        self.bob = make_user(Role.REFERRER, agency=make_agency(name="Beta Police"))
        now = clock.current
        for when, actor, action, obj_type, obj_id, outcome in [
            (datetime(2026, 11, 2, 10, tzinfo=UTC), self.alice, "case.viewed", "case", "case-1", "success"),
            (datetime(2026, 11, 10, 23, 30, tzinfo=UTC), self.bob, "case.exported", "case", "case-2", "denied"),
            (datetime(2026, 11, 20, 8, tzinfo=UTC), self.bob, "case.viewed", "referral", "ref-9", "failure"),
        ]:
            clock.current = when
            audit.record(action, actor=actor.user, object_type=obj_type, object_id=obj_id, outcome=outcome)
        clock.current = now
        db.session.commit()


@pytest.fixture
def scene(client: FlaskClient, clock: FakeClock) -> Scene:
    """The scene, with a DPO signed in."""
    data = Scene(clock)
    login_as(client, make_user(Role.DPO), clock)
    return data


def test_dpo_sees_events_newest_first_with_who_and_outcome(client: FlaskClient, scene: Scene) -> None:
    page = client.get("/audit/", query_string={"action": "case.viewed"}).get_data(as_text=True)
    rows = event_rows(page)
    assert [r["object"] for r in rows] == ["referral ref-9", "case case-1"]
    assert scene.bob.email in rows[0]["who"]
    assert "Beta Police (referrer)" in rows[0]["who"]
    assert rows[0]["outcome"] == "Failure"
    assert rows[1]["when"] == "2 Nov 2026, 10:00"  # GMT in November


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"object_type": "referral"}, ["referral ref-9"]),
        ({"object_id": "case-2"}, ["case case-2"]),
        ({"action": "case.exported"}, ["case case-2"]),
        ({"outcome": "denied", "object_type": "case"}, ["case case-2"]),
        ({"outcome": "failure", "action": "case.viewed"}, ["referral ref-9"]),
        ({"date_from": "2026-11-10", "date_to": "2026-11-10"}, ["case case-2"]),
        ({"date_from": "2026-11-01", "date_to": "2026-11-19", "object_type": "case"}, ["case case-2", "case case-1"]),
        ({"date_to": "2026-11-09"}, ["case case-1"]),
    ],
)
def test_filters_show_only_matching_events(
    client: FlaskClient, scene: Scene, query: dict[str, str], expected: list[str]
) -> None:
    assert shown_objects(client, query) == expected


def test_filter_by_user_email_shows_only_their_events(client: FlaskClient, scene: Scene) -> None:
    assert shown_objects(client, {"user": scene.alice.email.upper()}) == ["case case-1"]
    assert shown_objects(client, {"user": scene.bob.email}) == ["referral ref-9", "case case-2"]


def test_filter_by_agency_shows_events_of_its_staff(client: FlaskClient, scene: Scene) -> None:
    agency = scene.bob.user.agency.public_id
    assert shown_objects(client, {"agency": agency}) == ["referral ref-9", "case case-2"]


def test_unknown_user_email_shows_no_events_and_says_so(client: FlaskClient, scene: Scene) -> None:
    response = client.get("/audit/", query_string={"user": "nobody@example.org"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "No user has that email address." in page
    assert "No events match." in page
    assert event_rows(page) == []


@pytest.mark.parametrize(
    ("query", "message", "anchor"),
    [
        ({"date_from": "25/11/2026"}, "Not a valid date value.", "#date_from"),
        ({"date_to": "2026-02-30"}, "Not a valid date value.", "#date_to"),
        (
            {"date_from": "2026-11-20", "date_to": "2026-11-10"},
            "To date must be the same as or after the from date",
            "#date_to",
        ),
        ({"user": "not-an-email"}, "Enter an email address in the correct format", "#user"),
        ({"outcome": "deleted"}, "Not a valid choice", "#outcome"),
    ],
)
def test_bad_filter_shows_error_summary_and_no_events(
    client: FlaskClient, scene: Scene, query: dict[str, str], message: str, anchor: str
) -> None:
    response = client.get("/audit/", query_string=query)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in page
    assert message in page
    assert f'href="{anchor}"' in page
    assert event_rows(page) == []


def searches_by(account: Account) -> list[AuditEvent]:
    """The audit.searched events this user left."""
    query = select(AuditEvent).where(AuditEvent.action == "audit.searched", AuditEvent.actor_user_id == account.user.id)
    return list(db.session.scalars(query.order_by(AuditEvent.seq)))


def test_each_search_is_itself_audited(client: FlaskClient, clock: FakeClock) -> None:
    dpo = make_user(Role.DPO)
    login_as(client, dpo, clock)

    client.get("/audit/", query_string={"action": "case.viewed", "outcome": "success"})
    client.get("/audit/", query_string={"date_from": "yesterday"})

    searches = searches_by(dpo)
    assert [(s.object_type, s.outcome, s.details) for s in searches] == [
        ("audit_events", "success", {"filters": ["action", "outcome"], "valid": True}),
        ("audit_events", "success", {"filters": ["date_from"], "valid": False}),
    ]
    assert searches[0].role == "dpo"
    later = event_rows(client.get("/audit/", query_string={"action": "audit.searched"}).get_data(as_text=True))
    assert [r["seq"] for r in later] == [str(s.seq) for s in reversed(searches)]


def test_long_results_page_through_older_events(client: FlaskClient, clock: FakeClock) -> None:
    for i in range(53):
        audit.record("case.viewed", object_type="case", object_id=f"page-{i:02d}")
    db.session.commit()
    login_as(client, make_user(Role.DPO), clock)

    first = client.get("/audit/", query_string={"action": "case.viewed"}).get_data(as_text=True)
    assert len(event_rows(first)) == 50
    assert event_rows(first)[0]["object"] == "case page-52"
    assert "Older events" in first
    oldest_shown = event_rows(first)[-1]["seq"]

    second = client.get("/audit/", query_string={"action": "case.viewed", "before": oldest_shown}).get_data(
        as_text=True
    )
    assert [r["object"] for r in event_rows(second)] == ["case page-02", "case page-01", "case page-00"]
    assert "Older events" not in second


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.DPO])
def test_only_dpo_may_read_the_audit_trail(client: FlaskClient, clock: FakeClock, role: Role) -> None:
    account = make_user(role)
    login_as(client, account, clock)

    response = client.get("/audit/", query_string={"action": "auth.sign_in"})

    assert response.status_code == 403
    assert "auth.sign_in" not in response.get_data(as_text=True)
    assert searches_by(account) == []
    denied = db.session.scalars(
        select(AuditEvent).where(AuditEvent.actor_user_id == account.user.id, AuditEvent.outcome == "denied")
    ).all()
    assert [(e.action, e.object_id) for e in denied] == [("route.denied", "audit.index")]


def test_signed_out_visitor_is_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/audit/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=/audit/")


def test_account_events_name_the_account_and_system_changes_say_so(client: FlaskClient, clock: FakeClock) -> None:
    target = make_user(Role.REFERRER)  # created through the service with no actor, as the command line does
    login_as(client, make_user(Role.DPO), clock)

    page = client.get("/audit/", query_string={"action": "admin.user_created", "object_id": target.user.public_id})
    rows = event_rows(page.get_data(as_text=True))

    assert len(rows) == 1, page.get_data(as_text=True)[-6000:]
    assert rows[0]["object"] == f"user {target.email} {target.user.public_id}"
    assert rows[0]["who"] == "System (command line)"
