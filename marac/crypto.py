"""Keyring, field encryption and blind indexes: the only code that touches a cipher.

* A master key (``MARAC_MASTER_KEY``, 32 random bytes, base64) wraps versioned data keys kept in ``data_keys``.
* Fields are sealed with AES-256-GCM. The associated data binds the ciphertext to its table, column, row (public id)
  and key version, so a value copied to another row or column does not open.
* Blind indexes are HMAC-SHA256 over normalised values, with one key per field derived by HKDF from a versioned
  index key. They let matching find candidates without storing a searchable plaintext.

Models declare encrypted fields with :class:`Encrypted` beside a ``LargeBinary`` column; nothing else calls the cipher.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app, g, has_app_context
from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from marac.db import Base, UTCDateTime, new_public_id, utcnow

log = structlog.get_logger(__name__)

T = TypeVar("T")

#: First byte of every sealed value; lets a future format change be recognised.
FORMAT = 1
HEADER = struct.Struct(">BI")  # format, key version
NONCE_BYTES = 12
INDEX_BYTES = 16  # truncated HMAC-SHA256: plenty for equality lookups, half the index size
PURPOSE_FIELD = "field"
PURPOSE_INDEX = "index"
PURPOSES = (PURPOSE_FIELD, PURPOSE_INDEX)
KEY_CACHE_SECONDS = 30.0


class KeyringError(RuntimeError):
    """The keys cannot be used: missing, wrong master key, or no active version. The message says what to do."""


class UnreadableValue(Exception):
    """A sealed value failed to open (moved, corrupted, or an unknown key version)."""


class Unreadable:
    """Shown in place of a value that failed to open; falsy, renders as "unreadable"."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __str__(self) -> str:
        return "unreadable"

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<Unreadable {self.reason}>"


class DataKey(Base):
    """A versioned data key, stored only wrapped by the master key."""

    __tablename__ = "data_keys"
    __table_args__ = (UniqueConstraint("purpose", "version"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: "field" (sealing values) or "index" (blind indexes).
    purpose: Mapped[str] = mapped_column(String(10))
    #: Version number, written into every ciphertext or index term made with it.
    version: Mapped[int] = mapped_column(Integer)
    #: The key sealed with AES-GCM under the master key (nonce + ciphertext).
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    #: "active" (used for new values), "previous" (still read while a rotation runs) or "retired" (nothing uses it).
    status: Mapped[str] = mapped_column(String(10), default="active")
    #: When it was made.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When a rotation finished moving everything off it.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<DataKey {self.purpose} v{self.version} {self.status}>"


class KeyRotation(Base):
    """A key rotation and how far it has got, so a killed run resumes where it stopped."""

    __tablename__ = "key_rotations"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier.
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_public_id)
    #: Which keys are rotated: "field" or "index".
    purpose: Mapped[str] = mapped_column(String(10))
    #: The version everything is moved to.
    target_version: Mapped[int] = mapped_column(Integer)
    #: JSON {table: last row id done}.
    progress: Mapped[str] = mapped_column(String(2000), default="{}")
    #: Values re-encrypted or index rows rebuilt so far.
    done_count: Mapped[int] = mapped_column(Integer, default=0)
    #: When it began.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When it finished; None while it is still to be completed.
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Who started it (None: the command line).
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    def __repr__(self) -> str:
        return f"<KeyRotation {self.purpose} -> v{self.target_version}>"


# --- master key ---------------------------------------------------------------------------------------------------


def parse_master_key(value: str) -> bytes:
    """Decode a master key (base64 or hex of 32 bytes); raise ValueError saying what is wrong."""
    text = value.strip()
    decoded: bytes | None = None
    if len(text) == 64:
        try:
            decoded = bytes.fromhex(text)
        except ValueError:
            decoded = None
    if decoded is None:
        try:
            decoded = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("it is not base64 or hex") from exc
    if len(decoded) != 32:
        raise ValueError(f"it must be 32 random bytes, got {len(decoded)}")
    if len(set(decoded)) < 8:
        raise ValueError("it is not random (too few distinct bytes)")
    return decoded


def generate_master_key() -> str:
    """A new master key in the form MARAC_MASTER_KEY takes."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def _wrap_aad(purpose: str, version: int) -> bytes:
    return f"marac-data-key|{purpose}|{version}".encode()


def wrap_key(master: bytes, purpose: str, version: int, key: bytes) -> bytes:
    """Seal a data key under the master key."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, key, _wrap_aad(purpose, version))


def unwrap_key(master: bytes, purpose: str, version: int, wrapped: bytes) -> bytes:
    """Open a wrapped data key; KeyringError when the master key does not fit."""
    try:
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(purpose, version))
    except InvalidTag as exc:
        raise KeyringError(
            "MARAC_MASTER_KEY does not open the data keys in this database: is it the key this database was made with?"
        ) from exc


# --- keyring ------------------------------------------------------------------------------------------------------


