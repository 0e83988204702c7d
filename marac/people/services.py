"""Recording persons, finding candidate matches, and linking or rejecting them (never automatically)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from sqlalchemy import Integer, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA
from sqlalchemy.orm import Session

from marac import audit, db
from marac.crypto import PURPOSE_INDEX, Keyring, keyring
from marac.people.matching import (
    WEIGHTS,
    Candidate,
    Identifiers,
    digests,
    normalise_email,
    normalise_phone,
    normalise_postcode,
    score_rows,
)
from marac.people.models import MatchDecision, Person, PersonKind, PersonTerm


class PersonError(ValueError):
    """A person cannot be recorded or linked as asked; the message says why."""


@dataclass
class PersonDetails:
    """Everything a form or import gives about a person (plaintext, in memory only)."""

    given_name: str | None = None
    family_name: str | None = None
    aliases: list[str] = field(default_factory=list)
    date_of_birth: date | None = None
    gender: str | None = None
    phones: list[str] = field(default_factory=list)
    email: str | None = None
    address: str | None = None
    postcode: str | None = None
    ethnicity: str | None = None
    disability: str | None = None
    sexual_orientation: str | None = None
    language: str | None = None
    interpreter_needed: bool | None = None
    health_notes: str | None = None

    def identifiers(self) -> Identifiers:
        """The part used for matching."""
        return Identifiers(
            given_name=self.given_name,
            family_name=self.family_name,
            aliases=self.aliases,
            date_of_birth=self.date_of_birth,
            phones=self.phones,
            email=self.email,
            postcode=self.postcode,
        )


SEALED_FIELDS = tuple(PersonDetails.__dataclass_fields__)


def normalised(details: PersonDetails) -> PersonDetails:
    """The details as stored: phones in E.164, postcode without spaces, email folded, blanks as None. Whatever the
    source (form, import, command line), so matching and display see one format; PersonError on a bad value."""
    phones = []
    for raw in details.phones:
        phone = normalise_phone(raw)
        if phone is None:
            raise PersonError("Enter phone numbers like 07700 900 982 or +44 7700 900 982")
        phones.append(phone)
    postcode = normalise_postcode(details.postcode) if details.postcode else None
    if details.postcode and postcode is None:
        raise PersonError("Enter a real postcode, like AA1 1AA")
    email = normalise_email(details.email) if details.email else None
    if details.email and email is None:
        raise PersonError("Enter an email address in the correct format, like name@example.org")
    texts: dict[str, Any] = {
        name: (getattr(details, name) or "").strip() or None
        for name in SEALED_FIELDS
        if isinstance(getattr(details, name), str) and name not in {"postcode", "email"}
    }
    return replace(
        details,
        **texts,
        aliases=[a.strip() for a in details.aliases if a.strip()],
        phones=list(dict.fromkeys(phones)),
        postcode=postcode,
        email=email,
    )


def identifiers_of(person: Person) -> Identifiers:
    """A stored person's identifiers (decrypted); unreadable values are left out."""

    def text(value: Any) -> str | None:
        return value if isinstance(value, str) else None

    def texts(value: Any) -> list[str]:
        return list(value) if isinstance(value, list) else []

    dob = person.date_of_birth
    return Identifiers(
        given_name=text(person.given_name),
        family_name=text(person.family_name),
        aliases=texts(person.aliases),
        date_of_birth=dob if isinstance(dob, date) else None,
        phones=texts(person.phones),
        email=text(person.email),
        postcode=text(person.postcode),
    )


def write_terms(session: Session, ring: Keyring, person: Person, version: int | None = None) -> int:
    """Replace the person's blind-index terms for one index version (the active one by default)."""
    version = ring.active_version(PURPOSE_INDEX) if version is None else version
    session.execute(delete(PersonTerm).where(PersonTerm.person_id == person.id, PersonTerm.key_version == version))
    rows = term_rows(ring, person, version)
    if rows:
        session.execute(insert(PersonTerm), rows)
    return len(rows)


def term_rows(ring: Keyring, person: Person, version: int) -> list[dict[str, Any]]:
    """The person's blind-index rows under one index version (not yet written)."""
    return [
        {"person_id": person.id, "field": name, "key_version": version, "digest": ring.term(name, value, version)}
        for name, value in identifiers_of(person).values()
    ]


