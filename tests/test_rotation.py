"""Key rotation: every value moves to the new key, reads the same, and a stopped run resumes where it stopped."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from marac import create_app, crypto, db, rotation
from marac.audit.models import AuditEvent
from marac.cases.models import Case
from marac.crypto import REGISTRY, AadParts, DataKey, KeyRotation, keyring, sealed_version
from marac.people.matching import Identifiers
from marac.people.models import Person, PersonKind, PersonTerm
from marac.people.services import PersonDetails, find_candidates, record_person, write_terms
from marac.rotation import progress_of, rotate_keys, unfinished_rotation, unreadable_count
from marac.sharing.models import BreakGlassGrant
from tests.conftest import TEST_SETTINGS
from tests.factories import make_user

PERSONS = Person.__table__


class Stopped(Exception):
    """Stands in for the process being killed."""


def stop_after_first_batch(done: int, total: int) -> None:
    """An on_progress that kills the run once the first batch is committed."""
    raise Stopped(f"stopped at {done} of {total}")


def details(i: int) -> PersonDetails:
    """Synthetic details for the i-th person; everyone shares a name, so each finds all the others."""
    return PersonDetails(
        given_name="Jordan",
        family_name="Ellis",
        aliases=[f"Jo Ellis{i}"],
        date_of_birth=date(1980, 1, 1) + timedelta(days=400 * i),
        gender="Non-binary" if i % 2 else "Male",
        phones=[f"+4477009001{i:02d}"],
        email=f"jordan.{i}@example.org",
        address=f"{i} Synthetic Lane",
        postcode="ZZ99 1ZZ",
        interpreter_needed=bool(i % 2),
        health_notes=None if i % 3 else "Synthetic health note",
    )


def record_people(count: int) -> list[int]:
    """Record `count` persons as the application does, committed; their ids in order."""
    ids = [record_person(None, PersonKind.VICTIM, details(i)).id for i in range(count)]
    db.session.commit()
    return ids


def readings(ids: list[int]) -> list[tuple[Any, ...]]:
    """Every sealed field of the persons, read from the database into new objects."""
    db.session.expunge_all()
    names = [spec.name for spec in REGISTRY["persons"]]
    people = [db.session.get(Person, person_id) for person_id in ids]
    return [tuple(str(getattr(p, n)) for n in names) for p in people if p is not None]


def versions(table: str = "persons", after: int = 0, upto: int | None = None) -> set[int]:
    """The key versions of every sealed value in a table (rows after..upto by id)."""
    source = db.Base.metadata.tables[table]
    columns = [source.c[spec.column or spec.name] for spec in REGISTRY[table]]
    query = select(*columns).where(source.c.id > after)
    if upto is not None:
        query = query.where(source.c.id <= upto)
    return {sealed_version(bytes(v)) for row in db.session.execute(query) for v in row if v is not None}


def sealed_count(ids: list[int]) -> int:
    """How many values the persons have sealed."""
    columns = [PERSONS.c[spec.column or spec.name] for spec in REGISTRY["persons"]]
    rows = db.session.execute(select(*columns).where(PERSONS.c.id.in_(ids))).all()
    return sum(v is not None for row in rows for v in row)


def addresses(ids: list[int]) -> dict[int, bytes]:
    """The stored address bytes of the persons."""
    rows = db.session.execute(select(PERSONS.c.id, PERSONS.c.address).where(PERSONS.c.id.in_(ids)))
    return {person_id: bytes(value) for person_id, value in rows}


def total_sealed() -> int:
    """How many values are sealed in every table with encrypted columns."""
    total = 0
    for name, specs in REGISTRY.items():
        source = db.Base.metadata.tables[name]
        total += sum(
            db.session.scalar(select(func.count()).where(source.c[spec.column or spec.name].is_not(None))) or 0
            for spec in specs
        )
    return total


def keys(purpose: str) -> dict[int, str]:
    """{version: status} of a purpose's keys."""
    rows = db.session.scalars(select(DataKey).where(DataKey.purpose == purpose))
    return {key.version: key.status for key in rows}


def break_glass_grant() -> BreakGlassGrant:
    """A break-glass grant on a new case, so a second table holds sealed values."""
    account = make_user()
    victim = record_person(None, PersonKind.VICTIM, PersonDetails(given_name="Casey", family_name="Vale"))
    area = account.user.agency.areas[0]
    case = Case(
        reference="ROT-1",
        area_id=area.id,
        referring_agency_id=account.user.agency_id,
        victim_id=victim.id,
        referred_on=date(2026, 11, 1),
    )
    db.session.add(case)
    db.session.flush()
    grant = BreakGlassGrant(
        case_id=case.id, user_id=account.user.id, expires_at=db.utcnow() + timedelta(hours=1), reason="Synthetic risk"
    )
    db.session.add(grant)
    db.session.commit()
    return grant


