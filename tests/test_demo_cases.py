"""The demo's synthetic cases, seeded by `marac demo --seed-only` into a real committed database."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, or_, select

from marac import create_app, db
from marac.audit.models import AuditEvent
from marac.auth.models import User
from marac.cases.models import Case, CaseParty, Incident, PartyRole
from marac.demo import DEMO_DOMAIN, seed_demo
from marac.orgs.models import Agency
from marac.people import forms as person_forms
from marac.people.flags import months_before, repeat_flag, serial_flag
from marac.people.matching import fold, normalise_postcode
from marac.people.models import HouseholdLink, MatchDecision, Person, age_on
from marac.people.services import identity_person_ids, persons_by_ids
from marac.sharing.models import BreakGlassGrant, Disclosure, MustNotReceive
from marac.sharing.services import ARTICLE6, CONDITIONS, MIN_REASON
from tests.conftest import TEST_SETTINGS, create_test_database, migrated_engine
from tests.factories import post_form

#: Seeding must stay quick enough for `marac demo` and the browser tests (seconds, with test password hashing).
SEED_SECONDS = 20


@dataclass
class Demo:
    """The seeded demo: its app, what `marac demo` printed, and how long seeding took."""

    app: Flask
    output: str
    seconds: float


def seeded_app(tmp: Path) -> tuple[Flask, str, float, Callable[[], None]]:
    """An app on a fresh migrated database seeded by `marac demo --seed-only`: (app, output, seconds, dropper)."""
    url, drop = create_test_database(tmp)
    migrated_engine(url).dispose()
    app = create_app({**TEST_SETTINGS, "MARAC_INSTANCE_PATH": str(tmp), "MARAC_DATABASE_URL": url})
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(args=["demo", "--seed-only"])
    assert result.exit_code == 0, result.output
    return app, result.output, time.perf_counter() - started, drop


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo seeded once for this module (tests only read it)."""
    app, output, seconds, drop = seeded_app(tmp_path_factory.mktemp("demo-cases"))
    yield Demo(app, output, seconds)
    app.extensions["marac_engine"].dispose()
    drop()


@pytest.fixture
def ctx(demo: Demo) -> Iterator[Flask]:
    """An app context on the seeded database."""
    with demo.app.app_context():
        yield demo.app


def demo_user(login: str) -> User:
    """A demo account by its login name."""
    return db.session.scalars(select(User).where(User.email == f"{login}@{DEMO_DOMAIN}")).one()


def all_cases() -> list[Case]:
    """Every seeded case."""
    return list(db.session.scalars(select(Case).order_by(Case.id)))


def test_seeding_is_quick_and_prints_only_counts(demo: Demo, ctx: Flask) -> None:
    assert demo.seconds < SEED_SECONDS
    assert "seeded synthetic demo data" in demo.output
    persons = list(db.session.scalars(select(Person)))
    names = {p.family_name for p in persons} | {p.given_name for p in persons}
    phones = {phone[-6:] for p in persons for phone in p.phones or []}
    assert len(names) > 100
    assert not [n for n in names if n and n in demo.output]
    assert not [n for n in phones if n in demo.output]


def test_about_200_cases_over_18_months_in_both_areas(ctx: Flask) -> None:
    cases, today = all_cases(), db.utcnow().date()

    # About 200 cases, the 7 referrals in progress and the 18 referrals accepted for the demo's meetings.
    assert 215 <= len(cases) <= 235
    per_area = {area_id: sum(c.area_id == area_id for c in cases) for area_id in {c.area_id for c in cases}}
    assert len(per_area) == 2
    assert min(per_area.values()) >= 60
    dates = [c.referred_on for c in cases]
    assert max(dates) <= today
    assert min(dates) >= months_before(today, 18) - timedelta(days=1)
    assert sum(d < months_before(today, 12) for d in dates) >= 30  # spread beyond the 12-month window
    kinds = set(db.session.scalars(select(Agency.kind).join(Case, Case.referring_agency_id == Agency.id)))
    assert len(kinds) >= 6


def test_every_case_has_a_fully_described_victim_and_a_perpetrator(ctx: Flask) -> None:
    cases = all_cases()
    victims = [c.victim for c in cases]

    for case in cases:
        perpetrators = [p for p in case.parties if p.role == PartyRole.PERPETRATOR.value]
        assert 1 <= len(perpetrators) <= 2
        listed = set(db.session.scalars(select(MustNotReceive.person_id).where(MustNotReceive.case_id == case.id)))
        assert {p.person_id for p in perpetrators} <= listed
    for victim in victims:
        assert victim.given_name
        assert victim.family_name
        assert isinstance(victim.date_of_birth, date)
        assert 1 <= len(victim.phones) <= 2
        assert all(p.startswith("+447700900") for p in victim.phones)  # Ofcom's drama range, stored in E.164
        assert victim.address
        assert normalise_postcode(victim.postcode) == victim.postcode
        assert victim.gender in person_forms.GENDERS
        assert victim.ethnicity in person_forms.ETHNICITIES
        assert victim.disability in person_forms.YES_NO_UNKNOWN
        assert victim.sexual_orientation in person_forms.ORIENTATIONS
    assert sum(bool(v.aliases) for v in victims) >= 10
    assert sum(bool(v.email) for v in victims) >= 50
    assert sum(bool(v.health_notes) for v in victims) >= 30
    assert 1 <= sum(v.interpreter_needed is True for v in victims) <= 40
    assert sum(sum(p.role == PartyRole.PERPETRATOR.value for p in c.parties) == 2 for c in cases) >= 5


