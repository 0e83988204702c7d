"""Field encryption and blind indexes: what is stored, what reads back, and what fails to open."""

from __future__ import annotations

import base64
import os
from datetime import date
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update

from marac import crypto, db
from marac.crypto import (
    HEADER,
    TEXT,
    AadParts,
    Keyring,
    KeyringError,
    Unreadable,
    generate_master_key,
    keyring,
    parse_master_key,
    sealed_version,
    take_unreadable,
)
from marac.people.matching import name_key
from marac.people.models import Person, PersonKind
from marac.people.services import PersonDetails, record_person

PERSONS = Person.__table__

DETAILS = PersonDetails(
    given_name="Zoë",
    family_name="O'Brien-Smith",
    aliases=["Zoe Smith", "Zed"],
    date_of_birth=date(1991, 2, 28),
    gender="Female",
    phones=["+447700900123", "+447700900456"],
    email="zoe.obrien@example.org",
    address="Flat 2, 14 Fictional Road",
    postcode="ZZ99 1ZZ",
    interpreter_needed=True,
    health_notes="Synthetic note: asthma",
)


def recorded(details: PersonDetails = DETAILS) -> Person:
    """A person recorded the way the application records one, committed."""
    person = record_person(None, PersonKind.VICTIM, details)
    db.session.commit()
    return person


def reloaded(person: Person) -> Person:
    """The person read back from the database into a new object (nothing cached in memory)."""
    person_id = person.id
    db.session.expunge_all()
    fresh = db.session.get(Person, person_id)
    assert fresh is not None
    return fresh


def stored(person: Person, column: str) -> bytes:
    """The raw bytes in a column of the person's row."""
    value = db.session.execute(select(PERSONS.c[column]).where(PERSONS.c.id == person.id)).scalar_one()
    return bytes(value)


def overwrite(person: Person, column: str, value: bytes) -> None:
    """Write raw bytes into a column, as someone with database access could."""
    db.session.execute(update(PERSONS).where(PERSONS.c.id == person.id).values({column: value}))


def test_each_codec_round_trips_through_the_database(app: Flask) -> None:
    person = reloaded(recorded())

    assert (person.given_name, person.family_name) == ("Zoë", "O'Brien-Smith")  # TEXT
    assert person.aliases == ["Zoe Smith", "Zed"]  # TEXT_LIST
    assert person.phones == ["+447700900123", "+447700900456"]
    assert person.date_of_birth == date(1991, 2, 28)  # DATE
    assert person.interpreter_needed is True  # BOOL
    assert person.ethnicity is None  # never given: nothing stored
    assert take_unreadable() == []


def test_false_is_stored_and_reads_back_as_false(app: Flask) -> None:
    person = reloaded(recorded(PersonDetails(given_name="Sam", interpreter_needed=False)))

    assert person.interpreter_needed is False
    assert stored(person, "interpreter_needed")


def test_stored_bytes_contain_no_plaintext(app: Flask) -> None:
    person = recorded()
    row = db.session.execute(select(PERSONS).where(PERSONS.c.id == person.id)).one()._mapping
    raw = b"".join(bytes(row[spec.column]) for spec in crypto.REGISTRY["persons"] if row[spec.column] is not None)

    assert len(raw) > 11 * 16
    for plaintext in ("Zoë", "Brien", "Zed", "1991-02-28", "7700900123", "example.org", "Fictional", "ZZ99", "asthma"):
        assert plaintext.encode() not in raw


def test_value_copied_to_another_row_reads_as_unreadable_and_is_noted(app: Flask) -> None:
    first = recorded()
    second = recorded(PersonDetails(given_name="Robin", family_name="Hart"))
    first_bytes, second_bytes = stored(first, "given_name"), stored(second, "given_name")
    overwrite(first, "given_name", second_bytes)
    overwrite(second, "given_name", first_bytes)

    first, second = reloaded(first), db.session.get(Person, second.id)
    assert second is not None

    assert isinstance(first.given_name, Unreadable)
    assert isinstance(second.given_name, Unreadable)
    assert str(first.given_name) == "unreadable"
    assert not first.given_name
    assert first.family_name == "O'Brien-Smith"  # the rest of the row is unaffected
    noted = take_unreadable()
    assert {(table, column, row) for table, column, row, _reason in noted} == {
        ("persons", "given_name", first.public_id),
        ("persons", "given_name", second.public_id),
    }
    assert take_unreadable() == []  # taking clears the list


def test_value_moved_to_another_column_of_the_same_row_reads_as_unreadable(app: Flask) -> None:
    person = recorded()
    overwrite(person, "family_name", stored(person, "given_name"))

    person = reloaded(person)

    assert person.given_name == "Zoë"
    assert isinstance(person.family_name, Unreadable)
    assert [(t, c) for t, c, _row, _reason in take_unreadable()] == [("persons", "family_name")]