def _apply(person: Person, details: PersonDetails, keep: frozenset[str] = frozenset()) -> None:
    details = normalised(details)
    for name in SEALED_FIELDS:
        if name not in keep:
            setattr(person, name, getattr(details, name))


def record_person(actor: Any, kind: PersonKind, details: PersonDetails) -> Person:
    """Record a new person with sealed fields and blind-index terms; audited without any personal data."""
    if not (details.given_name or details.family_name):
        raise PersonError("Enter at least a given name or a family name")
    person = Person(
        kind=kind.value, agency_id=getattr(actor, "agency_id", None), created_by_id=getattr(actor, "id", None)
    )
    _apply(person, details)
    db.session.add(person)
    db.session.flush()
    write_terms(db.session, keyring(), person)
    audit.record("person.create", actor=actor, object_type="person", object_id=person.public_id)
    return person


def record_people(actor: Any, kind: PersonKind, many: Sequence[PersonDetails]) -> list[Person]:
    """`record_person` for a batch (an import): one flush, one write of every new person's terms and the audit events
    in one append."""
    if any(not (d.given_name or d.family_name) for d in many):
        raise PersonError("Enter at least a given name or a family name")
    people = []
    for details in many:
        person = Person(
            kind=kind.value, agency_id=getattr(actor, "agency_id", None), created_by_id=getattr(actor, "id", None)
        )
        _apply(person, details)
        people.append(person)
    if not people:
        return []
    db.session.add_all(people)
    db.session.flush()
    ring = keyring()
    version = ring.active_version(PURPOSE_INDEX)
    rows = [row for person in people for row in term_rows(ring, person, version)]
    if rows:
        db.session.execute(insert(PersonTerm), rows)
    audit.record_many(
        [audit.Event("person.create", object_type="person", object_id=p.public_id) for p in people], actor=actor
    )
    return people


def update_person(actor: Any, person: Person, details: PersonDetails, keep: frozenset[str] = frozenset()) -> Person:
    """Change a person's details, leaving the fields in `keep` as they are (those the user may not see), and
    rebuild their terms under every index version still in use. Audited with the names of the fields changed."""
    if not (details.given_name or details.family_name) and not {"given_name", "family_name"} & keep:
        raise PersonError("Enter at least a given name or a family name")
    details = normalised(details)
    before = {name: getattr(person, name) for name in SEALED_FIELDS if name not in keep}
    _apply(person, details, keep)
    changed = sorted(name for name, old in before.items() if old != getattr(details, name))
    db.session.flush()
    ring = keyring()
    for version in ring.readable_index_versions:
        write_terms(db.session, ring, person, version)
    audit.record(
        "person.update", actor=actor, object_type="person", object_id=person.public_id, details={"fields": changed}
    )
    return person


def find_candidates(
    actor: Any, ids: Identifiers, *, exclude: Person | None = None, limit: int = 10, audit_search: bool = True
) -> list[Candidate]:
    """Persons whose terms agree with `ids`, scored, best first. The search is audited with which fields were
    used and how many were found, never the values."""
    ring = keyring()
    wanted = digests(ring, ids, ring.readable_index_versions)
    candidates: list[Candidate] = []
    if wanted:
        candidates = score_rows(_matching_rows(list(wanted), exclude, limit))[:limit]
    if audit_search:
        used = sorted({name for name, _value in ids.values()})
        audit.record(
            "person.search",
            actor=actor,
            object_type="person",
            details={"fields": used, "results": len(candidates)},
        )
    return candidates


def find_candidates_many(many: Sequence[Identifiers], *, limit: int = 10) -> list[list[Candidate]]:
    """`find_candidates` for many people at once (a batch of intake), best first for each; not audited: the caller
    audits its searches. On PostgreSQL one query ranks everyone's candidates; elsewhere one query each."""
    ring = keyring()
    wanted = [list(digests(ring, ids, ring.readable_index_versions)) for ids in many]
    if db.session.get_bind().dialect.name != "postgresql":
        return [score_rows(_matching_rows(w, None, limit))[:limit] if w else [] for w in wanted]
    rows: dict[int, list[tuple[int, str]]] = {n: [] for n in range(len(wanted))}
    if any(wanted):
        for n, person_id, name in db.session.execute(_ranked_many(wanted, limit * 3)):
            rows[n].append((person_id, name))
    return [score_rows(rows[n])[:limit] for n in range(len(wanted))]


