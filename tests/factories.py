"""Factories for every model and the sign-in helper that passes MFA the way a user does."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyotp
from faker import Faker
from flask.testing import FlaskClient

from marac import db
from marac.access import Role
from marac.auth.accounts import create_user
from marac.auth.models import User
from marac.cases.models import Case, PartyRole
from marac.cases.services import add_party, open_case
from marac.orgs.models import Agency, AgencyKind, Area
from marac.orgs.services import save_agency, save_area
from marac.people.models import Person, PersonKind, Relationship
from marac.people.services import PersonDetails, record_person

fake = Faker("en_GB")
PASSWORD = "correct horse battery staple"
CSRF_PATTERN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def make_area(name: str | None = None) -> Area:
    """A MARAC area with a unique synthetic name."""
    return save_area(None, name=name or f"{fake.unique.city()} MARAC")


def make_agency(
    kind: AgencyKind = AgencyKind.POLICE, areas: list[Area] | None = None, name: str | None = None
) -> Agency:
    """An agency of the given kind serving the given areas (a new area when none)."""
    return save_agency(
        None,
        # no apostrophe ("O'Neill Ltd"): pages escape it, and a raw-text assertion on the name would fail at random
        name=name or f"{fake.unique.company().replace(chr(39), '')} {kind.value}",
        kind=kind.value,
        areas=areas if areas is not None else [make_area()],
    )


@dataclass
class Account:
    """A user with the secrets a test needs to sign in as them."""

    user: User
    password: str
    totp_secret: str | None

    @property
    def email(self) -> str:
        """The sign-in email."""
        return self.user.email


def make_user(
    *roles: Role,
    agency: Agency | None = None,
    enrolled: bool = True,
    must_change: bool = False,
    areas: list[Area] | None = None,
    password: str = PASSWORD,
) -> Account:
    """A user holding `roles` (referrer by default), MFA enrolled unless told otherwise."""
    agency = agency or make_agency()
    user, _ = create_user(
        None,
        email=fake.unique.email(),
        display_name=fake.name(),
        agency=agency,
        roles=[r.value for r in roles or (Role.REFERRER,)],
        areas=areas or [],
        now=db.utcnow(),
        password=password,
    )
    user.must_change_password = must_change
    secret = None
    if enrolled:
        secret = pyotp.random_base32()
        user.totp_secret, user.mfa_enrolled_at = secret, db.utcnow()
    db.session.commit()
    return Account(user=user, password=password, totp_secret=secret)


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token from the form on `path`, as a browser would have it."""
    page = client.get(path).get_data(as_text=True)
    match = CSRF_PATTERN.search(page)
    assert match, f"no CSRF token on {path}"
    return match.group(1) or match.group(2)


def post_form(client: FlaskClient, path: str, data: dict[str, Any], form_path: str | None = None) -> Any:
    """Submit a form with the CSRF token taken from the page that shows it."""
    token = csrf_token(client, form_path or path)
    return client.post(path, data={"csrf_token": token, **data})


def totp_now(account: Account, clock: Any) -> str:
    """The authenticator code at the test clock's time."""
    assert account.totp_secret
    return pyotp.TOTP(account.totp_secret).at(clock())


def login_as(client: FlaskClient, account: Account, clock: Any) -> None:
    """Sign in with password and a fresh authenticator code, like a user does."""
    clock.advance(seconds=31)  # codes are single-use: a new time step for every sign-in
    response = post_form(client, "/sign-in", {"email": account.email, "password": account.password})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    response = post_form(client, "/sign-in/code", {"code": totp_now(account, clock)})
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]


def person_details(**overrides: Any) -> PersonDetails:
    """Full synthetic details of a person (Faker en_GB), with any field overridden."""
    values: dict[str, Any] = {
        "given_name": fake.first_name(),
        "family_name": fake.last_name(),
        "date_of_birth": fake.date_of_birth(minimum_age=18, maximum_age=70),
        "gender": "Female",
        "phones": [f"+4477009{fake.random_number(digits=5, fix_len=True)}"],
        "email": fake.unique.email(),
        "address": fake.street_address(),
        "postcode": fake.postcode().replace(" ", ""),
        "ethnicity": "White",
        "language": "English",
        "health_notes": "Anxiety; sees GP monthly",
    }
    values.update(overrides)
    return PersonDetails(**values)


def make_person(kind: PersonKind = PersonKind.VICTIM, actor: Any = None, **overrides: Any) -> Person:
    """A recorded person with sealed fields and blind-index terms."""
    person = record_person(actor, kind, person_details(**overrides))
    db.session.commit()
    return person


def make_case(
    area: Area | None = None,
    agency: Agency | None = None,
    victim: Person | None = None,
    actor: Any = None,
    referred_on: date | None = None,
    idva: User | None = None,
    perpetrator: Person | None = None,
) -> Case:
    """An open case with a victim (and a perpetrator when given) referred by `agency`."""
    area = area or make_area()
    agency = agency or make_agency(areas=[area])
    victim = victim or make_person(actor=actor)
    case = open_case(
        actor,
        area=area,
        victim=victim,
        referring_agency=agency,
        referred_on=referred_on or db.utcnow().date(),
        idva=idva,
    )
    if perpetrator is not None:
        add_party(actor, case, perpetrator, PartyRole.PERPETRATOR, Relationship.EX_PARTNER)
    db.session.commit()
    return case


