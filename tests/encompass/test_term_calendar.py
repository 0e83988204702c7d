"""Term calendars: holidays and training days added one at a time or imported from CSV (every row valid or nothing
imported, per-row errors, idempotent, optionally for every open setting of the local authority), and the closures
that feed due times."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from marac import db
from marac.encompass.calendar import LONDON, next_school_day_start
from marac.encompass.models import EducationSetting, SettingClosure
from marac.encompass.services import calendar_import
from marac.encompass.services.settings import closures_for
from tests.conftest import FakeClock
from tests.encompass.factories import make_setting
from tests.encompass.test_settings import events, make_authority, signed_in_lead
from tests.factories import post_form

CALENDAR = (
    "kind,starts_on,ends_on,label\n"
    "holiday,2026-12-21,2027-01-01,Christmas holiday\n"
    "training_day,04/01/2027,,INSET day\n"
    "holiday,15/02/2027,19/02/2027,February half term\n"
)


def closures_of(setting: EducationSetting) -> list[tuple[str, date, date, str | None]]:
    query = select(SettingClosure).where(SettingClosure.setting_id == setting.id).order_by(SettingClosure.starts_on)
    return [(c.kind, c.starts_on, c.ends_on, c.label) for c in db.session.scalars(query)]


def closure_count() -> int:
    return db.session.scalar(select(func.count()).select_from(SettingClosure)) or 0


def upload(client: FlaskClient, setting: EducationSetting, content: bytes, whole_authority: bool = False) -> Any:
    data: dict[str, Any] = {"calendar_file": (io.BytesIO(content), "calendar.csv")}
    if whole_authority:
        data["whole_authority"] = "y"
    page = f"/encompass/settings/{setting.public_id}/calendar"
    return post_form(client, f"{page}/import", data, form_path=page)


@pytest.fixture
def setting(client: FlaskClient, clock: FakeClock) -> EducationSetting:
    """A setting whose local authority's lead is signed in."""
    authority, _ = signed_in_lead(client, clock)
    return make_setting(authority, name="Brookside Primary School")


# --- one at a time ----------------------------------------------------------------------------------------------


def test_add_a_holiday_and_a_training_day(client: FlaskClient, setting: EducationSetting) -> None:
    page = f"/encompass/settings/{setting.public_id}/calendar"

    holiday = post_form(
        client,
        page,
        {"kind": "holiday", "starts_on": ["26", "10", "2026"], "ends_on": ["30", "10", "2026"], "label": "Half term"},
    )
    training = post_form(client, page, {"kind": "training_day", "starts_on": ["30", "11", "2026"], "label": "INSET"})

    assert (holiday.status_code, training.status_code) == (302, 302)
    assert closures_of(setting) == [
        ("holiday", date(2026, 10, 26), date(2026, 10, 30), "Half term"),
        ("training_day", date(2026, 11, 30), date(2026, 11, 30), "INSET"),
    ]
    shown = client.get(page).get_data(as_text=True)
    assert "Mon 26 Oct 2026" in shown
    assert "Half term" in shown
    assert "Training day" in shown
    assert [e.details for e in events("encompass.closure_add")] == [{"rows": 1, "added": 1}] * 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"kind": "holiday", "starts_on": ["30", "10", "2026"], "ends_on": ["26", "10", "2026"]},
            "The last day closed must be on or after the first day closed",
        ),
        ({"kind": "holiday", "starts_on": ["26", "10", "2026"]}, "Enter the last day closed"),
        (
            {"kind": "training_day", "starts_on": ["2", "11", "2026"], "ends_on": ["3", "11", "2026"]},
            "A training day is one day: leave the last day blank",
        ),
        ({"kind": "holiday", "starts_on": ["1", "1", "2029"], "ends_on": ["2", "1", "2029"]}, "within 2 years"),
        ({"kind": "holiday", "starts_on": ["31", "9", "2026"], "ends_on": ["2", "10", "2026"]}, "as a real date"),
        ({"starts_on": ["1", "9", "2026"]}, "Select holiday or training day"),
        ({"kind": "inset", "starts_on": ["1", "9", "2026"]}, "Select holiday or training day"),
        ({"kind": "holiday"}, "Enter the first day closed"),
    ],
)
def test_bad_closure_is_refused(
    client: FlaskClient, setting: EducationSetting, data: dict[str, Any], message: str
) -> None:
    response = post_form(client, f"/encompass/settings/{setting.public_id}/calendar", data)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    assert message in page
    assert closure_count() == 0


