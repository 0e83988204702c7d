"""Dates are London dates; persons are stored in one format whatever the source."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import Flask

from marac.people.models import PersonKind
from marac.people.services import PersonDetails, PersonError, record_person
from tests.conftest import FakeClock
from tests.factories import make_case, make_person


def test_a_referral_dated_today_just_after_midnight_in_summer_is_accepted(app: Flask, clock: FakeClock) -> None:
    clock.current = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 July in London (BST)

    case = make_case(referred_on=date(2026, 7, 2))

    assert case.referred_on == date(2026, 7, 2)


def test_a_referral_dated_tomorrow_in_london_is_refused(app: Flask, clock: FakeClock) -> None:
    from marac.cases.services import CaseError

    clock.current = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 23:30 on 1 July in London

    with pytest.raises(CaseError, match="cannot be in the future"):
        make_case(referred_on=date(2026, 7, 2))


def test_details_from_any_source_are_stored_normalised(app: Flask) -> None:
    person = make_person(
        phones=["07700 900123", "+44 7700 900123", "07700900456"],
        postcode="ls1  1aa",
        email=" Someone@Example.ORG ",
        given_name="  Ffion ",
        aliases=["  ", "Ffion Jones"],
    )

    assert person.phones == ["+447700900123", "+447700900456"]
    assert person.postcode == "LS11AA"
    assert person.email == "someone@example.org"
    assert person.given_name == "Ffion"
    assert person.aliases == ["Ffion Jones"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("phones", ["12"], "Enter phone numbers like"),
        ("postcode", "NOT A CODE", "Enter a real postcode"),
        ("email", "no-at-sign", "Enter an email address"),
    ],
)
def test_bad_details_from_any_source_are_refused(app: Flask, field: str, value: object, message: str) -> None:
    details = PersonDetails(given_name="Ffion", family_name="Morgan", **{field: value})  # type: ignore[arg-type]

    with pytest.raises(PersonError, match=message):
        record_person(None, PersonKind.VICTIM, details)