def _ranked_many(wanted: list[list[bytes]], top: int) -> Any:
    """PostgreSQL: (which, person id, field) index rows of the `top` best-supported persons for each list of
    digests, ranked as `_matching_rows` ranks one (summed evidence, then person id)."""
    numbers = [n for n, digests_of in enumerate(wanted) for _ in digests_of]
    flat = [d for digests_of in wanted for d in digests_of]
    given = (
        func.unnest(bindparam("numbers", numbers, type_=ARRAY(Integer)), bindparam("digests", flat, type_=ARRAY(BYTEA)))
        .table_valued("n", "digest")
        .render_derived(name="given")
    )
    weight = case(WEIGHTS, value=PersonTerm.field, else_=0)
    hits = (
        select(given.c.n, PersonTerm.person_id, PersonTerm.field, weight.label("weight"))
        .join_from(given, PersonTerm, PersonTerm.digest == given.c.digest)
        .cte("hits")
    )
    order = (func.sum(hits.c.weight).desc(), hits.c.person_id)
    ranked = (
        select(hits.c.n, hits.c.person_id, func.row_number().over(partition_by=hits.c.n, order_by=order).label("place"))
        .group_by(hits.c.n, hits.c.person_id)
        .cte("ranked")
    )
    return (
        select(hits.c.n, hits.c.person_id, hits.c.field)
        .join(ranked, and_(ranked.c.n == hits.c.n, ranked.c.person_id == hits.c.person_id))
        .where(ranked.c.place <= top)
    )


def _matching_rows(wanted: list[bytes], exclude: Person | None, limit: int) -> list[tuple[int, str]]:
    """(person id, field) index rows of the best-supported persons. Ranking happens in the database, by summed
    evidence per person, so a crowded term (a placeholder date of birth shared by thousands) cannot push a strong
    match out; only then are the rows of the top persons read."""
    weight = case(WEIGHTS, value=PersonTerm.field, else_=0)
    ranked = select(PersonTerm.person_id).where(PersonTerm.digest.in_(wanted))
    if exclude is not None:
        ranked = ranked.where(PersonTerm.person_id.not_in(_excluded_ids(exclude)))
    ranked = ranked.group_by(PersonTerm.person_id).order_by(func.sum(weight).desc(), PersonTerm.person_id)
    top = ranked.limit(limit * 3)  # the sum counts name and sound-alike twice: keep spare
    rows = db.session.execute(  # one round trip: the top persons' rows
        select(PersonTerm.person_id, PersonTerm.field).where(
            PersonTerm.digest.in_(wanted), PersonTerm.person_id.in_(top.scalar_subquery())
        )
    ).all()
    return [(r[0], r[1]) for r in rows]


def _excluded_ids(person: Person) -> Any:
    """The person, everyone already linked to them, and everyone a user said is not them."""
    same = select(Person.id).where(Person.identity_key == person.identity_key)
    rejected = select(MatchDecision.candidate_id).where(
        MatchDecision.person_id == person.id, MatchDecision.decision == "rejected"
    )
    rejected_back = select(MatchDecision.person_id).where(
        MatchDecision.candidate_id == person.id, MatchDecision.decision == "rejected"
    )
    return same.union(rejected, rejected_back)


def candidate_for(actor: Any, person: Person, other: Person) -> Candidate | None:
    """Re-score one suggested match (the figures a decision is recorded with), unaudited."""
    found = find_candidates(actor, identifiers_of(person), exclude=person, limit=50, audit_search=False)
    return next((c for c in found if c.person_id == other.id), None)


def link_persons(actor: Any, person: Person, other: Person) -> MatchDecision:
    """Confirm two records are the same individual: their identities merge; the records stay as they are."""
    cand = candidate_for(actor, person, other)
    if cand is None or not cand.is_linkable:
        raise PersonError("These records do not have enough in common to link: check date of birth, phone or email")
    decision = _decide(actor, person, other, "linked", cand)
    db.session.execute(
        update(Person).where(Person.identity_key == other.identity_key).values(identity_key=person.identity_key)
    )
    db.session.refresh(other, ["identity_key"])
    audit.record(
        "person.link",
        actor=actor,
        object_type="person",
        object_id=person.public_id,
        details={"linked_to": other.public_id, "score": cand.score, "reasons": cand.reasons},
    )
    return decision