# --- field rotation ---------------------------------------------------------------------------------------------


def test_field_rotation_moves_every_value_to_the_new_key_and_everyone_reads_the_same(app: Flask) -> None:
    ids = record_people(5)
    grant_id = break_glass_grant().id
    before = readings(ids)
    sealed = total_sealed()

    done = rotate_keys(db.session, "field", batch_size=2)

    assert (done.target_version, done.finished_at is not None) == (2, True)
    assert versions("persons") == versions("break_glass_grants") == versions("users") == {2}
    assert readings(ids) == before
    grant = db.session.get(BreakGlassGrant, grant_id)
    assert grant is not None
    assert grant.reason == "Synthetic risk"
    assert done.done_count == sealed
    assert keys("field") == {1: "retired", 2: "active"}
    assert keys("index") == {1: "active"}  # untouched
    assert keyring().active_version(crypto.PURPOSE_FIELD) == 2
    assert crypto.take_unreadable() == []


def test_field_rotation_is_audited_without_personal_data(app: Flask) -> None:
    record_people(2)
    sealed = total_sealed()

    rotate_keys(db.session, "field")

    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action.like("keys.%")).order_by(AuditEvent.seq))
    summary = [(e.action, e.object_type, e.object_id, e.details) for e in events]
    assert summary == [
        ("keys.rotate_started", "data_key", "field:v2", {"purpose": "field", "from_versions": [1], "to": 2}),
        (
            "keys.rotate_finished",
            "data_key",
            "field:v2",
            {"purpose": "field", "retired_versions": [1], "done": sealed, "unreadable": 0},
        ),
    ]


def test_old_field_key_is_retired_but_kept_so_a_restored_backup_still_reads(app: Flask, clock: Any) -> None:
    [person_id] = record_people(1)
    backup = db.session.execute(select(PERSONS.c.email).where(PERSONS.c.id == person_id)).scalar_one()
    wrapped = db.session.scalars(select(DataKey.wrapped).where(DataKey.purpose == "field")).one()

    rotate_keys(db.session, "field")
    db.session.execute(update(PERSONS).where(PERSONS.c.id == person_id).values(email=backup))

    old = db.session.scalars(select(DataKey).where(DataKey.purpose == "field", DataKey.version == 1)).one()
    assert (old.status, old.retired_at, old.wrapped) == ("retired", clock(), wrapped)
    db.session.expunge_all()
    person = db.session.get(Person, person_id)
    assert person is not None
    assert (sealed_version(bytes(backup)), person.email) == (1, "jordan.0@example.org")


def test_value_that_does_not_open_is_left_as_it_was_and_counted(app: Flask) -> None:
    first, second, third = record_people(3)
    raw = addresses([first, second])
    for person_id, other in ((first, second), (second, first)):  # moved to another row: no longer opens
        db.session.execute(update(PERSONS).where(PERSONS.c.id == person_id).values(address=raw[other]))

    done = rotate_keys(db.session, "field")

    assert addresses([first, second]) == {first: raw[second], second: raw[first]}
    assert unreadable_count(done) == 2
    assert done.finished_at is not None
    assert versions("persons", after=second) == {2}
    assert readings([third])[0][7] == "2 Synthetic Lane"


def test_interrupted_field_rotation_resumes_the_same_rotation_in_a_new_process(committed_app: Flask) -> None:
    with committed_app.app_context():
        ids = record_people(7)
        before = readings(ids)
        first_batch = sealed_count(ids[:2])
        with pytest.raises(Stopped):
            rotate_keys(db.session, "field", batch_size=2, on_progress=stop_after_first_batch)

    with committed_app.app_context():
        stopped = unfinished_rotation(db.session, "field")
        assert stopped is not None
        assert (progress_of(stopped), stopped.done_count) == ({"persons": ids[1]}, first_batch)
        assert (versions(upto=ids[1]), versions(after=ids[1])) == ({2}, {1})
        assert keys("field") == {1: "previous", 2: "active"}
        assert readings(ids) == before  # both versions are read meanwhile

    restarted = create_app(
        {**TEST_SETTINGS, **{k: committed_app.config[k] for k in ("MARAC_INSTANCE_PATH", "MARAC_DATABASE_URL")}}
    )
    try:
        with restarted.app_context():
            done = rotate_keys(db.session, "field", batch_size=2)

            assert done.id == stopped.id
            assert done.done_count == total_sealed()  # nothing resealed twice
            assert keys("field") == {1: "retired", 2: "active"}
            assert versions() == {2}
            assert readings(ids) == before
            assert db.session.scalar(select(func.count()).select_from(KeyRotation)) == 1
    finally:
        restarted.extensions["marac_engine"].dispose()


