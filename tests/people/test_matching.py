"""Matching people across agencies: normalised identifiers, scores and plain reasons, and linking or rejecting a
suggested match (never automatically), audited without personal data."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import insert, select

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.crypto import keyring
from marac.people.matching import (
    HIGH,
    MEDIUM,
    Candidate,
    Identifiers,
    fold,
    name_key,
    normalise_email,
    normalise_phone,
    normalise_postcode,
    phonetic_key,
)
from marac.people.models import MatchDecision, Person, PersonKind, PersonTerm
from marac.people.services import (
    PersonError,
    find_candidates,
    identifiers_of,
    identity_person_ids,
    link_persons,
    reject_match,
)
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_agency, make_person, make_user, post_form

BIRTHDAY = date(1988, 6, 14)


def events(action: str) -> list[AuditEvent]:
    """Audit events of one action, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def audit_text() -> str:
    """Every column of every audit row, as one lower-cased text (to look for personal data that must not be there)."""
    db.session.expire_all()
    rows = db.session.scalars(select(AuditEvent)).all()
    return " ".join(
        json.dumps([r.action, r.object_type, r.object_id, r.purpose, r.outcome, r.details, r.role], default=str)
        for r in rows
    ).lower()


def candidate(found: list[Candidate], person: Person) -> Candidate | None:
    """The suggestion for `person`, if there is one."""
    return next((c for c in found if c.person_id == person.id), None)


@pytest.fixture
def actor(app: Flask) -> Account:
    """A police referrer who records and matches people."""
    return make_user(Role.REFERRER, agency=make_agency())


# --- normalisation -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Zoë O'Brien-Smith", "zoe obriensmith"),
        ("ÉLODIE  Núñez", "elodie nunez"),
        ("  MARY\tjane ", "mary jane"),
        ("Siobhán O\u2019Connor", "siobhan oconnor"),
        ("François Dvořák", "francois dvorak"),
        ("Chloë-Anne", "chloeanne"),
        ("Straße", "strasse"),
        ("Smith (née Jones)", "smith nee jones"),
    ],
)
def test_fold_drops_case_accents_hyphens_and_apostrophes(raw: str, folded: str) -> None:
    assert fold(raw) == folded


@pytest.mark.parametrize(
    ("given_name", "family_name", "key"),
    [
        ("Mary-Jane", "Smith-Jones", "maryjane smithjones"),
        ("Mary Jane", "Smith Jones", "mary smithjones"),
        ("ZOË", "o'brien", "zoe obrien"),
        ("Zoe", "O Brien", "zoe obrien"),
        ("Zoe", None, None),
        (None, "Smith", None),
        ("!!!", "Smith", None),
    ],
)
def test_name_key_is_first_given_name_and_whole_family_name(
    given_name: str | None, family_name: str | None, key: str | None
) -> None:
    assert name_key(given_name, family_name) == key


def test_names_that_sound_alike_share_a_phonetic_key() -> None:
    assert phonetic_key("Catherine", "Smith") == phonetic_key("Kathryn", "Smyth") == phonetic_key("KATHERINE", "smith")
    assert phonetic_key("Catherine", "Smith") != phonetic_key("Caroline", "Smith")


@pytest.mark.parametrize(
    ("written", "typed_plainly"),
    [(("Łukasz", "Wójcik"), ("Lukasz", "Wojcik")), (("Søren", "Ørsted"), ("Soren", "Orsted"))],
)
def test_letters_with_strokes_fold_like_their_plain_letter(
    written: tuple[str, str], typed_plainly: tuple[str, str]
) -> None:
    assert name_key(*written) == name_key(*typed_plainly)
    assert phonetic_key(*written) == phonetic_key(*typed_plainly)


@pytest.mark.parametrize("hyphen", ["\u2010", "\u2011"])
def test_typographic_hyphens_fold_like_the_ascii_hyphen(hyphen: str) -> None:
    assert name_key(f"Anne{hyphen}Marie", "Smith") == name_key("Anne-Marie", "Smith")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("07700 900982", "+447700900982"),
        ("+44 7700 900982", "+447700900982"),
        ("+44 (0)7700 900982", "+447700900982"),
        ("0044 7700 900982", "+447700900982"),
        ("(07700) 900-982", "+447700900982"),
        ("020 7946 0018", "+442079460018"),
        ("+33 1 23 45 67 89", "+33123456789"),
        ("12", None),
        ("call me", None),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: str, e164: str | None) -> None:
    assert normalise_phone(raw) == e164


@pytest.mark.parametrize(
    ("raw", "compact"),
    [
        ("sw1a 1aa", "SW1A1AA"),
        (" m1 1ae ", "M11AE"),
        ("EC1A  1BB", "EC1A1BB"),
        ("b33 8th", "B338TH"),
        ("SW1A 1AAA", None),
        ("12345", None),
        ("", None),
    ],
)
def test_postcodes_are_upper_cased_without_spaces(raw: str, compact: str | None) -> None:
    assert normalise_postcode(raw) == compact


