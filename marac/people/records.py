"""A person's page as one user may see it: fields (restricted ones marked), cases, repeat and serial flags."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import select

from marac import db
from marac.access import CaseRelation, Sensitivity, disclosed_parts, field_restriction, visible_cases_clause
from marac.cases.models import Case, CaseParty, PartyRole
from marac.crypto import Unreadable
from marac.people.flags import RepeatFlag, SerialFlag, repeat_flag, serial_flag
from marac.people.matching import format_phone, format_postcode
from marac.people.models import Person, age_on

#: Person fields in display order, with their labels.
FIELDS = [
    ("given_name", "Given names"),
    ("family_name", "Family name"),
    ("aliases", "Other names used"),
    ("date_of_birth", "Date of birth"),
    ("gender", "Gender"),
    ("phones", "Phone numbers"),
    ("email", "Email address"),
    ("address", "Address"),
    ("postcode", "Postcode"),
    ("ethnicity", "Ethnicity"),
    ("disability", "Disability"),
    ("sexual_orientation", "Sexual orientation"),
    ("language", "First language"),
    ("interpreter_needed", "Needs an interpreter"),
    ("health_notes", "Health detail"),
]


@dataclass
class FieldRow:
    """One field as shown: its text, or why it is not shown."""

    label: str
    text: str | None
    restricted: Sensitivity | None = None
    unreadable: bool = False


def display(name: str, value: Any) -> str | None:
    """A field value as text for a page."""
    if value is None:
        return None
    if isinstance(value, Unreadable):
        return "unreadable"
    if isinstance(value, list):
        return ", ".join(format_phone(v) for v in value) if name == "phones" else ", ".join(value)
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, date):
        return f"{value.day} {value:%B %Y}"
    if name == "postcode":
        return format_postcode(value)
    return str(value)


def field_rows(
    user: Any,
    person: Person,
    relations: frozenset[CaseRelation],
    party_role: str | None,
    parts: frozenset[str] | None = None,
) -> list[FieldRow]:
    """Every field of a person for this user: values they may see, "restricted" (and why) for the rest."""
    rows = []
    for name, label in FIELDS:
        restriction = field_restriction(user, relations, name, party_role, parts)
        if restriction is not None:
            rows.append(FieldRow(label=label, text=None, restricted=restriction))
            continue
        value = getattr(person, name)
        rows.append(FieldRow(label=label, text=display(name, value), unreadable=isinstance(value, Unreadable)))
    return rows


@dataclass
class PersonRecord:
    """Everything the person page shows."""

    fields: list[FieldRow]
    age: int | None
    cases: list[tuple[Case, str]] = field(default_factory=list)
    hidden_cases: int = 0
    repeat: RepeatFlag | None = None
    serial: SerialFlag | None = None

    @property
    def title(self) -> str:
        """The name to head the page with, unless the name is not the user's to see."""
        return name_from(self.fields)


NAME_NOT_SHARED = "Name not shared with your agency"


def name_from(rows: list[FieldRow]) -> str:
    """Given and family name from field rows, or a placeholder when they are restricted."""
    by_label = {row.label: row for row in rows}
    given, family = by_label["Given names"], by_label["Family name"]
    if given.restricted or family.restricted:
        return NAME_NOT_SHARED
    return " ".join(t for t in (given.text, family.text) if t) or "(no name recorded)"


def _protective_role(roles: list[str]) -> str | None:
    """The most protective part a person has in any case (a victim's contact details stay narrow everywhere)."""
    for role in (PartyRole.VICTIM.value, PartyRole.CHILD.value, PartyRole.OTHER.value, PartyRole.PERPETRATOR.value):
        if role in roles:
            return role
    return None


def person_record(user: Any, person: Person, relations: frozenset[CaseRelation]) -> PersonRecord:
    """Build the person page for `user` (the caller has checked `relations` is not empty)."""
    parts = db.session.execute(
        select(Case, CaseParty.role)
        .join(CaseParty, CaseParty.case_id == Case.id)
        .where(CaseParty.person_id == person.id)
        .order_by(Case.referred_on.desc())
    ).all()
    roles = [role for _case, role in parts]
    visible_ids = set(
        db.session.scalars(select(Case.id).where(Case.id.in_([c.id for c, _r in parts]), visible_cases_clause(user)))
    )
    disclosed = disclosed_parts(user, relations, [c.id for c, _r in parts])
    dob = person.date_of_birth
    record = PersonRecord(
        fields=field_rows(user, person, relations, _protective_role(roles), disclosed),
        age=age_on(dob if isinstance(dob, date) else None, db.london_today()),
        cases=[(c, r) for c, r in parts if c.id in visible_ids],
        hidden_cases=sum(1 for c, _r in parts if c.id not in visible_ids),
    )
    if PartyRole.VICTIM.value in roles or person.kind == PartyRole.VICTIM.value:
        record.repeat = repeat_flag(person, db.london_today())
    if PartyRole.PERPETRATOR.value in roles or person.kind == PartyRole.PERPETRATOR.value:
        record.serial = serial_flag(person)
    return record


def editable_fields(user: Any, person: Person, relations: frozenset[CaseRelation]) -> tuple[set[str], set[str]]:
    """(fields the user may see and change, those of them that are unreadable now)."""
    parties = db.session.execute(
        select(CaseParty.case_id, CaseParty.role).where(CaseParty.person_id == person.id)
    ).all()
    role = _protective_role([r for _c, r in parties]) or person.kind
    disclosed = disclosed_parts(user, relations, [c for c, _r in parties])
    shown = {name for name, _label in FIELDS if field_restriction(user, relations, name, role, disclosed) is None}
    unreadable = {name for name in shown if isinstance(getattr(person, name), Unreadable)}
    return shown, unreadable