def test_incidents_come_from_the_police_and_other_agencies(ctx: Flask) -> None:
    rows = db.session.execute(select(Incident.case_id, Agency.kind).join(Agency, Incident.agency_id == Agency.id))
    per_case: dict[int | None, int] = {}
    kinds = set()
    for case_id, kind in rows:
        per_case[case_id] = per_case.get(case_id, 0) + 1
        kinds.add(kind)

    assert len(per_case) >= 100
    assert max(n for case_id, n in per_case.items() if case_id is not None) == 4
    assert {"police", "housing", "health"} <= kinds
    assert None in per_case  # incidents known before any referral


def test_person_names_never_occur_in_staff_or_agency_names(ctx: Flask) -> None:
    """Staff and agency names are stored in clear by design: a person sharing one would look like a leak."""
    clear = [u.display_name for u in db.session.scalars(select(User))]
    clear += [a.name for a in db.session.scalars(select(Agency))]
    folded = fold(" | ".join(clear))
    parts = set()
    for person in db.session.scalars(select(Person)):
        parts |= {person.given_name, person.family_name, *(w for a in person.aliases or [] for w in a.split())}

    assert len(parts) > 300
    assert not [p for p in parts if fold(p) in folded]


def test_children_aged_0_to_17_live_with_the_victim(ctx: Flask) -> None:
    today = db.utcnow().date()
    parties = list(db.session.scalars(select(CaseParty).where(CaseParty.role == PartyRole.CHILD.value)))

    assert len(parties) >= 100
    assert len({p.case_id for p in parties}) >= 80
    ages = {age_on(p.person.date_of_birth, today) for p in parties}
    assert ages <= set(range(18))
    assert {0, 17} & ages
    assert len(ages) >= 12
    for party in parties:
        assert party.is_same_household
        case = db.session.get(Case, party.case_id)
        assert case is not None
        assert party.person.date_of_birth < case.referred_on
        link = db.session.scalars(
            select(HouseholdLink).where(
                HouseholdLink.person_id == case.victim_id, HouseholdLink.related_person_id == party.person_id
            )
        ).one()
        assert (link.relationship_type, link.is_same_household) == ("child", True)


def test_repeat_victims_are_found_through_linked_records_with_new_phone_and_postcode(ctx: Flask) -> None:
    found = []
    for case in all_cases():
        victim = case.victim
        others = [p for p in identity_person_ids(victim) if p != victim.id]
        flag = repeat_flag(victim, case.referred_on, exclude_case=case)
        earlier_cases = list(db.session.scalars(select(Case).where(Case.id.in_(flag.case_ids))))
        since, on = flag.since, case.referred_on
        on_own_record = [c for c in earlier_cases if c.victim_id == victim.id]
        incidents_elsewhere = db.session.scalar(
            select(func.count(Incident.id)).where(
                Incident.victim_id.in_(others), Incident.occurred_on >= since, Incident.occurred_on <= on
            )
        )
        if not flag.is_repeat or on_own_record or not (earlier_cases or incidents_elsewhere):
            continue
        for other in (db.session.get(Person, p) for p in others):
            assert other is not None
            assert other.date_of_birth == victim.date_of_birth
            assert not set(other.phones) & set(victim.phones)
            assert other.postcode != victim.postcode
        found.append((case, bool(earlier_cases)))

    assert len(found) >= 5
    assert sum(from_case for _, from_case in found) >= 4
    assert any(not from_case for _, from_case in found)  # first known from a police incident
    spellings = [{p.given_name for p in persons_by_ids(identity_person_ids(c.victim)).values()} for c, _ in found]
    assert sum(len(names) == 2 for names in spellings) >= 3  # e.g. "Katherine" and "Catherine": they sound alike
    decisions = list(db.session.scalars(select(MatchDecision).where(MatchDecision.decision == "linked")))
    assert all(d.score >= 40 for d in decisions)


