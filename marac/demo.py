"""Synthetic demo data (Faker en_GB): agencies of every kind, two MARAC areas, one account per role, and the
synthetic people of about 200 cases (made through the services in marac/demo_cases.py)."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from random import Random
from typing import Any

import pyotp
from faker import Faker
from sqlalchemy import func, select

from marac import db
from marac.access import Role
from marac.auth import passwords
from marac.auth.accounts import create_user
from marac.auth.models import User
from marac.demo_cases import DemoStats, seed_cases
from marac.demo_encompass import seed_encompass
from marac.demo_meetings import seed_meetings
from marac.demo_work import PIPELINE, accepted_referrals, seed_casework
from marac.orgs.models import Agency, AgencyKind, Area
from marac.orgs.services import save_agency, save_area
from marac.people.flags import months_before
from marac.people.matching import fold
from marac.people.models import Relationship
from marac.people.services import PersonDetails

DEMO_DOMAIN = "demo.marac.example"
#: Accepted referrals made for the demo's upcoming agendas (12 published, 2 on the next, 4 waiting).
ACCEPTED_FOR_MEETINGS = 18
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
    ("St Anne's C of E Primary School", AgencyKind.EDUCATION, "north"),
    ("Moorside High School", AgencyKind.EDUCATION, "north"),
    ("Calder Vale Pupil Referral Unit", AgencyKind.EDUCATION, "south"),
    ("Northvale Council MARAC Team", AgencyKind.LOCAL_AUTHORITY, "both"),
    ("Northvale City Council", AgencyKind.LOCAL_AUTHORITY, "north"),
    ("Calder Mills Borough Council", AgencyKind.LOCAL_AUTHORITY, "south"),
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
    ("police-rep", Role.AGENCY_REP, "Northvale Police", None),
    ("key-adult-oakfield", Role.KEY_ADULT, "Oakfield Primary School", None),
    ("key-adult-riverside", Role.KEY_ADULT, "Riverside Academy", None),
    ("key-adult-oakfield-deputy", Role.KEY_ADULT, "Oakfield Primary School", None),
    ("key-adult-moorside", Role.KEY_ADULT, "Moorside High School", None),
    ("key-adult-st-annes", Role.KEY_ADULT, "St Anne's C of E Primary School", None),
    ("ehe-contact", Role.KEY_ADULT, "Northvale Children's Services", None),
    ("encompass-lead", Role.ENCOMPASS_LEAD, "Northvale City Council", None),
    ("police-encompass-lead", Role.ENCOMPASS_LEAD, "Northvale Police", None),
    ("dpo", Role.DPO, "Northvale Council MARAC Team", None),
    ("admin", Role.ADMIN, "Northvale Council MARAC Team", None),
]

#: Given names of repeat victims as first and later recorded: sound-alike respellings and unchanged names.
REPEAT_NAMES = [
    ("Katherine", "Catherine"),
    ("Rachel", "Rachael"),
    ("Stephanie", "Stefanie"),
    ("Gemma", "Jemma"),
    ("Kirsty", "Kirstie"),
    ("Hayley", "Haley"),
    ("Leanne", "Lianne"),
    ("Claire", "Clare"),
]
#: Outward postcode areas and towns (fictional) of each demo area: (area, districts) and towns.
POSTCODES = {0: (("BD", 22), ("HX", 7), ("LS", 29)), 1: (("HD", 9), ("WF", 17), ("S", 36))}
TOWNS = {0: ("Ashworth", "Kelbrook", "Moorside", "Thornley Bridge"), 1: ("Southey", "Calder Mills", "Lowther Vale")}
STREETS = ("Road", "Street", "Close", "Avenue", "Lane", "Drive", "Way", "Grove", "Crescent", "Terrace", "Court")
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
#: Values as the person form offers them (marac/people/forms.py), with rough weights.
ETHNICITIES = (
    ("White", 70),
    ("Asian or Asian British", 10),
    ("Black, Black British, Caribbean or African", 5),
    ("Mixed or multiple ethnic groups", 4),
    ("Other ethnic group", 2),
    ("Not known", 5),
    ("Prefer not to say", 4),
)
DISABILITY = (("No", 65), ("Yes", 20), ("Not known", 10), ("Prefer not to say", 5))
ORIENTATIONS = (
    ("Heterosexual or straight", 75),
    ("Gay or lesbian", 5),
    ("Bisexual", 4),
    ("Not known", 10),
    ("Prefer not to say", 6),
)
LANGUAGES = (
    ("English", 86),
    ("Polish", 3),
    ("Urdu", 3),
    ("Punjabi", 2),
    ("Romanian", 2),
    ("Arabic", 2),
    ("Bengali", 2),
)
HEALTH_NOTES = (
    "Registered with GP; anxiety and low mood, on medication.",
    "Attended A&E twice in the last six months with injuries.",
    "Pregnant, under midwife care.",
    "Alcohol use disclosed; referred to the local recovery service.",
    "Type 1 diabetes.",
    "Hearing impairment: prefers written contact.",
    "Post-natal depression; health visitor involved.",
)


class SyntheticPeople:
    """Synthetic identities from one seeded random source, so every run makes the same people. Names are never part
    of a staff, agency or area name (those are stored in clear), and phones come from Ofcom's drama range."""

    def __init__(self, seed: int, plaintext: list[str]) -> None:
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)
        self.rng: Random = self.fake.random
        self.today = db.utcnow().date()
        phones = [f"+447700900{n:03d}" for n in range(1000)]  # 07700 900000-900999: reserved for drama
        self.rng.shuffle(phones)
        self.phones = phones
        self.plaintext = fold(" | ".join(plaintext))

    def weighted(self, table: tuple[tuple[str, int], ...]) -> str:
        """One value from a (value, weight) table."""
        return self.rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]

    def name(self, method: str) -> str:
        """A Faker name that is no part of any staff, agency or area name."""
        while True:
            value = str(getattr(self.fake, method)())
            if fold(value) not in self.plaintext and value.isascii():
                return value

    def given(self, gender: str) -> str:
        """A given name for the gender (either for non-binary)."""
        female = gender == "Female" or (gender != "Male" and self.rng.random() < 0.5)
        return self.name("first_name_female" if female else "first_name_male")

    def adult_dob(self, earliest: int = 1958, latest: int = 2004) -> date:
        """A date of birth between two years, most often in the 1980s and 1990s."""
        start, end = date(earliest, 1, 1), date(latest, 12, 31)
        span = (end - start).days
        return start + timedelta(days=int(self.rng.triangular(0, span, span * 0.7)))

    def between(self, first: date, last: date) -> date:
        """A day from `first` to `last` inclusive."""
        return first + timedelta(days=self.rng.randint(0, max(0, (last - first).days)))

    def address(self, area: int) -> tuple[str, str]:
        """A multi-line address in one of the area's towns and a compact postcode, as the person form stores them."""
        lines = [f"{self.rng.randint(1, 180)} {self.name('last_name')} {self.rng.choice(STREETS)}"]
        if self.rng.random() < 0.25:
            lines.insert(0, f"Flat {self.rng.randint(1, 24)}")
        lines.append(self.rng.choice(TOWNS[area]))
        outward, districts = self.rng.choice(POSTCODES[area])
        inward = f"{self.rng.randint(0, 9)}{''.join(self.rng.choices(INWARD_LETTERS, k=2))}"
        return "\n".join(lines), f"{outward}{self.rng.randint(1, districts)}{inward}"

    def email(self, given: str, family: str) -> str:
        """An address at a domain reserved for examples."""
        local = f"{fold(given).split()[0]}.{fold(family).replace(' ', '')}{self.rng.randint(1, 99)}"
        return f"{local}@{self.rng.choice(EMAIL_DOMAINS)}"

    def language(self) -> tuple[str, bool]:
        """First language and whether an interpreter is needed."""
        language = self.weighted(LANGUAGES)
        return language, language != "English" and self.rng.random() < 0.6

    def victim(self, area: int, *, given: str | None = None, dob: date | None = None) -> PersonDetails:
        """A victim with every detail a referral gives (aliases, email and health detail for some)."""
        gender = "Female" if given else self.weighted((("Female", 88), ("Male", 10), ("Non-binary", 2)))
        given = given or self.given(gender)
        family = self.name("last_name")
        address, postcode = self.address(area)
        language, interpreter = self.language()
        return PersonDetails(
            given_name=given,
            family_name=family,
            aliases=[f"{given} {self.name('last_name')}"] if self.rng.random() < 0.15 else [],
            date_of_birth=dob or self.adult_dob(),
            gender=gender,
            phones=[self.phones.pop() for _ in range(self.rng.choice((1, 1, 1, 2)))],
            email=self.email(given, family) if self.rng.random() < 0.45 else None,
            address=address,
            postcode=postcode,
            ethnicity=self.weighted(ETHNICITIES),
            disability=self.weighted(DISABILITY),
            sexual_orientation=self.weighted(ORIENTATIONS),
            language=language,
            interpreter_needed=interpreter,
            health_notes=self.rng.choice(HEALTH_NOTES) if self.rng.random() < 0.3 else None,
        )

    def perpetrator(
        self, victim: PersonDetails, area: int, relationship: Relationship, together: bool
    ) -> PersonDetails:
        """A perpetrator: usually of the other sex; family members share the victim's family name."""
        gender = {"Female": "Male", "Male": "Female"}.get(victim.gender or "", "Male")
        if self.rng.random() < 0.06:
            gender = victim.gender or "Male"
        given = self.given(gender)
        family = self.name("last_name")
        if relationship in (Relationship.CHILD, Relationship.SIBLING) or self.rng.random() < 0.2:
            family = victim.family_name or family
        address, postcode = (victim.address, victim.postcode) if together else self.address(area)
        language, interpreter = self.language()
        return PersonDetails(
            given_name=given,
            family_name=family,
            date_of_birth=self.perpetrator_dob(victim.date_of_birth or self.adult_dob(), relationship),
            gender=gender,
            phones=[self.phones.pop()] if self.rng.random() < 0.7 else [],
            email=self.email(given, family) if self.rng.random() < 0.2 else None,
            address=address,
            postcode=postcode,
            ethnicity=self.weighted(ETHNICITIES) if self.rng.random() < 0.6 else None,
            language=language,
            interpreter_needed=interpreter,
        )

    def perpetrator_dob(self, victim_dob: date, relationship: Relationship) -> date:
        """An adult's date of birth near the victim's (an adult child's 20 to 32 years after it)."""
        adult = months_before(self.today, 18 * 12)
        if relationship is Relationship.CHILD:
            return self.between(months_before(victim_dob, -20 * 12), min(months_before(victim_dob, -32 * 12), adult))
        low, high = (-2200, 2200) if relationship is Relationship.SIBLING else (-3650, 2000)
        return min(victim_dob + timedelta(days=self.rng.randint(low, high)), adult)

    def moved(self, details: PersonDetails, area: int, given: str | None = None) -> PersonDetails:
        """The same person recorded again after moving: new phone and address, no email or aliases on file."""
        address, postcode = self.address(area)
        return replace(
            details,
            given_name=given or details.given_name,
            phones=[self.phones.pop()],
            email=None,
            aliases=[],
            address=address,
            postcode=postcode,
        )

    def repeat_names(self) -> list[tuple[str, str]]:
        """Given names of repeat victims (as first and as later recorded) that no staff or agency name contains."""
        return [pair for pair in REPEAT_NAMES if not any(fold(name) in self.plaintext for name in pair)]

    def child(self, victim: PersonDetails, perpetrator: PersonDetails, first: date, last: date) -> PersonDetails:
        """A child born between two dates, living with the victim, with either parent's family name."""
        gender = self.rng.choice(("Female", "Male"))
        return PersonDetails(
            given_name=self.given(gender),
            family_name=perpetrator.family_name if self.rng.random() < 0.5 else victim.family_name,
            date_of_birth=self.between(first, last),
            gender=gender,
            address=victim.address,
            postcode=victim.postcode,
        )


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


