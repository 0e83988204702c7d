"""Importing incidents from CSV: every row checked and reported by number, all valid rows imported or none, and
re-importing the same file adds nothing."""

from __future__ import annotations

import csv
import io
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select

from marac import db
from marac.access import acting_offline
from marac.audit.models import AuditEvent
from marac.encompass.models import EncompassChild, EncompassNotification, PoliceIncident
from marac.encompass.services.csv_import import COLUMNS, ImportReport, import_incidents_csv
from marac.notify.models import OutboxMessage
from marac.people.models import Person
from tests.conftest import FakeClock
from tests.encompass.factories import make_key_adult
from tests.encompass.test_intake import World, count, make_world, outbox
from tests.factories import csrf_token, login_as

IMPORT = "/encompass/incidents/import"


def row(world: World, **overrides: str) -> dict[str, str]:
    """One child's row at the world's school (incident on Tuesday 24 November 2026 at 18:00)."""
    values = {
        "police_reference": "WM/1/26",
        "incident_date": "2026-11-24",
        "incident_time": "18:00",
        "place": "Larch Road",
        "circumstances": "Shouting heard by neighbours",
        "child_given_name": "Ada",
        "child_family_name": "Okonkwo",
        "child_dob": "2014-03-01",
        "urn": world.school.urn,
        "local_authority": "",
        "present": "yes",
        "location": "Kitchen",
        "spoken_to": "no",
        "child_said": "",
        "other_adult": "",
    }
    return values | overrides


def csv_bytes(rows: list[dict[str, str]], bom: bool = False) -> bytes:
    """The rows as a UTF-8 CSV file with its heading row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def run(world: World, content: bytes) -> ImportReport:
    """Import as the world's officer."""
    with acting_offline([world.officer.user]):
        return import_incidents_csv(world.officer.user, content)


def good_rows(world: World) -> list[dict[str, str]]:
    """Two incidents: two children at the school on one, a home-educated and an unknown-setting child on another."""
    name = world.authority.name
    return [
        row(world),
        row(world, child_given_name="Ben", child_dob="2012-07-30"),
        row(world, police_reference="WM/2/26", child_given_name="Cy", urn="EHE", local_authority=name),
        row(world, police_reference="WM/2/26", child_given_name="Di", urn="", local_authority=name.upper()),
    ]


def test_valid_file_is_imported_and_reimporting_adds_nothing(app: Any) -> None:
    world = make_world()
    key_adult = make_key_adult(world.school)
    content = csv_bytes(good_rows(world), bom=True)

    report = run(world, content)

    assert report.imported
    assert [(r.number, r.status) for r in report.rows] == [(2, "added"), (3, "added"), (4, "added"), (5, "added")]
    routes = sorted(db.session.scalars(select(EncompassNotification.route)))
    assert routes == ["setting", "setting", "unresolved", "unresolved"]  # no children's social care: unresolved
    assert [m.recipient_id for m in outbox("encompass_notification")] == [key_adult.user.id] * 2
    incidents = list(db.session.scalars(select(PoliceIncident).order_by(PoliceIncident.police_reference)))
    assert [(i.police_reference, i.source) for i in incidents] == [("WM/1/26", "import"), ("WM/2/26", "import")]
    db.session.commit()

    again = run(world, content)

    assert again.imported
    assert {r.status for r in again.rows} == {"already recorded"}
    assert (count(PoliceIncident), count(EncompassChild), len(outbox("encompass_notification"))) == (2, 4, 2)
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "encompass.import")).all()[-1]
    assert event.details == {"rows": 4, "incidents_new": 0, "added": 0, "already": 4}


def test_one_bad_row_imports_nothing_and_each_row_is_reported(app: Any) -> None:
    world = make_world()
    make_key_adult(world.school)
    rows = [
        *good_rows(world),
        row(world, child_given_name="Ed", child_dob="2007-01-01"),
        row(world, police_reference="WM/3/26", urn="999999", present="maybe"),
        row(world, police_reference="WM/4/26", incident_date="2026-11-26"),
        row(world, police_reference="WM/5/26", urn="", local_authority="Atlantis"),
        row(world, incident_time="19:00", child_given_name="Flo"),
    ]
    persons = count(Person)

    report = run(world, csv_bytes(rows))
    db.session.rollback()

    assert not report.imported
    assert [r.status for r in report.rows[:4]] == ["not imported"] * 4
    messages = {r.number: r.messages for r in report.rows if r.status == "error"}
    assert messages == {
        6: ["Date of birth gives age 19 on the incident date: Operation Encompass covers reception to 17"],
        7: ["present: enter yes or no", "No setting has URN 999999", "Say whether the child was present"],
        8: ["The incident date and time must not be in the future"],
        9: [
            "local_authority: no local authority serving your areas is called Atlantis",
            "Choose the local authority where the child lives",
        ],
        10: ["The incident date and time differ from row 2 with the same police reference"],
    }
    assert (count(PoliceIncident), count(EncompassChild), count(Person), count(OutboxMessage)) == (0, 0, persons, 0)


def test_file_problems_are_reported_without_reading_rows(app: Any) -> None:
    world = make_world()
    assert run(world, b"police_reference\nx\n").file_errors[0].startswith("The heading row is missing: ")
    assert run(world, "caf\xe9".encode("latin-1")).file_errors == ["The file must be saved as CSV UTF-8"]
    assert run(world, csv_bytes([])).file_errors == ["The file has no rows below the heading row"]
    assert run(world, b"x" * (2 * 1024 * 1024 + 1)).file_errors == ["The file must be 2 MB or smaller"]
    too_many = csv_bytes([row(world, police_reference=f"R/{n}") for n in range(5001)])
    assert run(world, too_many).file_errors == ["The file has more than 5,000 rows: split it into smaller files"]
    assert count(PoliceIncident) == 0


def upload(client: FlaskClient, content: bytes) -> Any:
    """Post a file to the import page with the page's CSRF token."""
    token = csrf_token(client, IMPORT)
    data = {"csrf_token": token, "file": (io.BytesIO(content), "incidents.csv"), "submit": "Check and import"}
    return client.post(IMPORT, data=data, content_type="multipart/form-data")


def test_import_page_reports_rows_and_answers_400_when_nothing_imported(
    app: Any, client: FlaskClient, clock: FakeClock
) -> None:
    world = make_world()
    make_key_adult(world.school)
    login_as(client, world.officer, clock)

    bad = upload(client, csv_bytes([row(world), row(world, urn="999999", child_given_name="Bo")]))
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400
    assert "Nothing was imported" in page
    assert "Row 3: No setting has URN 999999" in page
    assert count(PoliceIncident) == 0

    good = upload(client, csv_bytes([row(world)]))
    assert good.status_code == 200
    assert "1 of 1 rows added" in good.get_data(as_text=True)
    assert count(PoliceIncident) == 1

    unreadable = upload(client, b"\xff\xfe\x00")
    assert unreadable.status_code == 400
    assert "The file must be saved as CSV UTF-8" in unreadable.get_data(as_text=True)
    empty = client.post(IMPORT, data={"csrf_token": csrf_token(client, IMPORT)}, content_type="multipart/form-data")
    assert empty.status_code == 400
    assert "Select a CSV file" in empty.get_data(as_text=True)


def test_template_download_has_the_heading_row(app: Any, client: FlaskClient, clock: FakeClock) -> None:
    world = make_world()
    login_as(client, world.officer, clock)
    response = client.get("/encompass/incidents/import/template.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.get_data(as_text=True).splitlines()[0] == ",".join(COLUMNS)