def test_email_is_lower_cased_and_must_look_like_one() -> None:
    assert normalise_email("  Jo.Bloggs@Example.ORG ") == "jo.bloggs@example.org"
    assert normalise_email("jo bloggs@example.org") is None
    assert normalise_email("jo.bloggs.example.org") is None


@hypothesis_settings(max_examples=400, deadline=None)
@given(st.text())
def test_fold_is_idempotent_and_gives_only_lower_case_letters_and_single_spaces(value: str) -> None:
    folded = fold(value)
    assert fold(folded) == folded
    assert set(folded) <= set("abcdefghijklmnopqrstuvwxyz ")
    assert folded == folded.strip()
    assert "  " not in folded


def test_differently_written_details_find_the_same_person(actor: Account) -> None:
    recorded = make_person(
        given_name="ZOË",
        family_name="O'Brien-Smith",
        date_of_birth=BIRTHDAY,
        phones=["07700 900982"],
        email="Zoe.OBrien@Example.org",
        postcode="sw1a 1aa",
        aliases=[],
    )
    typed = Identifiers(
        given_name="zoe",
        family_name="OBRIEN SMITH",
        phones=["+44 (0)7700 900-982"],
        email="zoe.obrien@example.ORG",
        postcode="SW1A1AA",
    )

    found = candidate(find_candidates(actor.user, typed), recorded)

    assert found is not None
    assert found.fields == {"name", "phonetic", "phone", "email", "postcode", "initials_postcode"}


# --- scores, bands and reasons -------------------------------------------------------------------------------------


def test_sound_alike_name_with_same_birthday_and_phone_is_a_high_match_with_plain_reasons(actor: Account) -> None:
    earlier = make_person(
        given_name="Catherine", family_name="Smith", date_of_birth=BIRTHDAY, phones=["07700 900111"], postcode="NV11AA"
    )
    now = Identifiers(
        given_name="Kathryn", family_name="Smith", date_of_birth=BIRTHDAY, phones=["+447700900111"], postcode="EB22BB"
    )

    found = candidate(find_candidates(actor.user, now), earlier)

    assert found is not None
    assert found.reasons == "same date of birth and phone; name sounds alike"
    assert (found.score, found.band, found.is_linkable) == (100, "high", True)


