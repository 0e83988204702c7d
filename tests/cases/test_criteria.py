"""The MARAC referral criteria: visible high risk at the area's threshold, professional judgement, potential
escalation over 365 days, and repeat MARAC within 12 months of the last referral of the same victim and perpetrator,
across linked records; worked out in a handful of queries."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from marac import db
from marac.access import Role
from marac.cases.criteria import criteria_labels, evaluate
from marac.cases.models import Case, CaseStatus, Referral
from marac.cases.questionnaires import active_questionnaire, ensure_builtin_questionnaires
from marac.cases.risk import complete_assessment, save_answers, start_assessment
from marac.orgs.models import Agency, Area
from marac.people.models import Person, PersonKind
from marac.people.services import link_persons
from tests.factories import make_agency, make_area, make_case, make_incident, make_person, make_user

TODAY = date(2026, 11, 25)  # the test clock's date
BIRTHDAY = date(1988, 7, 14)
REASONS = "Victim disclosed a new threat with a knife last night"


@dataclass
class Place:
    """An area, a police force in it, a victim and a perpetrator."""

    area: Area
    police: Agency
    victim: Person
    perpetrator: Person


@pytest.fixture
def place(app: Flask) -> Place:
    """Where the cases happen."""
    area = make_area()
    return Place(
        area=area,
        police=make_agency(areas=[area]),
        victim=make_person(given_name="Catherine", family_name="Okafor", date_of_birth=BIRTHDAY),
        perpetrator=make_person(PersonKind.PERPETRATOR),
    )


def days_ago(days: int) -> date:
    """A date `days` before the test's today."""
    return TODAY - timedelta(days=days)


def new_case(place: Place, *, perpetrator: Person | None = None, victim: Person | None = None) -> Case:
    """Today's referral of the victim about the perpetrator."""
    return make_case(
        place.area,
        place.police,
        victim or place.victim,
        referred_on=TODAY,
        perpetrator=perpetrator or place.perpetrator,
    )


def earlier_case(place: Place, days: int, status: CaseStatus = CaseStatus.OPEN, **people: Any) -> Case:
    """A referral `days` ago of the same victim and perpetrator (unless told otherwise), in `status`."""
    case = make_case(
        place.area,
        place.police,
        people.get("victim", place.victim),
        referred_on=days_ago(days),
        perpetrator=people.get("perpetrator", place.perpetrator),
    )
    case.status = status.value
    db.session.commit()
    return case


def assess(case: Case, yes: int, **judgement: Any) -> None:
    """Complete a DASH assessment of the case with `yes` "yes" answers."""
    ensure_builtin_questionnaires(db.session)
    dash = active_questionnaire("dash-ric")
    assert dash is not None
    keys = [q["key"] for q in dash.definition["questions"]]  # type: ignore[union-attr]
    assessment = start_assessment(None, case, dash)
    save_answers(None, assessment, {key: "yes" if n < yes else "no" for n, key in enumerate(keys)}, None)
    options = {"raise_to_high": False, "judgement_reasons": None} | judgement
    complete_assessment(None, assessment, case.area, **options)


# --- visible high risk and professional judgement -------------------------------------------------------------------


@pytest.mark.parametrize(("yes", "met"), [(13, False), (14, True)])
def test_visible_high_risk_from_the_area_threshold(place: Place, yes: int, met: bool) -> None:
    case = new_case(place)
    assess(case, yes)

    result = evaluate(case, on=TODAY)

    assert ("visible_high_risk" in result.met) is met
    assert (result.score, result.threshold) == (yes, 14)
    if met:
        assert result.reasons == ["The risk assessment scores 14, at or above the threshold of 14."]


def test_visible_high_risk_follows_a_changed_threshold(place: Place) -> None:
    place.area.marac_threshold = 12
    case = new_case(place)
    assess(case, 12)

    assert evaluate(case, on=TODAY).met == {"visible_high_risk"}


def test_the_latest_complete_assessment_counts(place: Place) -> None:
    case = new_case(place)
    assess(case, 15)
    assess(case, 8)

    result = evaluate(case, on=TODAY)

    assert (result.score, result.met) == (8, set())


def test_no_assessment_means_no_score_and_no_criteria(place: Place) -> None:
    result = evaluate(new_case(place), on=TODAY)

    assert (result.score, result.met, result.reasons, result.is_met) == (None, set(), [], False)