def test_run_killed_inside_a_batch_keeps_only_whole_batches(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = record_people(7)
    before = readings(ids)
    calls = {"n": 0}
    real_reseal = rotation.reseal

    def dies_mid_second_batch(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == sealed_count(ids[:2]) + 3:
            raise KeyboardInterrupt
        return real_reseal(*args)

    monkeypatch.setattr(rotation, "reseal", dies_mid_second_batch)
    with pytest.raises(KeyboardInterrupt):
        rotate_keys(db.session, "field", batch_size=2)

    stopped = unfinished_rotation(db.session, "field")
    assert stopped is not None
    assert progress_of(stopped) == {"persons": ids[1]}
    assert (versions(upto=ids[1]), versions(after=ids[1])) == ({2}, {1})
    monkeypatch.setattr(rotation, "reseal", real_reseal)
    done = rotate_keys(db.session, "field", batch_size=2)
    assert (done.id, done.done_count, versions()) == (stopped.id, total_sealed(), {2})
    assert readings(ids) == before


def test_value_sealed_with_the_old_key_during_the_rotation_is_swept_up(app: Flask) -> None:
    """A web process still holding the old keyring (for up to KEY_CACHE_SECONDS) writes behind the walk."""
    ids = record_people(5)
    with pytest.raises(Stopped):
        rotate_keys(db.session, "field", batch_size=2, on_progress=stop_after_first_batch)
    public_id = db.session.execute(select(PERSONS.c.public_id).where(PERSONS.c.id == ids[0])).scalar_one()
    late = keyring().seal(b"1 Late Write Road", AadParts("persons", "address", public_id), version=1)
    db.session.execute(update(PERSONS).where(PERSONS.c.id == ids[0]).values(address=late))

    rotate_keys(db.session, "field", batch_size=2)

    assert versions() == {2}
    assert readings(ids[:1])[0][7] == "1 Late Write Road"


def test_rotation_refuses_to_run_in_a_web_request(app: Flask) -> None:
    with app.test_request_context("/"), pytest.raises(RuntimeError, match="marac keys rotate"):
        rotate_keys(db.session, "field")
    with pytest.raises(ValueError, match="purpose must be one of field, index"):
        rotate_keys(db.session, "everything")
    assert keys("field") == {1: "active"}


# --- index rotation ---------------------------------------------------------------------------------------------


def found(person_ids: list[int]) -> set[int]:
    """Which of the persons a search by their shared name and postcode finds."""
    query = Identifiers(given_name="Jordan", family_name="Ellis", postcode="ZZ99 1ZZ")
    return {c.person_id for c in find_candidates(None, query, limit=50)} & set(person_ids)


def term_versions(person_ids: list[int] | None = None) -> dict[int, set[int]]:
    """{person id: versions of their terms}."""
    query = select(PersonTerm.person_id, PersonTerm.key_version)
    if person_ids is not None:
        query = query.where(PersonTerm.person_id.in_(person_ids))
    result: dict[int, set[int]] = {}
    for person_id, version in db.session.execute(query):
        result.setdefault(person_id, set()).add(version)
    return result


@pytest.fixture
def people(app: Flask) -> list[int]:
    """Seven persons sharing a name and postcode."""
    return record_people(7)


def test_index_rotation_keeps_finding_candidates_during_and_after(app: Flask, people: list[int]) -> None:
    terms_before = db.session.scalar(select(func.count()).select_from(PersonTerm))
    assert found(people) == set(people)

    with pytest.raises(Stopped):
        rotate_keys(db.session, "index", batch_size=2, on_progress=stop_after_first_batch)

    assert term_versions(people) == {**{p: {2} for p in people[:2]}, **{p: {1} for p in people[2:]}}
    assert keyring().readable_index_versions == [1, 2]
    assert found(people) == set(people)

    done = rotate_keys(db.session, "index", batch_size=2)

    assert term_versions() == {p: {2} for p in term_versions()}
    assert db.session.scalar(select(func.count()).select_from(PersonTerm)) == terms_before == done.done_count
    assert keys("index") == {1: "retired", 2: "active"}
    assert keyring().readable_index_versions == [2]
    assert found(people) == set(people)
    assert keys("field") == {1: "active"}  # untouched


def test_terms_written_with_the_old_index_key_during_the_rotation_are_rebuilt(app: Flask, people: list[int]) -> None:
    with pytest.raises(Stopped):
        rotate_keys(db.session, "index", batch_size=2, on_progress=stop_after_first_batch)
    person = db.session.get(Person, people[0])
    assert person is not None
    write_terms(db.session, keyring(), person, 1)  # a web process still on the old keyring
    db.session.commit()
    assert term_versions(people[:1]) == {people[0]: {1, 2}}

    rotate_keys(db.session, "index", batch_size=2)

    assert term_versions(people) == {p: {2} for p in people}
    assert found(people) == set(people)