@dataclass
class Keyring:
    """Unwrapped keys for one process, refreshed from `data_keys` every few seconds or on an unknown version."""

    master: bytes
    field_keys: dict[int, AESGCM] = field(default_factory=dict)
    index_roots: dict[int, bytes] = field(default_factory=dict)
    active: dict[str, int] = field(default_factory=dict)
    readable_index_versions: list[int] = field(default_factory=list)
    loaded_at: float = -1e9
    _index_keys: dict[tuple[int, str], bytes] = field(default_factory=dict)

    def load(self, session: Session) -> None:
        """Read every key version from the database."""
        rows = session.scalars(select(DataKey).order_by(DataKey.purpose, DataKey.version)).all()
        field_keys: dict[int, AESGCM] = {}
        index_roots: dict[int, bytes] = {}
        active: dict[str, int] = {}
        readable: list[int] = []
        for row in rows:
            raw = unwrap_key(self.master, row.purpose, row.version, row.wrapped)
            if row.purpose == PURPOSE_FIELD:
                field_keys[row.version] = AESGCM(raw)
            else:
                index_roots[row.version] = raw
                if row.status != "retired":
                    readable.append(row.version)
            if row.status == "active":
                active[row.purpose] = row.version
        self.field_keys, self.index_roots, self.active = field_keys, index_roots, active
        self.readable_index_versions = readable
        self.loaded_at = time.monotonic()

    def fresh(self, session: Session) -> Keyring:
        """This keyring, reloaded when it is older than KEY_CACHE_SECONDS (another process may have rotated)."""
        if time.monotonic() - self.loaded_at > KEY_CACHE_SECONDS:
            self.load(session)
        return self

    def active_version(self, purpose: str) -> int:
        """The version new values are made with."""
        try:
            return self.active[purpose]
        except KeyError:
            raise KeyringError(f"no active {purpose} key: run `marac db upgrade` to create the first keys") from None

    # sealing

    def seal(self, plaintext: bytes, aad: AadParts, version: int | None = None) -> bytes:
        """Encrypt with the active (or given) field key version."""
        version = self.active_version(PURPOSE_FIELD) if version is None else version
        nonce = os.urandom(NONCE_BYTES)
        header = HEADER.pack(FORMAT, version)
        return header + nonce + self.field_keys[version].encrypt(nonce, _pad(plaintext), aad.bytes(version))

    def open(self, sealed: bytes, aad: AadParts) -> bytes:
        """Decrypt; UnreadableValue when the value is corrupted, moved or made with an unknown key."""
        version = sealed_version(sealed)
        key = self.field_keys.get(version)
        if key is None:
            raise UnreadableValue("unknown key version")
        start = HEADER.size
        try:
            padded = key.decrypt(sealed[start : start + NONCE_BYTES], sealed[start + NONCE_BYTES :], aad.bytes(version))
        except InvalidTag:
            raise UnreadableValue("authentication failed") from None
        return _unpad(padded)

    # blind indexes

    def index_key(self, version: int, name: str) -> bytes:
        """The HMAC key for one field, derived by HKDF from the index root key of `version`."""
        cached = self._index_keys.get((version, name))
        if cached is None:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"marac-blind-index|" + name.encode())
            cached = hkdf.derive(self.index_roots[version])
            self._index_keys[(version, name)] = cached
        return cached

    def term(self, name: str, normalised: str, version: int | None = None) -> bytes:
        """A blind-index term for a normalised value under the active (or given) index version."""
        version = self.active_version(PURPOSE_INDEX) if version is None else version
        return hmac.digest(self.index_key(version, name), normalised.encode(), hashlib.sha256)[:INDEX_BYTES]


@dataclass(frozen=True)
class AadParts:
    """What a ciphertext is bound to."""

    table: str
    column: str
    row_id: str

    def bytes(self, version: int) -> bytes:
        """Associated data: table, column, row and key version."""
        return f"{self.table}|{self.column}|{self.row_id}|{version}".encode()


def sealed_version(sealed: bytes) -> int:
    """The key version a sealed value was made with; UnreadableValue when it is not one of ours."""
    if len(sealed) < HEADER.size + NONCE_BYTES + 16:
        raise UnreadableValue("too short")
    fmt, version = HEADER.unpack_from(sealed)
    if fmt != FORMAT:
        raise UnreadableValue("unknown format")
    return int(version)


def _pad(data: bytes) -> bytes:
    """ISO/IEC 7816-4 padding to 16 bytes, so a ciphertext's length says little about a name's length."""
    padded = data + b"\x80"
    return padded + b"\x00" * (-len(padded) % 16)


def _unpad(data: bytes) -> bytes:
    end = data.rfind(b"\x80")
    if end < 0 or data[end + 1 :].strip(b"\x00"):
        raise UnreadableValue("bad padding")
    return data[:end]


def keyring(session: Session | None = None) -> Keyring:
    """The current app's keyring, loaded on first use and refreshed every KEY_CACHE_SECONDS."""
    from marac import db

    ring: Keyring | None = current_app.extensions.get("marac_keyring")
    if ring is None:
        ring = Keyring(master=parse_master_key(current_app.config["MARAC_MASTER_KEY"]))
        current_app.extensions["marac_keyring"] = ring
    return ring.fresh(session or db.session)