def test_professional_judgement_from_the_assessment(place: Place) -> None:
    case = new_case(place)
    assess(case, 11, raise_to_high=True, judgement_reasons=REASONS)

    result = evaluate(case, on=TODAY)

    assert result.met == {"professional_judgement"}
    assert result.reasons == ["A practitioner has recorded reasons for referring on professional judgement."]


def test_professional_judgement_from_the_referral_reasons(place: Place) -> None:
    case = new_case(place)
    referral = Referral(case_id=case.id)
    db.session.add(referral)
    db.session.flush()
    assert evaluate(case, on=TODAY).met == set()

    referral.judgement_reasons = REASONS
    db.session.flush()

    assert evaluate(case, on=TODAY).met == {"professional_judgement"}


# --- potential escalation --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("oldest", "met", "count"), [(365, True, 3), (366, False, 2)])
def test_three_incidents_in_the_previous_365_days_is_potential_escalation(
    place: Place, oldest: int, met: bool, count: int
) -> None:
    for days in (oldest, 40, 2):
        make_incident(place.victim, place.police, days_ago(days), place.perpetrator)

    result = evaluate(new_case(place), on=TODAY)

    assert ("potential_escalation" in result.met) is met
    assert (result.incident_count, result.escalation_threshold) == (count, 3)


def test_escalation_counts_incidents_of_linked_records_and_any_perpetrator(place: Place) -> None:
    other_record = make_person(given_name="Catherine", family_name="Okafor", date_of_birth=BIRTHDAY)
    other_record.identity_key = place.victim.identity_key
    make_incident(place.victim, place.police, days_ago(100))
    make_incident(other_record, make_agency(areas=[place.area]), days_ago(50), make_person(PersonKind.PERPETRATOR))
    make_incident(other_record, place.police, days_ago(3), place.perpetrator)
    make_incident(make_person(), place.police, days_ago(3), place.perpetrator)  # another victim: not counted

    result = evaluate(new_case(place), on=TODAY)

    assert result.incident_count == 3
    assert "potential_escalation" in result.met
    assert "3 incidents in the 12 months before 25 November 2026, at or above the area's 3." in result.reasons


def test_escalation_follows_the_area_setting(place: Place) -> None:
    place.area.escalation_incidents = 4
    for days in (300, 200, 100):
        make_incident(place.victim, place.police, days_ago(days))

    result = evaluate(new_case(place), on=TODAY)

    assert (result.incident_count, result.escalation_threshold, result.met) == (3, 4, set())


# --- repeat MARAC ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "met"), [(364, True), (365, True), (366, False)])
def test_a_referral_within_12_months_of_the_last_one_is_a_repeat(place: Place, days: int, met: bool) -> None:
    earlier_case(place, days)

    result = evaluate(new_case(place), on=TODAY)

    assert ("repeat_marac" in result.met) is met
    assert result.last_referral_on == days_ago(days)


def test_repeat_reason_names_the_last_referral(place: Place) -> None:
    earlier_case(place, 500)
    earlier_case(place, 200, CaseStatus.CLOSED)

    result = evaluate(new_case(place), on=TODAY)

    assert result.met == {"repeat_marac"}
    assert result.reasons == ["The same victim and perpetrator were referred to MARAC on 9 May 2026, within 12 months."]


@pytest.mark.parametrize("status", [CaseStatus.DRAFT, CaseStatus.BELOW_THRESHOLD, CaseStatus.DUPLICATE])
def test_an_earlier_referral_not_heard_at_marac_does_not_make_a_repeat(place: Place, status: CaseStatus) -> None:
    earlier_case(place, 100, status)

    result = evaluate(new_case(place), on=TODAY)

    assert (result.met, result.last_referral_on) == (set(), None)


def test_repeat_found_through_a_linked_victim_record_with_a_different_phone(place: Place) -> None:
    earlier_case(place, 200)
    new_record = make_person(
        given_name="Catherine", family_name="Okafor", date_of_birth=BIRTHDAY, phones=["+447700900123"]
    )
    case = new_case(place, victim=new_record)
    assert evaluate(case, on=TODAY).met == set()  # not yet known to be the same woman

    link_persons(make_user(Role.IDVA).user, new_record, place.victim)

    assert evaluate(case, on=TODAY).met == {"repeat_marac"}


