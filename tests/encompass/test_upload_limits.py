"""Uploads larger than a page takes get the GOV.UK-styled 413 page that states the limit and links back, never a
bare 413 or a 500, and nothing is saved; a file the import page says it takes (up to 2 MB) is accepted and checked,
although the app-wide request limit is 1 MB."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from marac import db
from marac.encompass.models import PoliceIncident, SettingClosure
from marac.encompass.services import calendar_import, csv_import
from marac.web import format_size
from tests.conftest import FakeClock
from tests.encompass.factories import make_setting
from tests.encompass.test_intake import make_world
from tests.encompass.test_settings import signed_in_lead
from tests.factories import csrf_token, login_as

IMPORT = "/encompass/incidents/import"
MB = 1024 * 1024


def _post_file(client: FlaskClient, path: str, form_path: str, field: str, size: int) -> Any:
    """Post a `size`-byte file (not a CSV anyone could import) with the form page's CSRF token. The body is built in
    memory: the test client would spool a large one to a temporary file it never closes."""
    upload = FileStorage(io.BytesIO(b"x" * size), filename="big.csv", content_type="text/csv")
    boundary, body = encode_multipart({"csrf_token": csrf_token(client, form_path), field: upload})
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def _count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def test_sizes_are_written_as_people_write_them() -> None:
    assert (format_size(2 * MB), format_size(MB + MB // 2), format_size(512 * 1024)) == ("2 MB", "1.5 MB", "512 KB")


def test_incident_import_takes_the_two_megabytes_it_states_and_refuses_more_with_a_page(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == MB
    world = make_world()
    login_as(client, world.officer, clock)

    checked = _post_file(client, IMPORT, IMPORT, "file", MB + MB // 2)  # over the app-wide limit, within the page's
    assert checked.status_code == 400
    assert "The file is not a readable CSV file" in checked.get_data(as_text=True)  # the page's own check

    refused = _post_file(client, IMPORT, IMPORT, "file", csv_import.MAX_BYTES + 128 * 1024)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 413
    assert "The file is too large" in page
    assert "The file must be 2 MB or smaller" in page
    assert f'href="{IMPORT}"' in page  # back to the import form
    assert "govuk-heading-l" in page
    assert _count(PoliceIncident) == 0


def test_calendar_import_over_its_limit_links_back_to_the_calendar(client: FlaskClient, clock: FakeClock) -> None:
    authority, _lead = signed_in_lead(client, clock)
    setting = make_setting(authority)
    calendar = f"/encompass/settings/{setting.public_id}/calendar"

    within = _post_file(client, f"{calendar}/import", calendar, "calendar_file", calendar_import.MAX_BYTES)
    assert within.status_code == 400  # the page's own checks ran on a file of exactly its limit
    assert "The file is too large" not in within.get_data(as_text=True)

    refused = _post_file(
        client, f"{calendar}/import", calendar, "calendar_file", calendar_import.MAX_BYTES + 128 * 1024
    )
    page = refused.get_data(as_text=True)
    assert refused.status_code == 413
    assert "The file must be 1 MB or smaller" in page
    assert f'href="{calendar}"' in page
    assert _count(SettingClosure) == 0


def test_any_other_page_states_the_app_wide_limit(app: Flask, client: FlaskClient) -> None:
    response = client.post("/sign-in", data={"email": "a" * (MB + 1), "password": "x"})
    page = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "What you sent is too large" in page
    assert "You can send up to 1 MB at a time" in page
    assert 'href="/sign-in"' in page  # the sign-in page answers GET: back to its form


def test_signed_out_the_import_takes_no_more_than_any_page(app: Flask, client: FlaskClient) -> None:
    upload = FileStorage(io.BytesIO(b"x" * (MB + MB // 2)), filename="big.csv", content_type="text/csv")
    boundary, body = encode_multipart({"file": upload})
    refused = client.post(IMPORT, data=body, content_type=f"multipart/form-data; boundary={boundary}")
    assert refused.status_code == 413  # the larger limit is for signed-in users only: nobody else gets it parsed
    assert _count(PoliceIncident) == 0


def test_a_signed_in_user_who_may_not_import_gets_no_larger_limit(
    app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    from marac.access import Role
    from tests.factories import make_user

    login_as(client, make_user(Role.COORDINATOR), clock)
    refused = _post_file(client, IMPORT, "/", "file", MB + MB // 2)
    assert refused.status_code == 413  # the app-wide limit: only officers who may import get the page's own