def reload_keyring(session: Session | None = None) -> Keyring:
    """Reload the keys now (after creating or rotating them)."""
    ring = keyring(session)
    from marac import db

    ring.load(session or db.session)
    return ring


def create_key(session: Session, master: bytes, purpose: str, status: str = "active") -> DataKey:
    """Add the next version of a data key (wrapped) for `purpose`."""
    current = session.scalar(select(DataKey.version).where(DataKey.purpose == purpose).order_by(DataKey.version.desc()))
    row = DataKey(purpose=purpose, version=(current or 0) + 1, wrapped=b"", status=status)
    row.wrapped = wrap_key(master, purpose, row.version, os.urandom(32))
    session.add(row)
    session.flush()
    return row


def ensure_keys(session: Session, master: bytes) -> list[DataKey]:
    """Create the first field and index keys when the database has none; returns what was created."""
    created = []
    for purpose in PURPOSES:
        if session.scalar(select(DataKey.id).where(DataKey.purpose == purpose).limit(1)) is None:
            created.append(create_key(session, master, purpose))
    return created


def check_keys(session: Session) -> None:
    """Fail with KeyringError unless the master key opens every data key and both purposes have an active key."""
    ring = reload_keyring(session)
    for purpose in PURPOSES:
        ring.active_version(purpose)


# --- encrypted attributes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Codec(Generic[T]):
    """How a typed value becomes bytes and back."""

    name: str
    encode: Callable[[T], bytes]
    decode: Callable[[bytes], T]


TEXT: Codec[str] = Codec("text", lambda v: v.encode(), lambda b: b.decode())
DATE: Codec[date] = Codec("date", lambda v: v.isoformat().encode(), lambda b: date.fromisoformat(b.decode()))
TEXT_LIST: Codec[list[str]] = Codec(
    "text_list", lambda v: json.dumps(list(v), ensure_ascii=False).encode(), lambda b: list(json.loads(b))
)
BOOL: Codec[bool] = Codec("bool", lambda v: b"1" if v else b"0", lambda b: b == b"1")

#: Every encrypted attribute by table name: [(attribute, column)], for rotation.
REGISTRY: dict[str, list[Encrypted[Any]]] = {}


class Encrypted(Generic[T]):
    """An encrypted attribute over a ``<name>_enc`` LargeBinary column; reads decrypt, writes seal.

    The row is identified by its ``public_id`` (set on first write when the object is new), which the associated
    data binds. A value that fails to open reads as :class:`Unreadable` and is logged and noted for the audit.
    """

    def __init__(self, codec: Codec[T], column: str | None = None) -> None:
        self.codec = codec
        self.column = column
        self.name = ""
        self.storage = ""
        self.table = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.storage = f"{name}_enc"
        self.column = self.column or name
        self.table = owner.__dict__.get("__tablename__", "")
        REGISTRY.setdefault(self.table, []).append(self)

    def aad(self, obj: Any) -> AadParts:
        """What this attribute's ciphertext on `obj` is bound to."""
        if obj.public_id is None:
            obj.public_id = new_public_id()
        return AadParts(self.table, self.column or self.name, obj.public_id)

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        sealed = getattr(obj, self.storage)
        if sealed is None:
            return None
        cache: dict[str, tuple[bytes, Any]] = obj.__dict__.setdefault("_marac_plain", {})
        hit = cache.get(self.name)
        if hit is not None and hit[0] == sealed:
            return hit[1]
        try:
            value: Any = self.codec.decode(keyring().open(bytes(sealed), self.aad(obj)))
        except (UnreadableValue, ValueError, UnicodeDecodeError) as exc:
            value = Unreadable(str(exc))
            _note_unreadable(self.table, self.column or self.name, obj.public_id, str(exc))
        cache[self.name] = (sealed, value)
        return value

    def __set__(self, obj: Any, value: T | None) -> None:
        if value is None or value == "" or value == []:
            setattr(obj, self.storage, None)
            obj.__dict__.get("_marac_plain", {}).pop(self.name, None)
            return
        sealed = keyring().seal(self.codec.encode(value), self.aad(obj))
        setattr(obj, self.storage, sealed)
        obj.__dict__.setdefault("_marac_plain", {})[self.name] = (sealed, value)


def _note_unreadable(table: str, column: str, row_id: str, reason: str) -> None:
    """Log (no values) and remember for the audit an encrypted value that did not open."""
    log.warning("encrypted value unreadable", table=table, column=column, row=row_id, reason=reason)
    if has_app_context():
        g.setdefault("marac_unreadable", []).append((table, column, row_id, reason))


def take_unreadable() -> list[tuple[str, str, str, str]]:
    """The (table, column, row, reason) of values that failed to open in this context, clearing the list."""
    if not has_app_context():
        return []
    return list(g.pop("marac_unreadable", []))


def reseal(ring: Keyring, sealed: bytes, aad: AadParts, version: int) -> bytes | None:
    """The value sealed under `version`, or None when it already is (rotation)."""
    if sealed_version(sealed) == version:
        return None
    return ring.seal(ring.open(sealed, aad), aad, version)
