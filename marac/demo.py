"""Synthetic demo data: agencies of every kind, two MARAC areas and one account per role (Faker en_GB)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

import pyotp
from faker import Faker
from sqlalchemy import func, select

from marac import db
from marac.access import Role
from marac.auth import passwords
from marac.auth.accounts import create_user
from marac.auth.models import User
from marac.orgs.models import Agency, AgencyKind
from marac.orgs.services import save_agency, save_area

DEMO_DOMAIN = "demo.marac.example"
AREAS = ("Northvale North MARAC", "Northvale South MARAC")
#: (agency name, kind, areas served: "both", "north" or "south")
AGENCIES: list[tuple[str, AgencyKind, str]] = [
    ("Northvale Police", AgencyKind.POLICE, "both"),
    ("Northvale IDVA Service", AgencyKind.IDVA_SERVICE, "both"),
    ("Northvale Health NHS Trust", AgencyKind.HEALTH, "both"),
    ("Northvale Homes", AgencyKind.HOUSING, "both"),
    ("Northvale Children's Services", AgencyKind.CHILDRENS_SOCIAL_CARE, "both"),
    ("Northvale Adult Social Care", AgencyKind.ADULT_SOCIAL_CARE, "both"),
    ("Northvale Probation Delivery Unit", AgencyKind.PROBATION, "both"),
    ("Safer Futures Domestic Abuse Service", AgencyKind.SPECIALIST_DA_SERVICE, "both"),
    ("Oakfield Primary School", AgencyKind.EDUCATION, "north"),
    ("Riverside Academy", AgencyKind.EDUCATION, "south"),
    ("Hollins Park College", AgencyKind.EDUCATION, "north"),
    ("Northvale Council MARAC Team", AgencyKind.LOCAL_AUTHORITY, "both"),
    ("Northvale Fire and Rescue", AgencyKind.OTHER, "both"),
]
#: (login name, role, agency name, area limit or None)
ACCOUNTS: list[tuple[str, Role, str, str | None]] = [
    ("coordinator", Role.COORDINATOR, "Northvale Council MARAC Team", "Northvale North MARAC"),
    ("chair", Role.CHAIR, "Northvale Police", None),
    ("idva", Role.IDVA, "Northvale IDVA Service", None),
    ("referrer", Role.REFERRER, "Northvale Police", None),
    ("supervisor", Role.SUPERVISOR, "Northvale Police", None),
    ("agency-rep", Role.AGENCY_REP, "Northvale Health NHS Trust", None),
    ("key-adult-oakfield", Role.KEY_ADULT, "Oakfield Primary School", None),
    ("key-adult-riverside", Role.KEY_ADULT, "Riverside Academy", None),
    ("dpo", Role.DPO, "Northvale Council MARAC Team", None),
    ("admin", Role.ADMIN, "Northvale Council MARAC Team", None),
]


def demo_password() -> str:
    """A strong random password for a demo account (never a fixed one)."""
    return "demo-" + secrets.token_urlsafe(12)


def _write_accounts(path: Path, accounts: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(accounts, handle, indent=2)


def _enrol(user: User, password: str) -> dict[str, Any]:
    secret = pyotp.random_base32()
    user.password_hash, user.must_change_password = passwords.hash_password(password), False
    user.totp_secret, user.totp_pending_secret, user.totp_last_step = secret, None, None
    user.mfa_enrolled_at, user.failed_attempts, user.locked_until = db.utcnow(), 0, None
    return {
        "email": user.email,
        "password": password,
        "totp_secret": secret,
        "role": user.role_names[0],
        "agency": user.agency.name,
    }


def seed_demo(accounts_file: Path, seed: int = 2026) -> bool:
    """Seed once; a second run keeps what is there. Returns True when it seeded."""
    if db.session.scalar(select(func.count()).select_from(Agency)):
        if not accounts_file.exists():
            _reissue_demo_credentials(accounts_file)
        return False
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    areas = {name: save_area(None, name=name) for name in AREAS}
    north, south = areas[AREAS[0]], areas[AREAS[1]]
    served = {"both": [north, south], "north": [north], "south": [south]}
    agencies = {
        name: save_agency(None, name=name, kind=kind.value, areas=served[where]) for name, kind, where in AGENCIES
    }
    accounts = []
    for login, role, agency_name, area_name in ACCOUNTS:
        limit = [areas[area_name]] if area_name else []
        user, _ = create_user(
            None,
            email=f"{login}@{DEMO_DOMAIN}",
            display_name=fake.name(),
            agency=agencies[agency_name],
            roles=[role.value],
            areas=limit,
            now=db.utcnow(),
        )
        accounts.append(_enrol(user, demo_password()))
    db.session.commit()
    _write_accounts(accounts_file, accounts)
    return True


def _reissue_demo_credentials(accounts_file: Path) -> None:
    """The accounts file was lost: give the demo accounts new passwords and authenticator secrets."""
    users = db.session.scalars(select(User).where(User.email.like(f"%@{DEMO_DOMAIN}")).order_by(User.id))
    accounts = [_enrol(user, demo_password()) for user in users]
    db.session.commit()
    _write_accounts(accounts_file, accounts)