def test_remove_a_closure(client: FlaskClient, setting: EducationSetting) -> None:
    other = make_setting(setting.local_authority)
    mine = SettingClosure(
        setting_id=setting.id, kind="training_day", starts_on=date(2027, 1, 4), ends_on=date(2027, 1, 4)
    )
    theirs = SettingClosure(
        setting_id=other.id, kind="training_day", starts_on=date(2027, 1, 4), ends_on=date(2027, 1, 4)
    )
    db.session.add_all([mine, theirs])
    db.session.commit()
    page = f"/encompass/settings/{setting.public_id}/calendar"

    refused = post_form(client, f"{page}/remove", {"closure": str(theirs.id)}, form_path=page)
    removed = post_form(client, f"{page}/remove", {"closure": str(mine.id)}, form_path=page)

    assert (refused.status_code, removed.status_code) == (404, 302)
    assert closures_of(setting) == []
    assert len(closures_of(other)) == 1


# --- CSV import -----------------------------------------------------------------------------------------------


def test_import_adds_every_row_and_is_idempotent(client: FlaskClient, setting: EducationSetting) -> None:
    first = upload(client, setting, ("\ufeff" + CALENDAR).encode("utf-8"))
    second = upload(client, setting, CALENDAR.encode("utf-8"))

    assert (first.status_code, second.status_code) == (302, 302)
    assert closures_of(setting) == [
        ("holiday", date(2026, 12, 21), date(2027, 1, 1), "Christmas holiday"),
        ("training_day", date(2027, 1, 4), date(2027, 1, 4), "INSET day"),
        ("holiday", date(2027, 2, 15), date(2027, 2, 19), "February half term"),
    ]
    assert [e.details for e in events("encompass.calendar_import")] == [
        {"rows": 3, "added": 3},
        {"rows": 3, "added": 0},
    ]
    assert "Brookside" not in str([e.details for e in events("encompass.calendar_import")])


def test_import_reports_errors_per_row_and_imports_nothing(client: FlaskClient, setting: EducationSetting) -> None:
    content = (
        "kind,starts_on,ends_on,label\n"
        "holiday,2026-12-21,2027-01-01,Christmas\n"
        "holiday,2027-02-19,2027-02-15,Half term\n"
        "closure,2027-03-01,2027-03-01,\n"
        "training_day,2027-13-01,,\n"
        "holiday,,2027-04-01,Easter\n"
    )

    response = upload(client, setting, content.encode())

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Row 3: ends_on is before starts_on" in page
    assert "Row 4: kind must be holiday or training_day" in page
    assert "Row 5: starts_on must be a date like 2026-10-26 or 26/10/2026" in page
    assert "Row 6: starts_on is missing" in page
    assert "Row 2" not in page
    assert closure_count() == 0
    assert events("encompass.calendar_import") == []


def test_import_applies_to_every_open_setting_of_the_authority(client: FlaskClient, setting: EducationSetting) -> None:
    sibling = make_setting(setting.local_authority, name="Sibling Junior School")
    closed = make_setting(setting.local_authority, name="Closed Infant School")
    closed.is_active = False
    elsewhere = make_setting(make_authority(), name="Elsewhere School")
    db.session.commit()
    upload(client, sibling, b"kind,starts_on,ends_on,label\ntraining_day,2027-01-04,,INSET\n")

    response = upload(client, setting, CALENDAR.encode(), whole_authority=True)

    assert response.status_code == 302
    assert len(closures_of(setting)) == 3
    assert len(closures_of(sibling)) == 3  # its INSET day was already there: not duplicated
    assert closures_of(closed) == []
    assert closures_of(elsewhere) == []
    details = {e.object_id: e.details for e in events("encompass.calendar_import")[1:]}
    assert details == {setting.public_id: {"rows": 3, "added": 3}, sibling.public_id: {"rows": 3, "added": 2}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kind,starts_on,ends_on,label\nholiday,2026-12-21,2027-01-01,Noël\n".encode("latin-1"), "saved as UTF-8"),
        (b"type,from,to,name\nholiday,2026-12-21,2027-01-01,x\n", "The first row must be the header"),
        (b"holiday,2026-12-21,2027-01-01,x\n", "The first row must be the header"),
        (b"kind,starts_on,ends_on,label\n", "The file has no rows after the header"),
        (b"", "The first row must be the header"),
        (
            b"kind,starts_on,ends_on,label\n" + b"training_day,2027-01-04,,\n" * 2001,
            "The file must have 2,000 rows or fewer",
        ),
    ],
)
def test_unreadable_file_is_refused(
    client: FlaskClient, setting: EducationSetting, content: bytes, message: str
) -> None:
    response = upload(client, setting, content)

    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert closure_count() == 0