def test_a_serial_perpetrator_has_three_victims_across_linked_records(ctx: Flask) -> None:
    perpetrators = db.session.scalars(select(Person).where(Person.kind == "perpetrator"))
    flags = [(p, serial_flag(p)) for p in perpetrators]
    serial = [(p, f) for p, f in flags if f.victim_count >= 3]

    assert serial
    person, flag = serial[0]
    assert flag.is_serial
    assert len(flag.case_ids) == 3
    assert len(identity_person_ids(person)) == 2  # the third case is on a second record, linked


def test_disclosures_record_lawful_basis_and_consent(ctx: Flask) -> None:
    disclosures = list(db.session.scalars(select(Disclosure)))

    assert len(disclosures) >= 8
    assert {d.consent for d in disclosures} >= {"given", "refused", "not_sought"}
    for disclosure in disclosures:
        assert disclosure.article6_basis in ARTICLE6
        assert disclosure.special_condition in CONDITIONS
        assert disclosure.from_agency_id != disclosure.to_agency_id
        assert len(disclosure.purpose) >= 10
        if disclosure.consent == "given":
            assert disclosure.no_consent_reason is None
        else:
            assert len(disclosure.no_consent_reason) >= MIN_REASON


def test_break_glass_uses_await_the_dpo(ctx: Flask) -> None:
    grants = list(db.session.scalars(select(BreakGlassGrant)))
    awaiting = [g for g in grants if g.reviewed_at is None]

    assert len(awaiting) >= 2
    assert all(len(g.reason) >= MIN_REASON for g in grants)
    for grant in grants:
        case = db.session.get(Case, grant.case_id)
        assert case is not None
        assert case.referring_agency_id != grant.user.agency_id
        assert case.assigned_idva_id != grant.user_id


def test_linking_and_searching_are_audited_without_values(ctx: Flask) -> None:
    searches = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.search")))
    links = list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "person.link")))

    assert len(searches) >= 6
    assert len(links) >= 6
    for event in searches:
        assert set(event.details or {}) == {"fields", "results"}


def test_signing_in_as_the_idva_shows_their_cases(demo: Demo) -> None:
    with demo.app.app_context():
        idva = demo_user("idva")
        visible = or_(Case.assigned_idva_id == idva.id, Case.referring_agency_id == idva.agency_id)
        expected = db.session.scalar(select(func.count(Case.id)).where(visible))
        assigned = db.session.scalar(select(func.count(Case.id)).where(Case.assigned_idva_id == idva.id))
    accounts = json.loads(Path(demo.app.config["MARAC_DEMO_ACCOUNTS_FILE"]).read_text())
    account = next(a for a in accounts if a["email"] == idva.email)
    client: FlaskClient = demo.app.test_client()

    assert (assigned or 0) >= 50
    response = post_form(client, "/sign-in", {"email": account["email"], "password": account["password"]})
    assert response.status_code == 302
    response = post_form(client, "/sign-in/code", {"code": pyotp.TOTP(account["totp_secret"]).now()})
    assert response.status_code == 302
    page = client.get("/cases/").get_data(as_text=True)
    assert f"{expected} cases" in page


def test_a_second_run_keeps_what_is_there(demo: Demo, ctx: Flask) -> None:
    before = db.session.scalar(select(func.count(Case.id)))

    assert seed_demo(Path(demo.app.config["MARAC_DEMO_ACCOUNTS_FILE"])) is None
    assert db.session.scalar(select(func.count(Case.id))) == before


def test_every_run_makes_the_same_people(demo: Demo, tmp_path: Path) -> None:
    def people(app: Flask) -> list[tuple[object, ...]]:
        with app.app_context():
            rows = db.session.scalars(select(Person).order_by(Person.id))
            return [
                (p.kind, p.given_name, p.family_name, p.date_of_birth, tuple(p.phones or ()), p.postcode) for p in rows
            ]

    other, _output, _seconds, drop = seeded_app(tmp_path)
    try:
        assert people(other) == people(demo.app)
    finally:
        other.extensions["marac_engine"].dispose()
        drop()


def test_referrals_wait_at_every_stage_and_the_overdue_lists_are_never_empty(ctx: Flask) -> None:
    from marac.access import acting_offline
    from marac.cases.overdue import area_overdue, my_overdue

    statuses = set(db.session.scalars(select(Case.status)))
    assert {"draft", "awaiting_sign_off", "awaiting_decision", "open"} <= statuses
    idva = db.session.scalars(select(User).where(User.email == f"idva@{DEMO_DOMAIN}")).one()
    coordinator = db.session.scalars(select(User).where(User.email == f"coordinator@{DEMO_DOMAIN}")).one()
    with acting_offline([idva, coordinator]):
        mine = {item.kind for item in my_overdue(idva)}
        area = {item.kind for item in area_overdue(coordinator)}
    assert {"plan_review", "trigger_review"} <= mine
    assert {"referral_decision", "referral_sign_off"} <= area