def reject_match(actor: Any, person: Person, other: Person) -> MatchDecision:
    """Record that a suggested match is a different individual, so it is not suggested again."""
    cand = candidate_for(actor, person, other)
    if cand is None:
        raise PersonError("That record is no longer suggested as a match")
    decision = _decide(actor, person, other, "rejected", cand)
    audit.record(
        "person.reject_match",
        actor=actor,
        object_type="person",
        object_id=person.public_id,
        details={"rejected": other.public_id, "score": cand.score},
    )
    return decision


def _decide(actor: Any, person: Person, other: Person, decision: str, cand: Candidate) -> MatchDecision:
    row = db.session.scalar(
        select(MatchDecision).where(MatchDecision.person_id == person.id, MatchDecision.candidate_id == other.id)
    )
    if row is None:
        row = MatchDecision(person_id=person.id, candidate_id=other.id)
        db.session.add(row)
    row.decision, row.score, row.reasons = decision, cand.score, cand.reasons
    row.decided_by_id, row.decided_at = getattr(actor, "id", None), db.utcnow()
    db.session.flush()
    return row


def identity_person_ids(person: Person) -> list[int]:
    """Every record confirmed to be the same individual as `person` (including it)."""
    return list(db.session.scalars(select(Person.id).where(Person.identity_key == person.identity_key)))


def persons_by_ids(ids: Sequence[int]) -> dict[int, Person]:
    """Load persons by id."""
    if not ids:
        return {}
    return {p.id: p for p in db.session.scalars(select(Person).where(Person.id.in_(list(ids))))}


def get_person(public_id: str) -> Person | None:
    """A person by public id (the caller checks access)."""
    return db.session.scalar(select(Person).where(Person.public_id == public_id))


@dataclass
class CandidateView:
    """A suggested match as one user may see it: details only when they may see the person."""

    candidate: Candidate
    person: Person
    visible: bool
    recorded_by: str
    case_count: int
    latest_case_public_id: str | None
    #: Name and date of birth as shown, decrypted here (so a value that fails to open is audited with the page).
    name: str | None = None
    born: str | None = None


def describe_candidates(actor: Any, candidates: list[Candidate]) -> list[CandidateView]:
    """Attach each candidate's person, and whether the actor may see their details. For persons the actor may not
    see, only the agency kind that recorded them and how many cases they are in: enough to ask for access."""
    from marac.cases.models import Case, CaseParty
    from marac.orgs.models import AGENCY_KIND_LABELS, Agency, AgencyKind

    people = persons_by_ids([c.person_id for c in candidates])
    result = []
    for cand in candidates:
        person = people.get(cand.person_id)
        if person is None:
            continue
        case_ids = list(
            db.session.scalars(
                select(Case.public_id)
                .join(CaseParty, CaseParty.case_id == Case.id)
                .where(CaseParty.person_id == person.id)
                .order_by(Case.referred_on.desc())
            )
        )
        agency = db.session.get(Agency, person.agency_id) if person.agency_id else None
        visible = _name_visible(actor, person)
        dob = person.date_of_birth if visible else None
        result.append(
            CandidateView(
                candidate=cand,
                person=person,
                visible=visible,
                name=person.display_name if visible else None,
                born=(f"{dob.day} {dob:%b %Y}" if isinstance(dob, date) else str(dob)) if dob is not None else None,
                recorded_by=AGENCY_KIND_LABELS[AgencyKind(agency.kind)] if agency else "Unknown",
                case_count=len(case_ids),
                latest_case_public_id=case_ids[0] if case_ids else None,
            )
        )
    return result


def _name_visible(actor: Any, person: Person) -> bool:
    """Whether the actor may see this person's name (and so their details) in a list of matches."""
    from marac.access import disclosed_parts, field_restriction, person_relations
    from marac.cases.models import CaseParty

    relations = person_relations(actor, person)
    if not relations:
        return False
    parties = db.session.execute(
        select(CaseParty.case_id, CaseParty.role).where(CaseParty.person_id == person.id)
    ).all()
    roles = {r for _c, r in parties}
    role = next((r for r in ("victim", "child", "other", "perpetrator") if r in roles), None)
    parts = disclosed_parts(actor, relations, [c for c, _r in parties])
    return field_restriction(actor, relations, "given_name", role, parts) is None