def test_missing_file_is_refused(client: FlaskClient, setting: EducationSetting) -> None:
    page = f"/encompass/settings/{setting.public_id}/calendar"

    response = post_form(client, f"{page}/import", {}, form_path=page)

    assert response.status_code == 400
    assert "Choose a CSV file to import" in response.get_data(as_text=True)


def test_file_over_the_limit_is_refused(
    client: FlaskClient, setting: EducationSetting, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A small limit keeps the upload in memory (the test client spools a 1 MB body to a file it never closes).
    monkeypatch.setattr(calendar_import, "MAX_BYTES", 1024)
    content = b"kind,starts_on,ends_on,label\n" + b"training_day,2027-01-04,,INSET\n" * 40

    response = upload(client, setting, content)

    assert response.status_code == 400
    assert "The file must be 1 MB or smaller" in response.get_data(as_text=True)
    assert closure_count() == 0


def test_parser_accepts_exactly_1_mb_and_refuses_more(app: Any) -> None:
    content = b"kind,starts_on,ends_on,label\ntraining_day,2027-01-04,,INSET\n"
    exactly = content + b"\n" * (1024 * 1024 - len(content))  # blank lines are skipped

    rows, errors = calendar_import.parse_calendar(exactly, date(2026, 11, 25))
    with pytest.raises(calendar_import.CalendarFileError, match="The file must be 1 MB or smaller"):
        calendar_import.parse_calendar(exactly + b"\n", date(2026, 11, 25))

    assert (len(rows), errors) == (1, [])


def test_import_into_another_authoritys_setting_is_404(client: FlaskClient, setting: EducationSetting) -> None:
    other = make_setting(make_authority())
    page = f"/encompass/settings/{setting.public_id}/calendar"
    data = {"calendar_file": (io.BytesIO(CALENDAR.encode()), "calendar.csv")}

    response = post_form(client, f"/encompass/settings/{other.public_id}/calendar/import", data, form_path=page)

    assert response.status_code == 404
    assert closure_count() == 0


# --- closures feed due times ----------------------------------------------------------------------------------


def test_closures_for_is_one_query_and_an_inset_monday_moves_the_due_time(app: Any) -> None:
    authority = make_authority()
    inset, plain = make_setting(authority), make_setting(authority)
    db.session.add_all(
        [
            SettingClosure(
                setting_id=inset.id, kind="training_day", starts_on=date(2026, 11, 30), ends_on=date(2026, 11, 30)
            ),
            SettingClosure(setting_id=inset.id, kind="holiday", starts_on=date(2026, 12, 21), ends_on=date(2027, 1, 1)),
        ]
    )
    db.session.commit()
    statements: list[str] = []
    connection = db.session.connection()
    listener = lambda *args: statements.append(args[2])  # noqa: E731

    event.listen(connection, "before_cursor_execute", listener)
    try:
        found = closures_for([inset.id, plain.id])
    finally:
        event.remove(connection, "before_cursor_execute", listener)

    assert len(statements) == 1
    friday_night = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    due_inset = next_school_day_start(friday_night, inset.nation, inset.day_start, found[inset.id])
    due_plain = next_school_day_start(friday_night, plain.nation, plain.day_start, found[plain.id])
    assert due_inset == datetime(2026, 12, 1, 8, 30, tzinfo=LONDON)  # Tuesday: Monday is an INSET day
    assert due_plain == datetime(2026, 11, 30, 8, 30, tzinfo=LONDON)
    assert found[inset.id].closes(date(2026, 12, 24))
    assert not found[plain.id].closes(date(2026, 12, 24))
    assert closures_for([]) == {}


def test_settings_list_shows_whether_a_calendar_covers_this_year(
    client: FlaskClient, setting: EducationSetting
) -> None:
    assert "No calendar" in client.get("/encompass/settings").get_data(as_text=True)

    upload(client, setting, CALENDAR.encode())

    assert "No calendar" not in client.get("/encompass/settings").get_data(as_text=True)
