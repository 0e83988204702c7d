"""Synthetic persons turned into rows with the real Keyring: sealed columns and blind-index terms.

This runs in worker processes (one per core), so the keys travel raw to each worker and a Keyring is built
there without a database; sealing and terms still go through `Keyring.seal`, `Keyring.term` and the real
`Identifiers.values()`, so what is stored is exactly what the application would store.
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.orm import Session

from benchmarks.synthetic import Pools, persons
from marac.crypto import PURPOSE_FIELD, PURPOSE_INDEX, REGISTRY, AadParts, DataKey, Keyring, unwrap_key
from marac.people.models import Person
from marac.people.services import PersonDetails

#: (attribute, column, codec) of every sealed column of persons, from the model's own declarations.
SEALED = tuple((enc.name, enc.column or enc.name, enc.codec) for enc in REGISTRY[Person.__tablename__])
PERSON_COLUMNS = ("id", "public_id", "kind", "identity_key", "created_at", "updated_at", *(c for _, c, _ in SEALED))
TERM_COLUMNS = ("person_id", "field", "key_version", "digest")
PLAIN_COLUMNS = ("person_id", "field", "value")
#: Records are spread over the five years before this.
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RawKeys:
    """The active field and index keys, unwrapped, for a worker to build a Keyring from."""

    field_version: int
    field_key: bytes
    index_version: int
    index_root: bytes

    def keyring(self) -> Keyring:
        """A Keyring holding just these keys (no database needed)."""
        return Keyring(
            master=b"",
            field_keys={self.field_version: AESGCM(self.field_key)},
            index_roots={self.index_version: self.index_root},
            active={PURPOSE_FIELD: self.field_version, PURPOSE_INDEX: self.index_version},
            readable_index_versions=[self.index_version],
            loaded_at=time.monotonic(),
        )


def raw_keys(session: Session, master: bytes) -> RawKeys:
    """Unwrap the active data keys with the master key."""
    found: dict[str, tuple[int, bytes]] = {}
    for row in session.scalars(select(DataKey).where(DataKey.status == "active")):
        found[row.purpose] = (row.version, unwrap_key(master, row.purpose, row.version, row.wrapped))
    (fv, fk), (iv, ik) = found[PURPOSE_FIELD], found[PURPOSE_INDEX]
    return RawKeys(fv, fk, iv, ik)


@dataclass(frozen=True)
class ChunkSpec:
    """Which persons a worker makes: ids first_id.., a seed, how timestamps are written, which to keep plain."""

    first_id: int
    count: int
    seed: int
    sqlite: bool
    sample_every: int


@dataclass
class Chunk:
    """Rows for persons, person_terms and bench_plain_terms, and a few persons kept in plaintext for probes."""

    persons: list[tuple[Any, ...]] = field(default_factory=list)
    terms: list[tuple[Any, ...]] = field(default_factory=list)
    plain: list[tuple[Any, ...]] = field(default_factory=list)
    samples: list[tuple[int, PersonDetails]] = field(default_factory=list)


_state: dict[str, Any] = {}


def init_worker(pools: Pools, keys: RawKeys) -> None:
    """Process initialiser: pools and a Keyring, built once per worker."""
    _state["pools"], _state["ring"], _state["keys"] = pools, keys.keyring(), keys


def make_chunk(spec: ChunkSpec) -> Chunk:
    """Generate, seal and index `spec.count` persons."""
    pools: Pools = _state["pools"]
    ring: Keyring = _state["ring"]
    keys: RawKeys = _state["keys"]
    rng = random.Random(spec.seed)
    chunk = Chunk()
    for offset, (kind, details) in enumerate(persons(rng, pools, spec.count)):
        person_id = spec.first_id + offset
        created = EPOCH - timedelta(seconds=rng.randrange(5 * 365 * 86400))
        stamp: Any = created.strftime("%Y-%m-%d %H:%M:%S.%f") if spec.sqlite else created
        chunk.persons.append(person_row(ring, keys.field_version, person_id, kind, details, stamp))
        for name, value in details.identifiers().values():
            chunk.terms.append((person_id, name, keys.index_version, ring.term(name, value, keys.index_version)))
            chunk.plain.append((person_id, name, value))
        if person_id % spec.sample_every == 0:
            chunk.samples.append((person_id, details))
    return chunk


def person_row(ring: Keyring, version: int, person_id: int, kind: str, details: PersonDetails, stamp: Any) -> tuple:
    """A persons row in PERSON_COLUMNS order, every field sealed as `Encrypted.__set__` would seal it."""
    public_id = str(uuid.uuid4())
    sealed: list[bytes | None] = []
    for name, column, codec in SEALED:
        value = getattr(details, name)
        if value is None or value == "" or value == []:
            sealed.append(None)
        else:
            sealed.append(ring.seal(codec.encode(value), AadParts(Person.__tablename__, column, public_id), version))
    return (person_id, public_id, kind, str(uuid.uuid4()), stamp, stamp, *sealed)