SCENARIOS: dict[str, tuple[dict[str, Any], int, str, str]] = {
    "same name and date of birth": (
        {"given_name": "Catherine", "family_name": "Smith", "date_of_birth": BIRTHDAY},
        70,
        "high",
        "same name and date of birth",
    ),
    "sound-alike name and date of birth": (
        {"given_name": "Kathryn", "family_name": "Smyth", "date_of_birth": BIRTHDAY},
        60,
        "medium",
        "same date of birth; name sounds alike",
    ),
    "phone alone": ({"phones": ["07700 900111"]}, 40, "medium", "same phone"),
    "email alone": ({"email": "CATH.SMITH@example.org"}, 40, "medium", "same email"),
    "date of birth and postcode with initials": (
        {"given_name": "Carol", "family_name": "Stone", "date_of_birth": BIRTHDAY, "postcode": "nv1 1aa"},
        60,
        "medium",
        "same date of birth and postcode and initials",
    ),
    "date of birth alone": ({"date_of_birth": BIRTHDAY}, 35, "low", "same date of birth"),
    "name alone": ({"given_name": "Catherine", "family_name": "Smith"}, 35, "low", "same name"),
    "postcode alone": (
        {"given_name": "Wendy", "family_name": "Hale", "postcode": "NV1 1AA"},
        10,
        "low",
        "same postcode",
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_score_band_and_reasons_follow_the_evidence(actor: Account, scenario: str) -> None:
    earlier = make_person(
        given_name="Catherine",
        family_name="Smith",
        date_of_birth=BIRTHDAY,
        phones=["+447700900111"],
        email="cath.smith@example.org",
        postcode="NV11AA",
    )
    typed, score, band, reasons = SCENARIOS[scenario]

    found = candidate(find_candidates(actor.user, Identifiers(**typed)), earlier)

    assert found is not None
    assert (found.score, found.band, found.reasons) == (score, band, reasons)
    assert found.is_linkable == (score >= MEDIUM)
    assert band == ("high" if score >= HIGH else "medium" if score >= MEDIUM else "low")


def test_candidates_come_best_first(actor: Account) -> None:
    weak = make_person(given_name="Ruth", family_name="Kerr", date_of_birth=BIRTHDAY)
    strong = make_person(given_name="Ruth", family_name="Kerr", date_of_birth=BIRTHDAY, phones=["07700 900222"])
    make_person(given_name="Ivy", family_name="Lund")

    found = find_candidates(actor.user, identifiers_of(strong))

    assert [c.person_id for c in found] == [strong.id, weak.id]
    assert found[0].score == 100
    assert found[1].score == 70


def test_name_alone_is_a_low_candidate_that_cannot_be_linked(actor: Account) -> None:
    earlier = make_person(given_name="Jade", family_name="Holloway", phones=["07700 900333"], postcode="NV11AA")
    new = make_person(given_name="Jade", family_name="Holloway", phones=["07700 900444"], postcode="EB22BB")
    keys = (earlier.identity_key, new.identity_key)

    found = candidate(find_candidates(actor.user, identifiers_of(new), exclude=new), earlier)
    assert found is not None
    assert (found.band, found.is_linkable, found.reasons) == ("low", False, "same name")

    with pytest.raises(PersonError, match="do not have enough in common to link"):
        link_persons(actor.user, new, earlier)

    db.session.expire_all()
    assert (earlier.identity_key, new.identity_key) == keys
    assert db.session.scalars(select(MatchDecision)).all() == []
    assert events("person.link") == []


def test_a_record_is_never_suggested_as_a_match_for_itself(actor: Account) -> None:
    person = make_person()

    assert candidate(find_candidates(actor.user, identifiers_of(person), exclude=person), person) is None


# --- rejecting and linking -----------------------------------------------------------------------------------------


def test_rejected_candidate_is_not_suggested_again_either_way(actor: Account) -> None:
    shared = {"date_of_birth": BIRTHDAY, "phones": ["07700 900555"]}
    first = make_person(given_name="Amy", family_name="Cole", **shared)
    second = make_person(given_name="Anna", family_name="Cope", **shared)
    third = make_person(given_name="Alice", family_name="Cross", **shared)

    decision = reject_match(actor.user, first, second)
    db.session.commit()

    assert (decision.decision, decision.score, decision.reasons) == ("rejected", 75, "same date of birth and phone")
    assert decision.decided_by_id == actor.user.id
    from_first = find_candidates(actor.user, identifiers_of(first), exclude=first)
    from_second = find_candidates(actor.user, identifiers_of(second), exclude=second)
    assert {c.person_id for c in from_first} == {third.id}
    assert {c.person_id for c in from_second} == {third.id}
    with pytest.raises(PersonError):
        link_persons(actor.user, second, first)
    [event] = events("person.reject_match")
    assert event.details == {"rejected": second.public_id, "score": 75}
    assert first.identity_key != second.identity_key


def test_linking_merges_identities_and_is_audited_with_reasons_but_no_names(actor: Account) -> None:
    earlier = make_person(
        given_name="Catherine", family_name="Smith", date_of_birth=BIRTHDAY, phones=["07700 900111"], postcode="NV11AA"
    )
    earlier_alias = make_person(given_name="Cath", family_name="Smith", date_of_birth=BIRTHDAY, phones=["07700 900999"])
    earlier_alias.identity_key = earlier.identity_key  # confirmed the same individual before
    new = make_person(
        given_name="Kathryn", family_name="Smith", date_of_birth=BIRTHDAY, phones=["07700 900111"], postcode="EB22BB"
    )
    db.session.commit()

    decision = link_persons(actor.user, new, earlier)
    db.session.commit()

    assert (decision.decision, decision.score, decision.reasons) == (
        "linked",
        100,
        "same date of birth and phone; name sounds alike",
    )
    assert sorted(identity_person_ids(new)) == sorted([earlier.id, earlier_alias.id, new.id])
    db.session.expire_all()
    assert earlier.identity_key == earlier_alias.identity_key == new.identity_key
    assert candidate(find_candidates(actor.user, identifiers_of(new), exclude=new), earlier) is None
    [event] = events("person.link")
    assert (event.object_type, event.object_id, event.actor_user_id) == ("person", new.public_id, actor.user.id)
    assert event.details == {
        "linked_to": earlier.public_id,
        "score": 100,
        "reasons": "same date of birth and phone; name sounds alike",
    }
    logged = audit_text()
    for name in ("catherine", "kathryn", "cath ", "smith", "07700", "7700900111", "1988-06-14"):
        assert name not in logged


# --- searching -----------------------------------------------------------------------------------------------------


def test_search_is_audited_with_the_fields_used_never_the_values(actor: Account) -> None:
    make_person(given_name="Bethan", family_name="Morgan", date_of_birth=BIRTHDAY, phones=["07700 900666"])
    typed = Identifiers(
        given_name="Bethan",
        family_name="Morgan",
        date_of_birth=BIRTHDAY,
        phones=["07700 900666"],
        email="bethan.m@example.org",
        postcode="CF10 1AA",
    )

    found = find_candidates(actor.user, typed)

    assert len(found) == 1
    [event] = events("person.search")
    assert event.details == {
        "fields": ["dob", "email", "initials_postcode", "name", "phone", "phonetic", "postcode"],
        "results": 1,
    }
    assert (event.object_type, event.object_id, event.actor_user_id) == ("person", None, actor.user.id)
    logged = audit_text()
    for value in ("bethan", "morgan", "7700900666", "07700", "example.org", "cf10", "1988-06-14", "1988"):
        assert value not in logged


def test_searching_through_the_page_shows_the_match_and_audits_no_values(client: FlaskClient, clock: FakeClock) -> None:
    account = make_user(Role.REFERRER, agency=make_agency())
    person = make_person(
        PersonKind.VICTIM, account.user, given_name="Bethan", family_name="Morgan", date_of_birth=BIRTHDAY
    )
    login_as(client, account, clock)

    response = post_form(
        client,
        "/people/search",
        {"given_name": "bethan", "family_name": "MORGAN", "date_of_birth": ["14", "6", "1988"]},
    )

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "1 possible match" in page
    assert f"/people/{person.public_id}" in page
    assert "Same name and date of birth" in page
    [event] = events("person.search")
    assert event.details == {"fields": ["dob", "name", "phonetic"], "results": 1}
    logged = audit_text()
    assert "bethan" not in logged
    assert "morgan" not in logged
    assert "1988" not in logged


def test_search_with_only_a_given_name_asks_for_more(client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, make_user(Role.REFERRER, agency=make_agency()), clock)

    response = post_form(client, "/people/search", {"given_name": "Bethan"})

    assert response.status_code == 400
    assert "Enter both a given and a family name, or another detail, to search" in response.get_data(as_text=True)
    assert events("person.search") == []


# --- a crowded index -----------------------------------------------------------------------------------------------


def crowd_birthday(birthday: date, how_many: int) -> None:
    """Many records sharing one date of birth (an agency's placeholder for "not known"), written in bulk."""
    now = db.utcnow()
    rows = [
        {
            "public_id": str(uuid.uuid4()),
            "kind": "victim",
            "identity_key": str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(how_many)
    ]
    db.session.execute(insert(Person), rows)
    ids = db.session.scalars(select(Person.id).where(Person.given_name_enc.is_(None))).all()
    ring = keyring()
    version = ring.active_version("index")
    digest = ring.term("dob", birthday.isoformat(), version)
    db.session.execute(
        insert(PersonTerm), [{"person_id": i, "field": "dob", "key_version": version, "digest": digest} for i in ids]
    )
    db.session.commit()


def test_a_crowded_date_of_birth_does_not_hide_a_strong_match(actor: Account) -> None:
    placeholder = date(1900, 1, 1)
    crowd_birthday(placeholder, 2100)
    earlier = make_person(
        given_name="Nadia", family_name="Haddad", date_of_birth=placeholder, phones=["07700 900777"], postcode="NV11AA"
    )
    typed = Identifiers(given_name="Nadia", family_name="Haddad", date_of_birth=placeholder, phones=["07700 900777"])

    found = find_candidates(actor.user, typed)

    assert found[0].person_id == earlier.id
    assert found[0].fields == {"name", "phonetic", "dob", "phone"}


def test_many_at_once_ranks_each_as_one_at_a_time_does(actor: Account) -> None:
    from marac.people.services import find_candidates_many

    people = [
        make_person(given_name=given, family_name=family, date_of_birth=born, phones=phones)
        for given, family, born, phones in [
            ("Ruth", "Kerr", BIRTHDAY, ["07700 900222"]),
            ("Ruth", "Kerr", BIRTHDAY, []),
            ("Ruthie", "Kerr", BIRTHDAY, []),
            ("Ruth", "Carr", date(1990, 1, 2), []),
            ("Ivy", "Lund", BIRTHDAY, []),
            ("Ivy", "Lund", date(1979, 9, 9), ["07700 900222"]),
        ]
    ]
    searches = [identifiers_of(p) for p in people] + [
        Identifiers(given_name="Ruth", family_name="Kerr"),
        Identifiers(date_of_birth=BIRTHDAY),
        Identifiers(given_name="Nobody", family_name="Known", date_of_birth=date(2001, 2, 3)),
        Identifiers(),
    ]
    one_by_one = [find_candidates(actor.user, s, limit=3, audit_search=False) for s in searches]
    at_once = find_candidates_many(searches, limit=3)
    assert [[(c.person_id, c.fields) for c in found] for found in at_once] == [
        [(c.person_id, c.fields) for c in found] for found in one_by_one
    ]
    assert at_once[0][0].person_id == people[0].id
    assert at_once[-2:] == [[], []]
    assert find_candidates_many([]) == []