def _seed_meetings(
    area: Area, users: dict[str, User], agencies: dict[str, Agency], people: SyntheticPeople, stats: DemoStats
) -> None:
    """Accepted referrals for the upcoming agendas, then the area's meetings (past ones minuted and signed)."""
    victims = [people.victim(0) for _ in range(ACCEPTED_FOR_MEETINGS)]
    perps = [people.perpetrator(v, 0, Relationship.EX_PARTNER, False) for v in victims]
    accepted = accepted_referrals(area, users, victims, perps)
    held = seed_meetings(area, users, agencies, accepted)
    stats.meetings, stats.cases_heard, stats.actions = held.meetings, held.heard, held.actions
    stats.waiting_for_meeting = held.waiting


def seed_demo(accounts_file: Path, seed: int = 2026) -> DemoStats | None:
    """Seed once; a second run keeps what is there. Returns what was seeded (counts only), None when nothing was."""
    if db.session.scalar(select(func.count()).select_from(Agency)):
        if not accounts_file.exists():
            _reissue_demo_credentials(accounts_file)
        return None
    fake = Faker("en_GB")
    fake.seed_instance(seed)
    areas = {name: save_area(None, name=name) for name in AREAS}
    north, south = areas[AREAS[0]], areas[AREAS[1]]
    served = {"both": [north, south], "north": [north], "south": [south]}
    agencies = {
        name: save_agency(None, name=name, kind=kind.value, areas=served[where]) for name, kind, where in AGENCIES
    }
    accounts, users = [], {}
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
        users[login] = user
    people = SyntheticPeople(seed + 1, [*(u.display_name for u in users.values()), *agencies, *areas, *users])
    stats = seed_cases(list(areas.values()), list(agencies.values()), users, people)
    victims = [people.victim(0) for _ in PIPELINE]
    perps = [people.perpetrator(v, 0, Relationship.EX_PARTNER, False) for v in victims]
    work = seed_casework(north, users, victims, perps)
    stats.referrals_in_progress, stats.overdue = work.referrals, work.overdue_plans + work.overdue_reviews
    _seed_meetings(north, users, agencies, people, stats)
    db.session.commit()
    encompass = seed_encompass(users, agencies, north, people)
    stats.encompass_settings, stats.encompass_incidents = encompass.settings, encompass.incidents
    stats.encompass_notifications = encompass.notifications
    _write_accounts(accounts_file, accounts)
    return stats


def _reissue_demo_credentials(accounts_file: Path) -> None:
    """The accounts file was lost: give the demo accounts new passwords and authenticator secrets."""
    users = db.session.scalars(select(User).where(User.email.like(f"%@{DEMO_DOMAIN}")).order_by(User.id))
    accounts = [_enrol(user, demo_password()) for user in users]
    db.session.commit()
    _write_accounts(accounts_file, accounts)
