"""Key rotation: move every sealed value, or every blind-index term, to a new key version, one batch at a time.

Run from the command line (``marac keys rotate``), never in a web process. Each batch is one transaction that also
records how far it got in ``key_rotations``, so a run killed at any point resumes where it stopped. While a rotation
runs the old key is "previous" and still read (web processes pick up the new key within KEY_CACHE_SECONDS); at the
end a sweep catches values written with the old key meanwhile, and the old key is retired but kept, because backups
may still need it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from flask import has_request_context
from sqlalchemy import Select, Table, and_, bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session

from marac import audit, db
from marac.crypto import (
    FORMAT,
    HEADER,
    PURPOSE_FIELD,
    PURPOSE_INDEX,
    PURPOSES,
    REGISTRY,
    AadParts,
    DataKey,
    Encrypted,
    Keyring,
    KeyRotation,
    UnreadableValue,
    create_key,
    keyring,
    reload_keyring,
    reseal,
)

log = structlog.get_logger(__name__)

#: Key for the PostgreSQL transaction-level advisory lock taken while a rotation is started.
ROTATION_LOCK_KEY = 0x4D41524B  # "MARK"
#: Entry in a rotation's progress counting values that did not open (a table name never starts with "@").
UNREADABLE = "@unreadable"
#: Table walked by an index rotation.
INDEX_TABLE = "persons"

Progress = Callable[[int, int], None]


def rotate_keys(
    session: Session,
    purpose: str,
    *,
    batch_size: int = 1000,
    on_progress: Progress | None = None,
    started_by_id: int | None = None,
) -> KeyRotation:
    """Rotate the field or index key: resume the unfinished rotation or start one, move everything, then retire
    the old key. Commits once per batch; `on_progress(done_rows, total_rows)` is called after each commit."""
    if purpose not in PURPOSES:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}, got {purpose!r}")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if has_request_context():
        raise RuntimeError("key rotation runs from the command line (`marac keys rotate`), never in a web request")
    try:
        rotation = _begin(session, purpose, started_by_id)
        run = _Run(session, rotation.id, rotation.target_version, batch_size, on_progress)
        if purpose == PURPOSE_FIELD:
            _rotate_fields(run)
        else:
            _rotate_index(run)
        return _finish(run, purpose)
    except BaseException:
        session.rollback()
        raise


def unfinished_rotation(session: Session, purpose: str) -> KeyRotation | None:
    """The rotation of `purpose` still to be completed, if any."""
    query = select(KeyRotation).where(KeyRotation.purpose == purpose, KeyRotation.finished_at.is_(None))
    return session.scalars(query.order_by(KeyRotation.id).limit(1)).first()


def progress_of(rotation: KeyRotation) -> dict[str, int]:
    """How far a rotation has got: {table: last row id done}."""
    return {name: last for name, last in json.loads(rotation.progress or "{}").items() if name != UNREADABLE}


def unreadable_count(rotation: KeyRotation) -> int:
    """Values a field rotation could not open and left as they were (logged by table, column and row)."""
    return int(json.loads(rotation.progress or "{}").get(UNREADABLE, 0))


def describe_keys(session: Session) -> list[str]:
    """One line per key version and per unfinished rotation, for `marac keys status` (never key material)."""
    from marac.web import london

    lines = []
    for key in session.scalars(select(DataKey).order_by(DataKey.purpose, DataKey.version)):
        line = f"{key.purpose:<6} v{key.version:<3} {key.status:<9} created {london(key.created_at)}"
        lines.append(line + (f", retired {london(key.retired_at)}" if key.retired_at else ""))
    unfinished = select(KeyRotation).where(KeyRotation.finished_at.is_(None)).order_by(KeyRotation.id)
    for rotation in session.scalars(unfinished):
        done = ", ".join(f"{table} up to row {last}" for table, last in sorted(progress_of(rotation).items()))
        flag = " --index" if rotation.purpose == PURPOSE_INDEX else ""
        lines.append(
            f"unfinished {rotation.purpose} rotation to v{rotation.target_version}, started "
            f"{london(rotation.started_at)}: {rotation.done_count} done ({done or 'nothing yet'}); "
            f"`marac keys rotate{flag}` resumes it"
        )
    return lines


# --- starting and finishing ---------------------------------------------------------------------------------------


def _begin(session: Session, purpose: str, started_by_id: int | None) -> KeyRotation:
    """The unfinished rotation, or a new one (committed); the keyring reloaded either way."""
    if session.get_bind().dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE already serialises starts
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ROTATION_LOCK_KEY})
    rotation = unfinished_rotation(session, purpose)
    if rotation is not None:
        log.info("resuming key rotation", purpose=purpose, version=rotation.target_version)
    else:
        rotation = _start(session, purpose, started_by_id)
    session.commit()
    reload_keyring(session)
    return rotation


def _start(session: Session, purpose: str, started_by_id: int | None) -> KeyRotation:
    """Make the next key version active, the active one previous, and record and audit the rotation."""
    master = keyring(session).master
    old = session.scalars(select(DataKey).where(DataKey.purpose == purpose, DataKey.status == "active")).all()
    for key in old:
        key.status = "previous"
    session.flush()
    new = create_key(session, master, purpose, "active")
    rotation = KeyRotation(
        purpose=purpose, target_version=new.version, progress="{}", done_count=0, started_by_id=started_by_id
    )
    session.add(rotation)
    details: dict[str, object] = {"purpose": purpose, "from_versions": [k.version for k in old], "to": new.version}
    if started_by_id is not None:
        details["started_by_id"] = started_by_id
    audit.record(
        "keys.rotate_started",
        object_type="data_key",
        object_id=_key_id(purpose, new.version),
        details=details,
        session=session,
    )
    return rotation


def _finish(run: _Run, purpose: str) -> KeyRotation:
    """Retire the old key versions (kept stored), mark the rotation finished and audit it."""
    rotation = run.lock()
    now = db.utcnow()
    old = run.session.scalars(select(DataKey).where(DataKey.purpose == purpose, DataKey.status == "previous")).all()
    for key in old:
        key.status, key.retired_at = "retired", now
    rotation.finished_at = now
    details: dict[str, object] = {
        "purpose": purpose,
        "retired_versions": [k.version for k in old],
        "done": rotation.done_count,
        "unreadable": unreadable_count(rotation),
    }
    audit.record(
        "keys.rotate_finished",
        object_type="data_key",
        object_id=_key_id(purpose, rotation.target_version),
        details=details,
        session=run.session,
    )
    run.session.commit()
    reload_keyring(run.session)
    run.session.commit()  # end the keyring's read: on SQLite every transaction holds the write lock
    log.info("key rotation finished", purpose=purpose, version=rotation.target_version, done=rotation.done_count)
    return rotation


def _key_id(purpose: str, version: int) -> str:
    return f"{purpose}:v{version}"


@dataclass
class _Run:
    """One run of a rotation: where it reports to and how big its batches are."""

    session: Session
    rotation_id: int
    target: int
    batch_size: int
    on_progress: Progress | None
    done_rows: int = 0
    total_rows: int = 0

    @property
    def is_postgres(self) -> bool:
        """Whether rows are locked as they are read (SQLite's transactions already hold the write lock)."""
        return self.session.get_bind().dialect.name == "postgresql"

    def lock(self) -> KeyRotation:
        """The rotation row, re-read and locked: a second runner waits for this batch, then sees its progress."""
        rotation = self.session.get(KeyRotation, self.rotation_id, with_for_update=True, populate_existing=True)
        assert rotation is not None
        return rotation

    def ring(self) -> Keyring:
        """The keyring, refreshed through this session (never through another, which would wait for our lock)."""
        return keyring(self.session)

    def save(self, rotation: KeyRotation, progress: dict[str, int], done: int, rows: int) -> None:
        """Record progress with the batch, commit, and report."""
        rotation.progress = json.dumps(progress, sort_keys=True)
        rotation.done_count += done
        self.session.commit()
        self.done_rows += rows
        if self.on_progress is not None:
            self.on_progress(self.done_rows, self.total_rows)

    def count_rows(self, table: Table, progress: dict[str, int]) -> None:
        """Add a table's rows to the totals reported, counting those done by an earlier run as done."""
        total, done = self.session.execute(
            select(func.count(), func.count().filter(table.c.id <= progress.get(table.name, 0))).select_from(table)
        ).one()
        self.total_rows += total
        self.done_rows += done


# --- field keys ---------------------------------------------------------------------------------------------------


def _rotate_fields(run: _Run) -> None:
    """Walk every table with encrypted columns by id, then sweep up values sealed with an old key meanwhile."""
    tables = [(db.Base.metadata.tables[name], REGISTRY[name]) for name in sorted(REGISTRY)]
    progress = _progress(run.lock())
    for table, _specs in tables:
        run.count_rows(table, progress)
    for table, specs in tables:
        while _field_batch(run, table, specs):
            pass
    for table, specs in tables:
        after: int | None = 0
        while after is not None:
            after = _field_sweep_batch(run, table, specs, after)


def _field_batch(run: _Run, table: Table, specs: Sequence[Encrypted[Any]]) -> bool:
    """Reseal one batch of rows after the recorded progress; False when the table is done."""
    rotation = run.lock()
    progress = _progress(rotation)
    rows = run.session.execute(_field_select(run, table, specs, progress.get(table.name, 0))).all()
    if not rows:
        run.session.commit()
        return False
    done, unreadable = _reseal_and_write(run, table, specs, rows)
    progress[table.name] = rows[-1][0]
    if unreadable:
        progress[UNREADABLE] = unreadable_count(rotation) + unreadable
    run.save(rotation, progress, done, len(rows))
    return len(rows) == run.batch_size


def _field_sweep_batch(run: _Run, table: Table, specs: Sequence[Encrypted[Any]], after: int) -> int | None:
    """Reseal one batch of rows still holding a value under another version; the last id, or None when none."""
    rotation = run.lock()
    header = HEADER.pack(FORMAT, run.target)
    columns = [table.c[name] for name in _names(specs)]
    stale = or_(*(and_(c.is_not(None), func.substr(c, 1, HEADER.size) != header) for c in columns))
    rows = run.session.execute(_field_select(run, table, specs, after).where(stale)).all()
    if not rows:
        run.session.commit()
        return None
    done, _unreadable = _reseal_and_write(run, table, specs, rows)  # counted by the walk already
    rotation.done_count += done
    run.session.commit()
    return int(rows[-1][0]) if len(rows) == run.batch_size else None


def _field_select(run: _Run, table: Table, specs: Sequence[Encrypted[Any]], after: int) -> Select[Any]:
    columns = [table.c[name] for name in _names(specs)]
    query = select(table.c.id, table.c.public_id, *columns).where(table.c.id > after)
    query = query.order_by(table.c.id).limit(run.batch_size)
    return query.with_for_update() if run.is_postgres else query


def _names(specs: Sequence[Encrypted[Any]]) -> list[str]:
    """The database columns of encrypted attributes (also what their ciphertexts are bound to)."""
    return [spec.column or spec.name for spec in specs]


def _reseal_and_write(run: _Run, table: Table, specs: Sequence[Encrypted[Any]], rows: Sequence[Any]) -> tuple[int, int]:
    """Reseal the rows' values not at the target version and write them with one executemany UPDATE."""
    names = _names(specs)
    params, done, unreadable = _reseal_rows(run.ring(), table.name, names, rows, run.target)
    if params:
        statement = update(table).where(table.c.id == bindparam("row_key"))
        run.session.execute(statement.values({name: bindparam(f"new_{name}") for name in names}), params)
    return done, unreadable


def _reseal_rows(
    ring: Keyring, table: str, names: list[str], rows: Sequence[Any], target: int
) -> tuple[list[dict[str, Any]], int, int]:
    """UPDATE parameters for the rows that changed (every column, unchanged ones as they were), values resealed,
    values left unreadable. The inner loop of a rotation: kept free of the ORM."""
    keys = [f"new_{name}" for name in names]
    params: list[dict[str, Any]] = []
    done = unreadable = 0
    for row_key, public_id, *values in rows:
        new: dict[str, Any] = dict(zip(keys, values, strict=True))
        before = done
        for name, key, sealed in zip(names, keys, values, strict=True):
            if sealed is None:
                continue
            try:
                resealed = reseal(ring, bytes(sealed), AadParts(table, name, public_id), target)
            except UnreadableValue as exc:
                log.warning("rotation left a value unreadable", table=table, column=name, row=public_id, why=str(exc))
                unreadable += 1
                continue
            if resealed is not None:
                new[key], done = resealed, done + 1
        if done > before:
            new["row_key"] = row_key
            params.append(new)
    return params, done, unreadable


# --- index keys ---------------------------------------------------------------------------------------------------


def _rotate_index(run: _Run) -> None:
    """Rebuild every person's terms under the new index version, then sweep up persons given old terms meanwhile."""
    run.count_rows(db.Base.metadata.tables[INDEX_TABLE], _progress(run.lock()))
    while _index_batch(run):
        pass
    after: int | None = 0
    while after is not None:
        after = _index_sweep_batch(run, after)


def _index_batch(run: _Run) -> bool:
    """Rebuild the terms of one batch of persons after the recorded progress; False when all are done."""
    rotation = run.lock()
    progress = _progress(rotation)
    persons = _persons_after(run, progress.get(INDEX_TABLE, 0), stale_only=False)
    if not persons:
        run.session.commit()
        return False
    done = _rebuild_terms(run, persons)
    progress[INDEX_TABLE] = persons[-1].id
    run.save(rotation, progress, done, len(persons))
    return len(persons) == run.batch_size


def _index_sweep_batch(run: _Run, after: int) -> int | None:
    """Rebuild one batch of persons still holding terms under another version; the last id, or None when none."""
    rotation = run.lock()
    persons = _persons_after(run, after, stale_only=True)
    if not persons:
        run.session.commit()
        return None
    rotation.done_count += _rebuild_terms(run, persons)
    run.session.commit()
    return persons[-1].id if len(persons) == run.batch_size else None


def _persons_after(run: _Run, after: int, *, stale_only: bool) -> Sequence[Any]:
    from marac.people.models import Person, PersonTerm

    query = select(Person).where(Person.id > after).order_by(Person.id).limit(run.batch_size)
    if stale_only:
        query = query.where(Person.id.in_(select(PersonTerm.person_id).where(PersonTerm.key_version != run.target)))
    if run.is_postgres:
        query = query.with_for_update(of=Person)
    return run.session.scalars(query).all()


def _rebuild_terms(run: _Run, persons: Sequence[Any]) -> int:
    """Write the persons' terms under the target version and delete their terms under any other."""
    from marac.people.models import PersonTerm
    from marac.people.services import term_rows

    ring = run.ring()
    rows = [row for person in persons for row in term_rows(ring, person, run.target)]
    # One DELETE and one INSERT per batch (not per person): the round trips dominated index rotation.
    old = delete(PersonTerm).where(PersonTerm.person_id.in_([p.id for p in persons]))
    run.session.execute(old.execution_options(synchronize_session=False))
    if rows:
        run.session.execute(insert(PersonTerm), rows)
    return len(rows)


def _progress(rotation: KeyRotation) -> dict[str, int]:
    """The whole progress record, unreadable count included."""
    return dict(json.loads(rotation.progress or "{}"))
