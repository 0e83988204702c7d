"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import gzip
import re
from functools import cache
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 12
MAX_LENGTH = 256
_EDGE = re.compile(r"^[\W\d_]+|[\W\d_]+$")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased."""
    raw = resources.files("marac.data").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(raw).decode().splitlines() if line.strip())


def hasher() -> PasswordHasher:
    """An argon2id hasher with the configured cost."""
    config = current_app.config
    return _hasher(
        config["MARAC_ARGON2_TIME_COST"], config["MARAC_ARGON2_MEMORY_KIB"], config["MARAC_ARGON2_PARALLELISM"]
    )


@cache
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID)


def hash_password(password: str) -> str:
    """Hash a password for storage."""
    return hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Check a password against its stored hash in constant time."""
    try:
        return hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the stored hash was made with other cost settings."""
    try:
        return hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True


@cache
def dummy_hash() -> str:
    """A hash to verify against when the account does not exist, so timing does not reveal it."""
    return hasher().hash("marac-dummy-password-for-timing")


def password_problems(password: str, email: str | None = None) -> list[str]:
    """Reasons a new password is refused; an empty list means it is acceptable."""
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(f"Password must be {MIN_LENGTH} characters or more")
    if len(password) > MAX_LENGTH:
        problems.append(f"Password must be {MAX_LENGTH} characters or fewer")
    lowered = password.lower()
    core = _EDGE.sub("", lowered)
    common = common_passwords()
    if lowered in common or (core and core in common) or len(set(lowered)) <= 2:
        problems.append("Password is too common: choose one that is hard to guess, such as three random words")
    if email:
        local = email.split("@", 1)[0].lower()
        if len(local) >= 4 and local in lowered:
            problems.append("Password must not contain your email address")
    return problems