# --- incidents and sharing -----------------------------------------------------------------------------------------


def make_incident(victim: Person, agency: Agency, occurred_on: date, perpetrator: Person | None = None) -> Any:
    """A domestic-abuse incident recorded by `agency` against `victim` (and `perpetrator`), not on any case."""
    from marac.cases.services import record_incident

    incident = record_incident(None, victim=victim, agency=agency, occurred_on=occurred_on, perpetrator=perpetrator)
    db.session.commit()
    return incident


def make_disclosure(case: Case, to_agency: Agency, actor: User, *, consent: str = "given", **overrides: Any) -> Any:
    """A disclosure of `case` to `to_agency` by `actor`, who works on the case for its referring agency."""
    from marac.access import CaseRelation
    from marac.sharing.services import record_disclosure

    values: dict[str, Any] = {
        "parts": ["summary", "victim", "household"],
        "purpose": "Safety planning before the MARAC meeting",
        "article6_basis": "public_task",
        "special_condition": "sch1_para18",
        "consent": consent,
        "no_consent_reason": None if consent == "given" else "Asking would tell the perpetrator and raise the risk",
    }
    values.update(overrides)
    relations = frozenset({CaseRelation.REFERRING_AGENCY})
    disclosure = record_disclosure(actor, case, relations, to_agency=to_agency, **values)
    db.session.commit()
    return disclosure


def make_break_glass_grant(
    case: Case, user: User, *, hours: int = 4, reason: str = "Victim missing overnight and police need her history"
) -> Any:
    """A break-glass grant for `user` on `case`, starting now and lasting `hours`, awaiting the DPO's review."""
    from datetime import timedelta

    from marac.sharing.models import BreakGlassGrant

    now = db.utcnow()
    grant = BreakGlassGrant(case_id=case.id, user_id=user.id, granted_at=now, expires_at=now + timedelta(hours=hours))
    grant.reason = reason
    db.session.add(grant)
    db.session.commit()
    return grant


# --- safety plans, reassessment triggers and referrals waiting -----------------------------------------------------


def relations_as_signed_in(user: User, case: Case) -> frozenset[Any]:
    """The user's relations to `case` as they would be when signed in (services take them from the view)."""
    from marac.access import acting_offline, case_relations

    with acting_offline([user]):
        return case_relations(user, case)


def make_safety_plan(
    case: Case,
    actor: User,
    *,
    owner: User | None = None,
    review_on: date | None = None,
    measures: list[str] | None = None,
    detail: str = "Sanctuary fitted at the front door; neighbour to call 999 on seeing him",
) -> Any:
    """An active safety plan on `case` made by `actor` (who works on it), owned by `owner` (the actor by default),
    due for review in 14 days unless told."""
    from datetime import timedelta

    from marac.cases.plans import create_safety_plan

    plan = create_safety_plan(
        actor,
        case,
        relations_as_signed_in(actor, case),
        owner=owner or actor,
        measures=measures or ["sanctuary_scheme", "personal_alarm"],
        detail=detail,
        review_on=review_on or db.london_today() + timedelta(days=14),
    )
    db.session.commit()
    return plan


def make_waiting_referral(case: Case, *, status: str, submitted_at: Any, signed_off_at: Any = None) -> Any:
    """A referral on `case` submitted (and signed off) at the given times, the case waiting in `status`."""
    from marac.cases.models import Referral

    referral = Referral(case_id=case.id, submitted_at=submitted_at, signed_off_at=signed_off_at)
    case.status = status
    db.session.add(referral)
    db.session.commit()
    return referral


# --- meetings ------------------------------------------------------------------------------------------------------


def make_accepted_case(area: Area, agency: Agency | None = None, **kwargs: Any) -> Case:
    """An open case whose referral the coordinator accepted: ready to go on an agenda."""
    from marac.cases.models import Referral

    case = make_case(area=area, agency=agency, **kwargs)
    db.session.add(Referral(case_id=case.id, decision="accepted", decided_at=db.utcnow(), step="check"))
    db.session.commit()
    return case


def make_meeting(area: Area, starts_at: Any, *, length_minutes: int = 180, case_limit: int = 15) -> Any:
    """A scheduled meeting of `area` starting at `starts_at` (UTC)."""
    from marac.meetings.models import Meeting
    from marac.meetings.services import research_due
    from marac.meetings.services.schedule import new_meeting_reference, to_local

    meeting = Meeting(
        area_id=area.id,
        reference=new_meeting_reference(area, to_local(starts_at).date()),
        starts_at=starts_at,
        length_minutes=length_minutes,
        case_limit=case_limit,
        research_due_at=research_due(starts_at, 2),
        created_at=db.utcnow(),
    )
    db.session.add(meeting)
    db.session.commit()
    return meeting
