"""Settings, key adults and local-authority arrangements: leads reach only the authorities they manage, bad input is
refused field by field with nothing saved, key adults must hold the role at the setting's own agency, and audit
details name fields, never people."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.encompass.models import EducationSetting, EncompassAuthority, KeyAdult
from marac.encompass.services.settings import authority_for, briefed_key_adults, find_setting_by_urn
from marac.orgs.models import Agency, AgencyKind
from tests.conftest import FakeClock
from tests.encompass.factories import make_key_adult, make_setting
from tests.factories import Account, login_as, make_agency, make_area, make_user, post_form


def make_authority() -> Agency:
    """A local authority serving a new area, without Encompass arrangements yet."""
    return make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[make_area()])


def make_lead(authority: Agency) -> Account:
    """A local-authority Encompass lead for `authority`."""
    return make_user(Role.ENCOMPASS_LEAD, agency=authority)


def signed_in_lead(client: FlaskClient, clock: FakeClock) -> tuple[Agency, Account]:
    """A local authority and its lead, signed in."""
    authority = make_authority()
    lead = make_lead(authority)
    login_as(client, lead, clock)
    return authority, lead


def setting_form(authority: Agency, **overrides: Any) -> dict[str, Any]:
    """A valid new-setting form that creates the setting's agency."""
    return {
        "urn": "123456",
        "name": "Riverside Primary School",
        "kind": "school",
        "local_authority": authority.public_id,
        "nation": "england-wales",
        "day_start": "08:45",
        "parent_contact": "seek_advice",
        "agency": "new",
        "is_active": "y",
        **overrides,
    }


def settings_count() -> int:
    return db.session.scalar(select(func.count()).select_from(EducationSetting)) or 0


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def all_audit_text() -> str:
    """Every audit event's object id and details, as text."""
    rows = db.session.execute(select(AuditEvent.object_id, AuditEvent.details)).all()
    return " ".join(f"{object_id} {details}" for object_id, details in rows)


# --- adding and changing settings ------------------------------------------------------------------------------


def test_lead_adds_a_setting_with_a_new_agency(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)

    response = post_form(client, "/encompass/settings/new", setting_form(authority))

    assert response.status_code == 302
    setting = db.session.scalar(select(EducationSetting).where(EducationSetting.urn == "123456"))
    assert setting is not None
    assert response.headers["Location"] == f"/encompass/settings/{setting.public_id}"
    assert (setting.name, setting.local_authority_id, setting.day_start.strftime("%H:%M")) == (
        "Riverside Primary School",
        authority.id,
        "08:45",
    )
    assert setting.agency is not None
    assert (setting.agency.name, setting.agency.kind) == ("Riverside Primary School", "education")
    assert setting.agency.areas == authority.areas
    [event] = events("encompass.setting_create")
    assert event.object_id == setting.public_id
    assert event.details == {
        "fields": [
            "agency_id",
            "day_start",
            "is_active",
            "kind",
            "local_authority_id",
            "name",
            "nation",
            "parent_contact",
            "urn",
        ]
    }
    assert "Riverside" not in all_audit_text()
    assert "123456" not in all_audit_text()


def test_changing_a_setting_audits_only_the_fields_changed(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    setting = make_setting(authority, name="Hillside Academy")
    path = f"/encompass/settings/{setting.public_id}"
    form = setting_form(
        authority, urn=setting.urn, name="Hillside Church Academy", agency=setting.agency.public_id, day_start="08:30"
    )

    response = post_form(client, path, form)

    assert response.status_code == 302
    db.session.expire_all()
    assert setting.name == "Hillside Church Academy"
    [event] = events("encompass.setting_update")
    assert event.details == {"fields": ["name"]}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"urn": "12ab56"}, "Enter a URN of 5 to 12 digits (one hyphen allowed), like 123456"),
        ({"urn": "1234"}, "Enter a URN of 5 to 12 digits (one hyphen allowed), like 123456"),
        ({"urn": "12-34-56"}, "Enter a URN of 5 to 12 digits (one hyphen allowed), like 123456"),
        ({"urn": ""}, "Enter the setting&#39;s URN"),
        ({"name": ""}, "Enter the setting&#39;s name"),
        ({"kind": "nursery"}, "Select the kind of setting"),
        ({"nation": "wales"}, "Select the nation"),
        ({"parent_contact": "ring them"}, "Select the policy on contacting parents"),
        ({"day_start": "11:00"}, "The day start must be between 06:00 and 10:30"),
        ({"day_start": "05:59"}, "The day start must be between 06:00 and 10:30"),
        ({"day_start": "8.30am"}, "Enter the day start as a 24-hour time, like 08:30"),
        ({"local_authority": ""}, "Select the local authority"),
        ({"agency": "not-an-agency"}, "Select an education agency not linked to another setting, or create one"),
    ],
)
def test_bad_setting_input_is_refused_with_a_message(
    client: FlaskClient, clock: FakeClock, overrides: dict[str, str], message: str
) -> None:
    authority, _ = signed_in_lead(client, clock)

    response = post_form(client, "/encompass/settings/new", setting_form(authority, **overrides))

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    assert message in page
    assert settings_count() == 0
    assert events("encompass.setting_create") == []