def test_repeat_found_through_a_linked_perpetrator_record(place: Place) -> None:
    earlier_case(place, 200)
    alias = make_person(PersonKind.PERPETRATOR)
    alias.identity_key = place.perpetrator.identity_key

    assert evaluate(new_case(place, perpetrator=alias), on=TODAY).met == {"repeat_marac"}


def test_a_different_perpetrator_is_not_a_repeat(place: Place) -> None:
    earlier_case(place, 200)

    result = evaluate(new_case(place, perpetrator=make_person(PersonKind.PERPETRATOR)), on=TODAY)

    assert (result.met, result.last_referral_on) == (set(), None)


def test_a_case_without_a_perpetrator_is_not_a_repeat(place: Place) -> None:
    earlier_case(place, 200)
    case = make_case(place.area, place.police, place.victim, referred_on=TODAY)

    assert evaluate(case, on=TODAY).met == set()


def test_abuse_between_them_within_12_months_of_the_last_referral_makes_a_later_referral_a_repeat(
    place: Place,
) -> None:
    last = earlier_case(place, 500)
    make_incident(place.victim, place.police, last.referred_on + timedelta(days=300), place.perpetrator)

    result = evaluate(new_case(place), on=TODAY)

    assert result.met == {"repeat_marac"}
    assert result.reasons == [
        "There was abuse between the same victim and perpetrator within 12 months of their referral to MARAC "
        f"on {last.referred_on.day} {last.referred_on:%B %Y}."
    ]


@pytest.mark.parametrize("after_days", [367, 0])
def test_abuse_outside_the_12_months_after_the_last_referral_is_not_a_repeat(place: Place, after_days: int) -> None:
    last = earlier_case(place, 500)
    make_incident(place.victim, place.police, last.referred_on + timedelta(days=after_days), place.perpetrator)

    assert evaluate(new_case(place), on=TODAY).met == set()


def test_abuse_by_someone_else_after_the_last_referral_is_not_a_repeat(place: Place) -> None:
    last = earlier_case(place, 500)
    other = make_person(PersonKind.PERPETRATOR)
    make_incident(place.victim, place.police, last.referred_on + timedelta(days=100), other)

    assert evaluate(new_case(place), on=TODAY).met == set()


def test_evaluated_on_the_referral_date_by_default(place: Place) -> None:
    earlier_case(place, 400)
    case = make_case(place.area, place.police, place.victim, referred_on=days_ago(100), perpetrator=place.perpetrator)

    assert evaluate(case).on == days_ago(100)
    assert evaluate(case).met == {"repeat_marac"}
    assert evaluate(case, on=TODAY).met == set()  # 300 days after the earlier one, but 400 days before today


# --- all together, and cost -------------------------------------------------------------------------------------------


def test_every_criterion_at_once_in_display_order(place: Place) -> None:
    earlier_case(place, 100)
    for days in (30, 20, 10):
        make_incident(place.victim, place.police, days_ago(days), place.perpetrator)
    case = new_case(place)
    assess(case, 15, raise_to_high=True, judgement_reasons=REASONS)

    result = evaluate(case, on=TODAY)

    assert result.keys == list(criteria_labels)
    assert [criteria_labels[key] for key in result.keys] == [
        "Visible high risk",
        "Professional judgement",
        "Potential escalation",
        "Repeat MARAC",
    ]
    assert len(result.reasons) == 4


@pytest.fixture
def statements(app: Flask) -> Iterator[list[str]]:
    """SQL statements run while the test is collecting them."""
    seen: list[str] = []
    engine = db.session.get_bind().engine

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    yield seen
    event.remove(engine, "before_cursor_execute", count)


def test_evaluating_takes_a_handful_of_queries(place: Place, statements: list[str]) -> None:
    earlier_case(place, 500)
    make_incident(place.victim, place.police, days_ago(200), place.perpetrator)
    case = new_case(place)
    assess(case, 15)
    db.session.expire_all()
    case = db.session.get(Case, case.id)  # type: ignore[assignment]
    statements.clear()

    evaluate(case, on=TODAY)

    assert len(statements) <= 8, statements