@pytest.mark.parametrize("position", [HEADER.size, HEADER.size + 12, -1], ids=["nonce", "ciphertext", "tag"])
def test_corrupted_byte_reads_as_unreadable(app: Flask, position: int) -> None:
    person = recorded()
    sealed = bytearray(stored(person, "email"))
    sealed[position] ^= 0x01
    overwrite(person, "email", bytes(sealed))

    person = reloaded(person)

    assert isinstance(person.email, Unreadable)
    assert person.given_name == "Zoë"


@pytest.mark.parametrize(
    ("header", "reason"),
    [(HEADER.pack(1, 99), "unknown key version"), (HEADER.pack(2, 1), "unknown format")],
    ids=["key-version-99", "format-2"],
)
def test_unknown_key_version_or_format_reads_as_unreadable(app: Flask, header: bytes, reason: str) -> None:
    person = recorded()
    overwrite(person, "postcode", header + stored(person, "postcode")[HEADER.size :])

    person = reloaded(person)

    assert isinstance(person.postcode, Unreadable)
    assert [r for _t, _c, _row, r in take_unreadable()] == [reason]


def test_truncated_value_reads_as_unreadable(app: Flask) -> None:
    person = recorded()
    overwrite(person, "gender", stored(person, "gender")[:20])

    assert isinstance(reloaded(person).gender, Unreadable)


def test_same_value_seals_differently_each_time(app: Flask) -> None:
    first = recorded(PersonDetails(given_name="Alex", family_name="Jones"))
    second = recorded(PersonDetails(given_name="Alex", family_name="Jones"))
    aad = AadParts("persons", "given_name", first.public_id)
    ring = keyring()

    assert stored(first, "given_name") != stored(second, "given_name")
    assert ring.seal(b"Alex", aad) != ring.seal(b"Alex", aad)  # same row and column too: a random nonce


def test_sealed_value_carries_the_active_key_version(app: Flask) -> None:
    person = recorded()

    assert sealed_version(stored(person, "given_name")) == keyring().active_version(crypto.PURPOSE_FIELD) == 1


def test_blind_index_terms_are_stable_for_the_same_normalised_value_and_differ_per_field(app: Flask) -> None:
    ring = keyring()
    typed, retyped = name_key("Zoë", "O'Brien-Smith"), name_key("  ZOE ", "obrien smith")
    assert typed is not None
    assert typed == retyped

    assert ring.term("name", typed) == ring.term("name", typed)
    assert len(ring.term("name", typed)) == crypto.INDEX_BYTES
    assert ring.term("name", typed) != ring.term("phonetic", typed)
    assert ring.term("name", typed) != ring.term("name", "zoe obrien")


def test_wrong_master_key_fails_naming_the_setting(app: Flask) -> None:
    ring = Keyring(master=parse_master_key(generate_master_key()))

    with pytest.raises(KeyringError, match="MARAC_MASTER_KEY"):
        ring.load(db.session)


def test_generated_master_key_parses_to_32_bytes() -> None:
    key = generate_master_key()

    assert len(parse_master_key(key)) == 32
    assert generate_master_key() != key


@pytest.mark.parametrize(
    "encode",
    [
        lambda raw: raw.hex(),
        lambda raw: raw.hex().upper(),
        lambda raw: base64.b64encode(raw).decode(),
        lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("="),
        lambda raw: f"  {base64.b64encode(raw).decode()}\n",
    ],
    ids=["hex", "hex-upper", "base64-padded", "urlsafe-unpadded", "surrounding-whitespace"],
)
def test_parse_master_key_accepts_hex_and_base64(encode: Any) -> None:
    raw = bytes(range(32))

    assert parse_master_key(encode(raw)) == raw


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "32 random bytes, got 0"),
        (base64.b64encode(bytes(range(16))).decode(), "32 random bytes, got 16"),
        (base64.b64encode(bytes(range(33))).decode(), "32 random bytes, got 33"),
        ("not base64 at all!", "not base64 or hex"),
        ("00" * 32, "not random"),
        (base64.b64encode(b"ab" * 16).decode(), "not random"),
    ],
    ids=["empty", "too-short", "too-long", "garbage", "zeros-hex", "two-distinct-bytes"],
)
def test_parse_master_key_says_what_is_wrong(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_master_key(value)


def test_padding_hides_name_length_within_a_16_byte_block(app: Flask) -> None:
    ring = keyring()
    aad = AadParts("persons", "given_name", "row")

    def sealed_length(name: str) -> int:
        return len(ring.seal(name.encode(), aad))

    assert {sealed_length(name) for name in ("Al", "Bo Li", "Alexandra", "Maximilianos 1")} == {sealed_length("")}
    assert sealed_length("A" * 15) == sealed_length("")
    assert sealed_length("A" * 16) == sealed_length("") + 16


_RING = Keyring(master=b"", field_keys={1: AESGCM(os.urandom(32))}, active={crypto.PURPOSE_FIELD: 1})


@given(st.text())
def test_any_text_round_trips_through_seal_and_open(value: str) -> None:
    aad = AadParts("persons", "health_notes", "row-1")

    assert TEXT.decode(_RING.open(_RING.seal(TEXT.encode(value), aad), aad)) == value