def test_duplicate_urn_is_refused(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    existing = make_setting(authority)

    response = post_form(client, "/encompass/settings/new", setting_form(authority, urn=f" {existing.urn} "))

    assert response.status_code == 400
    assert f"A setting with URN {existing.urn} already exists" in response.get_data(as_text=True)
    assert settings_count() == 1


def test_lead_cannot_put_a_setting_in_an_authority_they_do_not_manage(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    other = make_authority()

    response = post_form(client, "/encompass/settings/new", setting_form(authority, local_authority=other.public_id))

    assert response.status_code == 400
    assert "Select a local authority you manage" in response.get_data(as_text=True)
    assert settings_count() == 0


def test_an_agency_linked_to_another_setting_cannot_be_reused(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    existing = make_setting(authority)

    response = post_form(client, "/encompass/settings/new", setting_form(authority, agency=existing.agency.public_id))

    assert response.status_code == 400
    assert "Select an education agency not linked to another setting" in response.get_data(as_text=True)
    assert settings_count() == 1


def test_a_free_education_agency_can_be_linked(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    free = make_agency(AgencyKind.EDUCATION, areas=list(authority.areas), name="Oakfield Infant School")
    page = client.get("/encompass/settings/new").get_data(as_text=True)
    assert "Oakfield Infant School" in page

    response = post_form(client, "/encompass/settings/new", setting_form(authority, agency=free.public_id))

    assert response.status_code == 302
    assert find_setting_by_urn("123456").agency_id == free.id


# --- scope -------------------------------------------------------------------------------------------------------


def test_list_shows_only_managed_settings_with_counts(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    mine = make_setting(authority, name="Meadow Lane School")
    make_key_adult(mine, rank=1, briefed=True)
    make_key_adult(mine, rank=2, briefed=False)
    make_setting(make_authority(), name="Elsewhere High School")

    page = client.get("/encompass/settings").get_data(as_text=True)

    assert "Meadow Lane School" in page
    assert "Elsewhere High School" not in page
    assert "1 of 2" in page
    assert "No calendar" in page


def test_list_filters_by_local_authority_for_an_admin(client: FlaskClient, clock: FakeClock) -> None:
    first, second = make_authority(), make_authority()
    make_setting(first, name="First Street School")
    make_setting(second, name="Second Avenue School")
    login_as(client, make_user(Role.ADMIN), clock)

    everything = client.get("/encompass/settings").get_data(as_text=True)
    filtered = client.get(f"/encompass/settings?authority={second.public_id}").get_data(as_text=True)

    assert "First Street School" in everything
    assert "Second Avenue School" in everything
    assert "Second Avenue School" in filtered
    assert "First Street School" not in filtered


@pytest.mark.parametrize("suffix", ["", "/calendar"])
def test_lead_of_another_authority_gets_404_and_a_denial(client: FlaskClient, clock: FakeClock, suffix: str) -> None:
    setting = make_setting(make_authority())
    outsider = make_lead(make_authority())
    login_as(client, outsider, clock)

    response = client.get(f"/encompass/settings/{setting.public_id}{suffix}")

    assert response.status_code == 404
    [denial] = events("encompass.setting_view")
    assert (denial.outcome, denial.object_id, denial.actor_user_id) == ("denied", setting.public_id, outsider.user.id)


def test_lead_of_another_authority_cannot_change_a_setting(client: FlaskClient, clock: FakeClock) -> None:
    authority = make_authority()
    setting = make_setting(authority, name="Guarded School")
    login_as(client, make_lead(make_authority()), clock)

    response = post_form(
        client,
        f"/encompass/settings/{setting.public_id}",
        setting_form(authority, urn=setting.urn, name="Renamed"),
        form_path="/encompass/settings/new",
    )

    assert response.status_code == 404
    db.session.expire_all()
    assert setting.name == "Guarded School"


@pytest.mark.parametrize("role", [Role.KEY_ADULT, Role.REFERRER, Role.COORDINATOR])
def test_other_roles_get_403(client: FlaskClient, clock: FakeClock, role: Role) -> None:
    authority = make_authority()
    setting = make_setting(authority)
    login_as(client, make_user(role, agency=setting.agency), clock)

    for path in (
        "/encompass/settings",
        "/encompass/settings/new",
        f"/encompass/settings/{setting.public_id}",
        f"/encompass/settings/{setting.public_id}/calendar",
        f"/encompass/authorities/{authority.public_id}",
    ):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "You do not have access to this page" in response.get_data(as_text=True)


# --- key adults -----------------------------------------------------------------------------------------------


def add_key_adult(client: FlaskClient, setting: EducationSetting, **data: str) -> Any:
    return post_form(
        client,
        f"/encompass/settings/{setting.public_id}/key-adults",
        data,
        form_path=f"/encompass/settings/{setting.public_id}",
    )


def key_adult_count() -> int:
    return db.session.scalar(select(func.count()).select_from(KeyAdult)) or 0


def test_lead_adds_a_briefed_key_adult(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    setting = make_setting(authority)
    person = make_user(Role.KEY_ADULT, agency=setting.agency)

    response = add_key_adult(client, setting, key_adult=person.user.public_id, rank="1", briefed_on=["3", "9", "2026"])

    assert response.status_code == 302
    [key_adult] = db.session.scalars(select(KeyAdult).where(KeyAdult.setting_id == setting.id))
    assert (key_adult.user_id, key_adult.rank, key_adult.briefed_on) == (person.user.id, 1, date(2026, 9, 3))
    assert briefed_key_adults(setting) == [person.user]
    [event] = events("encompass.key_adult_add")
    assert event.details == {"setting": setting.public_id, "rank": 1, "briefed": True}
    audit_text = all_audit_text()
    assert person.user.display_name not in audit_text
    assert person.user.email not in audit_text


def test_unbriefed_key_adult_is_flagged_and_receives_nothing(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    setting = make_setting(authority)
    person = make_user(Role.KEY_ADULT, agency=setting.agency)

    response = add_key_adult(client, setting, key_adult=person.user.public_id, rank="2")

    assert response.status_code == 302
    page = client.get(f"/encompass/settings/{setting.public_id}").get_data(as_text=True)
    assert "Not briefed" in page
    assert "receives nothing until their briefing is recorded" in page
    assert briefed_key_adults(setting) == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no_role", "does not hold the key adult role: ask an administrator to give it first"),
        ("other_agency", "Select a person who works at the setting (its agency on the platform)"),
        ("future_briefing", "The briefing date must be today or in the past"),
        ("bad_date", "Enter the briefing date as a real date, like 3 9 2026"),
        ("duplicate", "is already a key adult at this setting"),
        ("no_rank", "Select key adult or second key adult"),
    ],
)
def test_key_adult_rules(client: FlaskClient, clock: FakeClock, case: str, message: str) -> None:
    authority, _ = signed_in_lead(client, clock)
    setting = make_setting(authority)
    person = make_user(Role.KEY_ADULT, agency=setting.agency)
    data = {"key_adult": person.user.public_id, "rank": "1", "briefed_on": ["1", "9", "2026"]}
    if case == "no_role":
        data["key_adult"] = make_user(Role.REFERRER, agency=setting.agency).user.public_id
    elif case == "other_agency":
        data["key_adult"] = make_key_adult(make_setting(authority)).user.public_id
    elif case == "future_briefing":
        data["briefed_on"] = ["26", "11", "2026"]
    elif case == "bad_date":
        data["briefed_on"] = ["31", "2", "2026"]
    elif case == "duplicate":
        db.session.add(KeyAdult(setting_id=setting.id, user_id=person.user.id, rank=2))
        db.session.commit()
    elif case == "no_rank":
        data.pop("rank")
    before = key_adult_count()

    response = add_key_adult(client, setting, **data)

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    assert message in page
    assert key_adult_count() == before
    assert events("encompass.key_adult_add") == []


def test_change_briefing_date_and_remove(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    setting = make_setting(authority)
    person = make_key_adult(setting, briefed=False)
    key_adult = db.session.scalar(select(KeyAdult).where(KeyAdult.user_id == person.user.id))
    path = f"/encompass/key-adults/{key_adult.public_id}"

    future = post_form(client, path, {"briefed_on": ["1", "1", "2027"]})
    assert future.status_code == 400
    assert "The briefing date must be today or in the past" in future.get_data(as_text=True)
    saved = post_form(client, path, {"briefed_on": ["24", "11", "2026"]})
    assert saved.status_code == 302
    db.session.expire_all()
    assert key_adult.briefed_on == date(2026, 11, 24)
    assert briefed_key_adults(setting, rank=1) == [person.user]
    assert briefed_key_adults(setting, rank=2) == []

    removed = post_form(client, f"{path}/remove", {}, form_path=path)

    assert removed.status_code == 302
    assert key_adult_count() == 0
    assert [e.details for e in events("encompass.key_adult_briefing")] == [
        {"setting": setting.public_id, "rank": 1, "briefed": True}
    ]
    assert len(events("encompass.key_adult_remove")) == 1


def test_key_adult_of_another_authority_is_404(client: FlaskClient, clock: FakeClock) -> None:
    signed_in_lead(client, clock)
    setting = make_setting(make_authority())
    person = make_key_adult(setting)
    key_adult = db.session.scalar(select(KeyAdult).where(KeyAdult.user_id == person.user.id))

    assert client.get(f"/encompass/key-adults/{key_adult.public_id}").status_code == 404
    assert [e.outcome for e in events("encompass.key_adult")] == ["denied"]


def test_briefed_key_adults_leaves_out_disabled_and_role_less_accounts(app: Any) -> None:
    setting = make_setting(make_authority())
    kept = make_key_adult(setting, rank=1)
    disabled = make_key_adult(setting, rank=2)
    disabled.user.is_active = False
    no_role = make_user(Role.REFERRER, agency=setting.agency)
    db.session.add(KeyAdult(setting_id=setting.id, user_id=no_role.user.id, rank=1, briefed_on=date(2026, 9, 1)))
    db.session.commit()

    assert briefed_key_adults(setting) == [kept.user]


def test_find_setting_by_urn_ignores_spaces(app: Any) -> None:
    setting = make_setting(make_authority())
    spaced = f" {setting.urn[:3]} {setting.urn[3:]} "

    assert find_setting_by_urn(spaced) == setting
    assert find_setting_by_urn("999999999") is None
    assert find_setting_by_urn("") is None


# --- local-authority arrangements -------------------------------------------------------------------------------


def test_authority_arrangements_are_created_on_first_save(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    care = make_agency(AgencyKind.CHILDRENS_SOCIAL_CARE, areas=list(authority.areas))
    path = f"/encompass/authorities/{authority.public_id}"
    assert authority_for(authority.id) is None

    first = post_form(client, path, {"childrens_social_care": care.public_id, "nation": "scotland"})
    second = post_form(client, path, {"childrens_social_care": care.public_id, "nation": "england-wales"})

    assert (first.status_code, second.status_code) == (302, 302)
    arrangements = authority_for(authority.id)
    assert arrangements is not None
    assert (arrangements.childrens_social_care_id, arrangements.nation) == (care.id, "england-wales")
    assert db.session.scalar(select(func.count()).select_from(EncompassAuthority)) == 1
    assert [e.details for e in events("encompass.authority_create")] == [
        {"fields": ["childrens_social_care", "nation"]}
    ]
    assert [e.details for e in events("encompass.authority_update")] == [{"fields": ["nation"]}]


def test_authority_page_refuses_a_non_social_care_agency(client: FlaskClient, clock: FakeClock) -> None:
    authority, _ = signed_in_lead(client, clock)
    police = make_agency(AgencyKind.POLICE)

    response = post_form(
        client,
        f"/encompass/authorities/{authority.public_id}",
        {"childrens_social_care": police.public_id, "nation": "scotland"},
    )

    assert response.status_code == 400
    assert "Select a children&#39;s social care agency" in response.get_data(as_text=True)
    assert authority_for(authority.id) is None


def test_authority_of_another_lead_is_404_and_audited(client: FlaskClient, clock: FakeClock) -> None:
    signed_in_lead(client, clock)
    other = make_authority()

    assert client.get(f"/encompass/authorities/{other.public_id}").status_code == 404
    [denial] = events("encompass.authority")
    assert (denial.outcome, denial.object_id) == ("denied", other.public_id)
