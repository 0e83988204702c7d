"""Who may see a case and which of its fields, opening a case and adding people through the forms, and what a page
shows when a sealed value has been tampered with."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text, update

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.cases.models import Case, CaseParty
from marac.orgs.models import Agency, AgencyKind, Area
from marac.people.models import HouseholdLink, Person, PersonKind
from marac.sharing.models import MustNotReceive
from marac.sharing.services import add_user_to_must_not_receive, must_not_receive_problem
from tests.conftest import FakeClock
from tests.factories import (
    Account,
    csrf_token,
    login_as,
    make_agency,
    make_area,
    make_break_glass_grant,
    make_case,
    make_disclosure,
    make_person,
    make_user,
    post_form,
)

REFERENCE = re.compile(r"MC-\d\d-[A-Z0-9]{6}")
RESTRICTED = "Restricted"
PERSON_FIELDS = ("Phone numbers", "Email address", "Address", "Postcode", "Health detail")


# --- helpers -------------------------------------------------------------------------------------------------------


def text_of(response: Any) -> str:
    """The page as a reader sees the words (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


def _plain(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def summary_rows(fragment: str) -> dict[str, str]:
    """Label -> shown value of every summary-list row in a piece of a page."""
    rows = re.findall(
        r'<dt class="govuk-summary-list__key">(.*?)</dt>\s*<dd class="govuk-summary-list__value">(.*?)</dd>',
        fragment,
        re.S,
    )
    return {_plain(label): _plain(value) for label, value in rows}


def person_card(response: Any, role_label: str) -> tuple[str, dict[str, str]]:
    """The title and fields of the case page's card for the person in `role_label` ("Victim", "Perpetrator")."""
    page = response.get_data(as_text=True)
    for card in page.split('<div class="govuk-summary-card">')[1:]:
        title = re.search(r'<h3 class="govuk-summary-card__title">(.*?)</h3>', card, re.S)
        if title and _plain(title.group(1)).startswith(f"{role_label}:"):
            return _plain(title.group(1)), summary_rows(card)
    raise AssertionError(f"no {role_label} card on the page")


def events(action: str, object_id: str | None = None, *, actor: Account | None = None) -> list[AuditEvent]:
    """Audit events of one action (on one object, by one user)."""
    query = select(AuditEvent).where(AuditEvent.action == action)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    if actor is not None:
        query = query.where(AuditEvent.actor_user_id == actor.user.id)
    db.session.expire_all()
    return list(db.session.scalars(query.order_by(AuditEvent.seq)))


def count(model: type[Any]) -> int:
    """Rows in a model's table."""
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def references_listed(client: FlaskClient) -> set[str]:
    """Case references on the user's list of cases."""
    response = client.get("/cases/")
    assert response.status_code == 200
    return set(REFERENCE.findall(response.get_data(as_text=True)))


def without_tokens(page: str) -> str:
    """A page with its per-response nonces and CSRF tokens taken out, to compare two answers."""
    return re.sub(r'(nonce|value)="[^"]*"', "", page)


@dataclass
class World:
    """A police referral in one area (with a perpetrator), and an unrelated case in another area."""

    area: Area
    police: Agency
    officer: Account
    case: Case
    victim: Person
    perpetrator: Person
    other_case: Case


VICTIM = {
    "given_name": "Marigold",
    "family_name": "Quennell",
    "phones": ["+447700900123"],
    "email": "safe.contact@example.org",
    "address": "14 Orchard Close, Northvale",
    "postcode": "NV11AA",
    "health_notes": "Pregnant, 20 weeks; anxiety",
}
PERPETRATOR = {
    "given_name": "Lothar",
    "family_name": "Brackwater",
    "phones": ["+447700900456"],
    "email": "perp.contact@example.net",
    "address": "2 Mill Lane, Eastbridge",
    "postcode": "EB22BB",
    "health_notes": "Alcohol dependence",
}


@pytest.fixture
def world(app: Flask) -> World:
    """The police referral everyone in these tests is (or is not) related to."""
    area = make_area()
    police = make_agency(AgencyKind.POLICE, [area])
    officer = make_user(Role.REFERRER, agency=police)
    victim = make_person(PersonKind.VICTIM, officer.user, **VICTIM)
    perpetrator = make_person(PersonKind.PERPETRATOR, officer.user, **PERPETRATOR)
    case = make_case(area=area, agency=police, victim=victim, actor=officer.user, perpetrator=perpetrator)
    other_area = make_area()
    other_case = make_case(area=other_area, agency=make_agency(AgencyKind.POLICE, [other_area]))
    return World(area, police, officer, case, victim, perpetrator, other_case)


def signed_in(app: Flask, account: Account, clock: FakeClock) -> FlaskClient:
    """A new browser signed in as `account`."""
    browser = app.test_client()
    login_as(browser, account, clock)
    return browser


# --- not found, not forbidden --------------------------------------------------------------------------------------


def test_case_outside_users_relationships_is_not_found_and_the_denial_audited(
    app: Flask, world: World, clock: FakeClock
) -> None:
    outsider = make_user(Role.AGENCY_REP, agency=make_agency(AgencyKind.HOUSING))
    browser = signed_in(app, outsider, clock)
    case_id, victim_id = world.case.public_id, world.victim.public_id

    pages = {
        f"/cases/{case_id}": ("case.view", case_id),
        f"/cases/{case_id}/disclose": ("case.view", case_id),
        f"/cases/{case_id}/people/new": ("case.view", case_id),
        f"/people/{victim_id}": ("person.view", victim_id),
        f"/people/{victim_id}/matches": ("person.match", victim_id),
    }
    for path, (action, object_id) in pages.items():
        before = len(events(action, object_id, actor=outsider))
        response = browser.get(path)

        assert response.status_code == 404, path
        page = text_of(response)
        assert "Page not found" in page
        for secret in (world.case.reference, world.area.name, world.victim.given_name, world.victim.family_name):
            assert secret not in page, path
        denials = events(action, object_id, actor=outsider)
        assert len(denials) == before + 1, path
        assert denials[-1].outcome == "denied"
    assert events("case.view", case_id, actor=outsider)[0].details == {"reason": "no_relationship"}
    assert not [e for e in events("case.view", case_id, actor=outsider) if e.outcome == "success"]
    assert references_listed(browser) == set()


def test_hidden_case_answers_exactly_like_one_that_does_not_exist(app: Flask, world: World, clock: FakeClock) -> None:
    browser = signed_in(app, make_user(Role.AGENCY_REP, agency=make_agency(AgencyKind.HOUSING)), clock)

    hidden = browser.get(f"/cases/{world.case.public_id}")
    missing = browser.get("/cases/00000000-0000-4000-8000-000000000000")

    assert hidden.status_code == missing.status_code == 404
    assert without_tokens(hidden.get_data(as_text=True)) == without_tokens(missing.get_data(as_text=True))


# --- relationships that grant access -------------------------------------------------------------------------------


def _referring_colleague(world: World) -> Account:
    return make_user(Role.REFERRER, agency=world.police)


def _area_coordinator(world: World) -> Account:
    return make_user(Role.COORDINATOR, agency=make_agency(AgencyKind.LOCAL_AUTHORITY, [world.area]))


def _area_chair(world: World) -> Account:
    return make_user(Role.CHAIR, agency=make_agency(AgencyKind.PROBATION, [world.area]))


def _assigned_idva(world: World) -> Account:
    account = make_user(Role.IDVA, agency=make_agency(AgencyKind.IDVA_SERVICE))
    world.case.assigned_idva_id = account.user.id
    db.session.commit()
    return account


def _agency_disclosed_to(world: World) -> Account:
    housing = make_agency(AgencyKind.HOUSING)
    make_disclosure(world.case, housing, world.officer.user)
    return make_user(Role.AGENCY_REP, agency=housing)


def _break_glass(world: World) -> Account:
    account = make_user(Role.AGENCY_REP, agency=make_agency(AgencyKind.HOUSING))
    make_break_glass_grant(world.case, account.user)
    return account


RELATIONS: dict[str, Callable[[World], Account]] = {
    "referring agency": _referring_colleague,
    "area coordinator": _area_coordinator,
    "area chair": _area_chair,
    "assigned IDVA": _assigned_idva,
    "disclosure to their agency": _agency_disclosed_to,
    "break-glass": _break_glass,
}


@pytest.mark.parametrize("relation", RELATIONS)
def test_each_relationship_shows_the_case_and_only_that_case(
    app: Flask, world: World, clock: FakeClock, relation: str
) -> None:
    account = RELATIONS[relation](world)
    browser = signed_in(app, account, clock)

    response = browser.get(f"/cases/{world.case.public_id}")

    assert response.status_code == 200
    assert f"Case {world.case.reference}" in text_of(response)
    [view] = events("case.view", world.case.public_id, actor=account)
    assert view.outcome == "success"
    assert view.purpose == ("break_glass" if relation == "break-glass" else None)
    assert browser.get(f"/cases/{world.other_case.public_id}").status_code == 404
    assert references_listed(browser) == {world.case.reference}


def _coordinator_elsewhere(world: World) -> Account:
    return make_user(Role.COORDINATOR, agency=make_agency(AgencyKind.LOCAL_AUTHORITY))


def _coordinator_limited_to_another_area(world: World) -> Account:
    agency = make_agency(AgencyKind.LOCAL_AUTHORITY, [world.area, make_area()])
    return make_user(
        Role.COORDINATOR, agency=agency, areas=[agency.areas[0] if agency.areas[0] != world.area else agency.areas[1]]
    )


def _idva_not_assigned(world: World) -> Account:
    return make_user(Role.IDVA, agency=make_agency(AgencyKind.IDVA_SERVICE, [world.area]))


def _referrer_in_the_area(world: World) -> Account:
    return make_user(Role.REFERRER, agency=make_agency(AgencyKind.HOUSING, [world.area]))


def _withdrawn_disclosure(world: World) -> Account:
    housing = make_agency(AgencyKind.HOUSING)
    disclosure = make_disclosure(world.case, housing, world.officer.user)
    disclosure.withdrawn_at = db.utcnow()
    db.session.commit()
    return make_user(Role.AGENCY_REP, agency=housing)


def _expired_break_glass(world: World) -> Account:
    account = make_user(Role.AGENCY_REP, agency=make_agency(AgencyKind.HOUSING))
    grant = make_break_glass_grant(world.case, account.user)
    grant.expires_at = db.utcnow() - timedelta(seconds=1)
    db.session.commit()
    return account


NEAR_MISSES: dict[str, Callable[[World], Account]] = {
    "coordinator of another area": _coordinator_elsewhere,
    "coordinator limited to another of their agency's areas": _coordinator_limited_to_another_area,
    "IDVA not assigned to the case": _idva_not_assigned,
    "referrer at another agency in the area": _referrer_in_the_area,
    "disclosure since withdrawn": _withdrawn_disclosure,
    "break-glass expired": _expired_break_glass,
}


@pytest.mark.parametrize("near_miss", NEAR_MISSES)
def test_almost_a_relationship_is_not_one(app: Flask, world: World, clock: FakeClock, near_miss: str) -> None:
    account = NEAR_MISSES[near_miss](world)
    browser = signed_in(app, account, clock)

    assert browser.get(f"/cases/{world.case.public_id}").status_code == 404
    assert browser.get(f"/people/{world.victim.public_id}").status_code == 404
    assert references_listed(browser) == set()
    assert events("case.view", world.case.public_id, actor=account)[-1].outcome == "denied"


def test_user_on_the_must_not_receive_list_gets_not_found_despite_a_relationship(
    app: Flask, world: World, clock: FakeClock
) -> None:
    colleague = make_user(Role.COORDINATOR, agency=world.police)  # referring agency and the area's coordinator
    colleague_browser = signed_in(app, colleague, clock)
    assert colleague_browser.get(f"/cases/{world.case.public_id}").status_code == 200
    add_user_to_must_not_receive(world.officer.user, world.case, frozenset(_working()), colleague.user)
    db.session.commit()

    response = colleague_browser.get(f"/cases/{world.case.public_id}")

    assert response.status_code == 404
    assert world.case.reference not in text_of(response)
    assert colleague_browser.get(f"/cases/{world.case.public_id}/disclose").status_code == 404
    assert references_listed(colleague_browser) == set()
    assert events("case.view", world.case.public_id, actor=colleague)[-1].outcome == "denied"
    assert must_not_receive_problem(world.case, user=colleague.user) == (
        "This recipient is on the case's must-not-receive list"
    )


def test_user_on_the_must_not_receive_list_cannot_read_the_victims_person_page(
    app: Flask, world: World, clock: FakeClock
) -> None:
    colleague = make_user(Role.REFERRER, agency=world.police)  # the victim was recorded by this agency
    add_user_to_must_not_receive(world.officer.user, world.case, frozenset(_working()), colleague.user)
    db.session.commit()
    browser = signed_in(app, colleague, clock)

    response = browser.get(f"/people/{world.victim.public_id}")

    assert VICTIM["address"] not in text_of(response)
    assert response.status_code == 404
    assert events("person.view", world.victim.public_id, actor=colleague)[-1].outcome == "denied"


def _working() -> set[Any]:
    from marac.access import CaseRelation

    return {CaseRelation.REFERRING_AGENCY}


# --- fields narrower than the case ---------------------------------------------------------------------------------


def _housing_with_disclosure(world: World) -> Account:
    housing = make_agency(AgencyKind.HOUSING)
    make_disclosure(world.case, housing, world.officer.user)
    return make_user(Role.AGENCY_REP, agency=housing)


def _health_with_disclosure(world: World) -> Account:
    health = make_agency(AgencyKind.HEALTH)
    make_disclosure(world.case, health, world.officer.user, parts=["summary", "victim", "household", "health"])
    return make_user(Role.AGENCY_REP, agency=health)


def _housing_referrer(world: World) -> Account:
    housing = make_agency(AgencyKind.HOUSING, [world.area])
    world.case.referring_agency_id = housing.id
    db.session.commit()
    return make_user(Role.REFERRER, agency=housing)


SHOWN = {
    "Phone numbers": "07700 900123",
    "Email address": VICTIM["email"],
    "Address": VICTIM["address"],
    "Postcode": "NV1 1AA",
    "Health detail": VICTIM["health_notes"],
}
#: Viewer -> the victim's fields they see (the rest are restricted).
VICTIM_FIELDS_SEEN: dict[str, tuple[Callable[[World], Account], set[str]]] = {
    "housing, by disclosure": (_housing_with_disclosure, set()),
    "police, referring": (lambda w: w.officer, {"Phone numbers", "Email address", "Address", "Postcode"}),
    "assigned IDVA": (_assigned_idva, set(PERSON_FIELDS)),
    "health, by disclosure": (_health_with_disclosure, {"Health detail"}),
    "housing, referring": (_housing_referrer, {"Address", "Postcode"}),
}


@pytest.mark.parametrize("viewer", VICTIM_FIELDS_SEEN)
def test_victims_contact_address_and_health_are_shown_only_to_those_entitled(
    app: Flask, world: World, clock: FakeClock, viewer: str
) -> None:
    make_account, seen = VICTIM_FIELDS_SEEN[viewer]
    browser = signed_in(app, make_account(world), clock)

    response = browser.get(f"/cases/{world.case.public_id}")
    person_page = browser.get(f"/people/{world.victim.public_id}")

    assert response.status_code == person_page.status_code == 200
    title, fields = person_card(response, "Victim")
    assert title.startswith(f"Victim: {world.victim.given_name} {world.victim.family_name}")
    on_person_page = summary_rows(person_page.get_data(as_text=True))
    for shown in (fields, on_person_page):
        assert shown["Date of birth"] == f"{world.victim.date_of_birth.day} {world.victim.date_of_birth:%B %Y}"
        for label in PERSON_FIELDS:
            if label in seen:
                assert shown[label] == SHOWN[label], (viewer, label)
            else:
                assert shown[label].startswith(RESTRICTED), (viewer, label)
    hidden_values = [SHOWN[label] for label in PERSON_FIELDS if label not in seen]
    hidden_values += ["+447700900123", "7700900123"] if "Phone numbers" not in seen else []
    for page in (text_of(response), text_of(person_page)):
        for value in hidden_values:
            assert value not in page, (viewer, value)


def test_restricted_field_says_who_may_see_it(app: Flask, world: World, clock: FakeClock) -> None:
    browser = signed_in(app, _housing_with_disclosure(world), clock)

    _title, fields = person_card(browser.get(f"/cases/{world.case.public_id}"), "Victim")

    assert fields["Phone numbers"] == "Restricted safe contact details (IDVA and police only)"
    assert fields["Health detail"] == "Restricted health detail (health and IDVA only)"
    assert fields["Address"] == "Restricted current address (police, IDVA and the referring agency only)"


def test_perpetrators_address_and_phone_are_shown_to_anyone_with_access_but_not_their_health(
    app: Flask, world: World, clock: FakeClock
) -> None:
    browser = signed_in(app, _housing_with_disclosure(world), clock)

    title, fields = person_card(browser.get(f"/cases/{world.case.public_id}"), "Perpetrator")

    assert title.startswith(f"Perpetrator: {world.perpetrator.given_name} {world.perpetrator.family_name}")
    assert fields["Address"] == PERPETRATOR["address"]
    assert fields["Postcode"] == "EB2 2BB"
    assert fields["Phone numbers"] == "07700 900456"
    assert fields["Email address"] == PERPETRATOR["email"]
    assert fields["Health detail"].startswith(RESTRICTED)


# --- opening a case through the form ------------------------------------------------------------------------------

TYPED = {
    "given_name": "Rhiannon",
    "family_name": "Ashworth-Pryce",
    "phones": "07700 900 777",
    "email": "R.Ashworth@Example.org",
    "address": "9 Kestrel Way\nNorthvale",
    "postcode": "nv1 9zz",
    "health_notes": "Diabetic; uses insulin",
    "language": "Welsh",
}


def new_case_form(in_area: Area, **overrides: Any) -> dict[str, Any]:
    """What a referrer types into "Open a case" (GOV.UK dates as three values)."""
    data: dict[str, Any] = {
        "area": in_area.public_id,
        "referred_on": ["20", "11", "2026"],
        "idva": "",
        "date_of_birth": ["27", "3", "1985"],
        "gender": "Female",
        "ethnicity": "",
        "disability": "",
        "sexual_orientation": "",
        "aliases": "",
        **TYPED,
    }
    data.update(overrides)
    return data


@pytest.fixture
def referrer(app: Flask, client: FlaskClient, clock: FakeClock) -> tuple[Account, Area]:
    """A police referrer signed in on `client`, whose agency serves one area."""
    area = make_area()
    account = make_user(Role.REFERRER, agency=make_agency(AgencyKind.POLICE, [area]))
    login_as(client, account, clock)
    return account, area


def test_opening_a_case_records_a_sealed_victim_and_goes_on_to_check_matches(
    client: FlaskClient, referrer: tuple[Account, Area]
) -> None:
    account, area = referrer

    response = post_form(client, "/cases/new", new_case_form(area))

    assert response.status_code == 302
    case = db.session.scalars(select(Case).where(Case.referred_by_id == account.user.id)).one()
    victim = case.victim
    assert response.headers["Location"] == f"/people/{victim.public_id}/matches?case={case.public_id}"
    assert (case.area_id, case.referring_agency_id, case.referred_on) == (
        area.id,
        account.user.agency_id,
        date(2026, 11, 20),
    )
    assert [(p.role, p.person_id) for p in case.parties] == [("victim", victim.id)]
    assert (victim.given_name, victim.family_name, victim.date_of_birth) == (
        "Rhiannon",
        "Ashworth-Pryce",
        date(1985, 3, 27),
    )
    assert (victim.phones, victim.email, victim.postcode) == (["+447700900777"], "r.ashworth@example.org", "NV19ZZ")
    assert victim.address == "9 Kestrel Way\nNorthvale"
    assert events("case.create", case.public_id, actor=account)
    matches = client.get(response.headers["Location"])
    assert matches.status_code == 200
    assert "Is Rhiannon Ashworth-Pryce already known?" in text_of(matches)


def test_opening_a_case_stores_no_plaintext_in_the_database(
    client: FlaskClient, referrer: tuple[Account, Area]
) -> None:
    account, area = referrer
    post_form(client, "/cases/new", new_case_form(area))
    victim_id = db.session.scalar(select(Case.victim_id).where(Case.referred_by_id == account.user.id))

    row = db.session.execute(text("SELECT * FROM persons WHERE id = :id"), {"id": victim_id}).mappings().one()
    stored = b"".join(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row.values())
    terms = db.session.execute(text("SELECT digest FROM person_terms WHERE person_id = :id"), {"id": victim_id})
    stored += b"".join(bytes(t[0]) for t in terms)
    audit_rows = db.session.execute(text("SELECT * FROM audit_events")).all()
    audited = " ".join(str(v) for r in audit_rows for v in r).lower()

    assert row["given_name"] is not None
    assert row["family_name"] is not None
    for value in [*TYPED.values(), "+447700900777", "NV19ZZ", "1985-03-27", "Ashworth", "Kestrel", "insulin"]:
        for form in {value, value.lower(), value.upper()}:
            assert form.encode() not in stored, value
            assert form.lower() not in audited, value


FORM_PROBLEMS = {
    "date of birth in the future": ({"date_of_birth": ["1", "1", "2030"]}, "Date of birth must be in the past"),
    "postcode that is not one": ({"postcode": "NOT A CODE"}, "Enter a real postcode, like AA1 1AA"),
    "phone that is not one": ({"phones": "07700 900 982\n12"}, "Enter phone numbers like 07700 900 982"),
    "email without an @": ({"email": "nobody.example.org"}, "Enter an email address in the correct format"),
    "no name at all": ({"given_name": " ", "family_name": ""}, "a given name or a family name"),
    "other name with one word": ({"aliases": "Rhi"}, "Enter each other name as a given name and a family name"),
    "date of birth not a date": ({"date_of_birth": ["31", "2", "1985"]}, "Date of birth must be a real date"),
    "date of birth in one part": ({"date_of_birth": ["1985"]}, "Date of birth must be a real date"),
    "date of birth before 1900": ({"date_of_birth": ["1", "1", "1850"]}, "Date of birth must be a real date"),
    "referral date in one part": ({"referred_on": ["2026"]}, "Date of referral must be a real date"),
    "referral date missing": ({"referred_on": ["", "", ""]}, "Enter the date of referral"),
    "referral date in the future": (
        {"referred_on": ["26", "11", "2026"]},
        "Date of referral must be today or in the past",
    ),
    "given name far too long": ({"given_name": "A" * 101}, "Given names must be 100 characters or fewer"),
    "gender not offered": ({"gender": "Robot"}, "Not a valid choice"),
    "no area": ({"area": ""}, "Select the MARAC area"),
    "an IDVA that does not exist": ({"idva": "00000000-0000-4000-8000-000000000000"}, "Select an IDVA from the list"),
}


@pytest.mark.parametrize("problem", FORM_PROBLEMS)
def test_bad_input_on_the_new_case_form_is_explained_and_saves_nothing(
    client: FlaskClient, referrer: tuple[Account, Area], problem: str
) -> None:
    _account, area = referrer
    overrides, message = FORM_PROBLEMS[problem]
    people, cases, audited = count(Person), count(Case), count(AuditEvent)

    response = post_form(client, "/cases/new", new_case_form(area, **overrides), form_path="/cases/new")

    assert response.status_code == 400
    page = text_of(response)
    assert "There is a problem" in page
    assert message in page
    assert (count(Person), count(Case)) == (people, cases)
    db.session.expire_all()
    new_events = db.session.scalars(select(AuditEvent.action).where(AuditEvent.seq > audited)).all()
    assert "person.create" not in new_events
    assert "case.create" not in new_events


def test_tampered_date_with_five_parts_is_refused(client: FlaskClient, referrer: tuple[Account, Area]) -> None:
    _account, area = referrer
    people = count(Person)

    response = post_form(client, "/cases/new", new_case_form(area, date_of_birth=["27", "3", "1985", "4", "9"]))

    assert response.status_code == 400
    assert "Date of birth must be a real date" in text_of(response)
    assert count(Person) == people


def test_area_the_user_does_not_work_in_is_refused(client: FlaskClient, referrer: tuple[Account, Area]) -> None:
    elsewhere = make_area()
    make_agency(AgencyKind.POLICE, [elsewhere])
    people, cases = count(Person), count(Case)

    response = post_form(client, "/cases/new", new_case_form(elsewhere), form_path="/cases/new")

    assert response.status_code == 400
    assert "Select an area you work in" in text_of(response)
    assert elsewhere.name not in text_of(response)
    assert (count(Person), count(Case)) == (people, cases)


def test_new_case_form_offers_only_the_users_areas(client: FlaskClient, referrer: tuple[Account, Area]) -> None:
    elsewhere = make_area()
    _account, area = referrer

    page = text_of(client.get("/cases/new"))

    assert area.name in page
    assert elsewhere.name not in page


# --- adding people --------------------------------------------------------------------------------------------------


def test_adding_a_perpetrator_puts_them_on_the_must_not_receive_list(
    app: Flask, world: World, clock: FakeClock
) -> None:
    browser = signed_in(app, world.officer, clock)
    path = f"/cases/{world.case.public_id}/people/new"
    data = {
        "role": "perpetrator",
        "relationship": "partner",
        "same_household": "y",
        "given_name": "Darren",
        "family_name": "Kettley",
        "email": "d.kettley@example.com",
        "phones": "07700 900 314",
        "date_of_birth": ["2", "2", "1980"],
        "gender": "Male",
        "ethnicity": "",
        "disability": "",
        "sexual_orientation": "",
    }

    response = browser.post(path, data={"csrf_token": csrf_token(browser, path), **data})

    assert response.status_code == 302
    db.session.expire_all()
    party = db.session.scalars(
        select(CaseParty)
        .where(CaseParty.case_id == world.case.id, CaseParty.person_id != world.victim.id)
        .where(CaseParty.person_id != world.perpetrator.id)
    ).one()
    added = party.person
    assert response.headers["Location"] == f"/people/{added.public_id}/matches?case={world.case.public_id}"
    assert (party.role, party.relationship_to_victim, party.is_same_household) == ("perpetrator", "partner", True)
    assert db.session.scalars(
        select(MustNotReceive).where(MustNotReceive.case_id == world.case.id, MustNotReceive.person_id == added.id)
    ).one()
    link = db.session.scalars(select(HouseholdLink).where(HouseholdLink.related_person_id == added.id)).one()
    assert (link.person_id, link.relationship_type, link.is_same_household) == (world.victim.id, "partner", True)
    assert must_not_receive_problem(world.case, email="D.Kettley@example.com") == (
        "This recipient matches someone on the case's must-not-receive list"
    )
    assert must_not_receive_problem(world.case, phone="+44 7700 900314") is not None
    event = events("case.add_party", world.case.public_id, actor=world.officer)[-1]
    assert event.details == {"person": added.public_id, "role": "perpetrator"}


def test_adding_a_person_to_a_case_read_only_through_a_disclosure_is_forbidden(
    app: Flask, world: World, clock: FakeClock
) -> None:
    account = _housing_with_disclosure(world)
    browser = signed_in(app, account, clock)
    people = count(Person)

    response = browser.get(f"/cases/{world.case.public_id}/people/new")

    assert response.status_code == 403
    assert events("case.add_party", world.case.public_id, actor=account)[-1].outcome == "denied"
    assert "Add a person" not in text_of(browser.get(f"/cases/{world.case.public_id}"))
    assert count(Person) == people


# --- a sealed value moved from another row --------------------------------------------------------------------------


def swap_given_name(victim: Person, other: Person) -> None:
    """What someone with write access to the database might try: copy another person's sealed name into this row."""
    table = Person.__table__
    db.session.execute(update(table).where(table.c.id == victim.id).values(given_name=other.given_name_enc))
    db.session.commit()
    db.session.expire_all()


def test_case_page_shows_a_moved_ciphertext_as_unreadable_and_keeps_the_rest(
    app: Flask, world: World, clock: FakeClock
) -> None:
    other = make_person(given_name="Zephyrine")
    swap_given_name(world.victim, other)
    browser = signed_in(app, world.officer, clock)

    response = browser.get(f"/cases/{world.case.public_id}")

    assert response.status_code == 200
    title, fields = person_card(response, "Victim")
    assert fields["Given names"].startswith("Unreadable")
    assert fields["Family name"] == world.victim.family_name
    assert fields["Phone numbers"] == "07700 900123"
    assert fields["Address"] == VICTIM["address"]
    assert title.startswith(f"Victim: unreadable {world.victim.family_name}")
    assert other.given_name not in text_of(response)


def test_case_page_audits_a_moved_ciphertext(app: Flask, world: World, clock: FakeClock) -> None:
    swap_given_name(world.victim, make_person(given_name="Zephyrine"))
    browser = signed_in(app, world.officer, clock)

    assert browser.get(f"/cases/{world.case.public_id}").status_code == 200

    [event] = events("field.unreadable", world.victim.public_id)
    assert (event.object_type, event.outcome, event.actor_user_id) == ("persons", "failure", world.officer.user.id)
    assert event.details == {"column": "given_name", "reason": "authentication failed"}


def test_person_page_shows_and_audits_a_moved_ciphertext(app: Flask, world: World, clock: FakeClock) -> None:
    other = make_person(given_name="Zephyrine")
    swap_given_name(world.victim, other)
    browser = signed_in(app, world.officer, clock)

    response = browser.get(f"/people/{world.victim.public_id}")

    assert response.status_code == 200
    fields = summary_rows(response.get_data(as_text=True))
    assert fields["Given names"].startswith("Unreadable")
    assert fields["Family name"] == world.victim.family_name
    assert other.given_name not in text_of(response)
    [event] = events("field.unreadable", world.victim.public_id)
    assert (event.object_type, event.outcome, event.actor_user_id) == ("persons", "failure", world.officer.user.id)
    assert event.details == {"column": "given_name", "reason": "authentication failed"}
