"""Synthetic demo cases (Faker en_GB), made through the real services so terms, links and flags are real.

About 200 referrals over the last 18 months in both areas: victims with full details, one or two perpetrators,
children in the household, incidents, the demo IDVA on many cases; repeat victims whose newer referral is on a
second record (new phone and address, the name sometimes spelt differently) that a coordinator searched for and
linked; a serial perpetrator with three victims; disclosures with their lawful basis; break-glass uses awaiting the
DPO. Dates are relative to today so the 12-month flags stay meaningful; the people are the same on every run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from flask import current_app

from marac import audit, db
from marac.access import CaseRelation, acting_offline, can_act_on_case, case_relations
from marac.auth.models import User
from marac.cases.models import Case, PartyRole
from marac.cases.services import add_party, open_case, record_incident
from marac.orgs.models import Agency, AgencyKind, Area
from marac.people.flags import months_before
from marac.people.models import Person, PersonKind, Relationship
from marac.people.services import PersonDetails, find_candidates, identifiers_of, link_persons, record_person
from marac.sharing.models import BreakGlassGrant
from marac.sharing.services import record_disclosure, review_break_glass

if TYPE_CHECKING:
    from marac.demo import SyntheticPeople

CASE_COUNT = 200
#: Referral dates are spread over this many days before today (18 months).
SPREAD_DAYS = 547
IDVA_SHARE = 0.4
#: How many repeat victims there are; the last two were first known from a police incident, not a referral.
REPEAT_VICTIMS, REPEAT_FROM_INCIDENT = 7, 2
#: Referring agencies by kind, weighted; an agency refers only in the areas it serves.
REFERRAL_WEIGHTS = {
    AgencyKind.POLICE: 40,
    AgencyKind.IDVA_SERVICE: 12,
    AgencyKind.HEALTH: 10,
    AgencyKind.SPECIALIST_DA_SERVICE: 9,
    AgencyKind.CHILDRENS_SOCIAL_CARE: 8,
    AgencyKind.HOUSING: 7,
    AgencyKind.PROBATION: 4,
    AgencyKind.ADULT_SOCIAL_CARE: 3,
    AgencyKind.EDUCATION: 2,
    AgencyKind.LOCAL_AUTHORITY: 2,
    AgencyKind.OTHER: 2,
}
INCIDENT_WEIGHTS = {
    AgencyKind.POLICE: 80,
    AgencyKind.HOUSING: 8,
    AgencyKind.HEALTH: 7,
    AgencyKind.SPECIALIST_DA_SERVICE: 5,
}
#: Which demo account acts for an agency of each kind (others have no account: their referrals are unattributed).
ACTOR_FOR_KIND = {
    AgencyKind.POLICE: "referrer",
    AgencyKind.HEALTH: "agency-rep",
    AgencyKind.IDVA_SERVICE: "idva",
    AgencyKind.LOCAL_AUTHORITY: "coordinator",
}


class Share(NamedTuple):
    """A disclosure to make: to an agency of a kind, which parts, its lawful basis and consent, and why."""

    to: AgencyKind
    parts: str  # space-separated sharing.services.PARTS keys
    basis: str  # "<Article 6 basis> <condition> <consent>"
    purpose: str
    no_consent_reason: str | None = None


DISCLOSURES = [
    Share(
        AgencyKind.HOUSING,
        "summary victim safe_contact",
        "public_task sch1_para18 given",
        "Emergency rehousing and a sanctuary scheme assessment",
    ),
    Share(
        AgencyKind.CHILDRENS_SOCIAL_CARE,
        "summary household risk",
        "public_task sch1_para18 refused",
        "Children in the household: strategy discussion",
        "The victim declined, but the children live with the perpetrator: the risk of serious harm outweighs it.",
    ),
    Share(
        AgencyKind.HEALTH,
        "summary victim health",
        "consent explicit_consent given",
        "GP and midwife to flag the record and offer routine enquiry",
    ),
    Share(
        AgencyKind.PROBATION,
        "summary household risk",
        "public_task s115 not_sought",
        "Perpetrator under supervision: review of the risk management plan",
        "Asking the victim would alert the perpetrator, who checks the victim's phone and messages every day.",
    ),
    Share(
        AgencyKind.SPECIALIST_DA_SERVICE,
        "summary victim safe_contact",
        "consent explicit_consent given",
        "Outreach support and a safety plan",
    ),
    Share(
        AgencyKind.ADULT_SOCIAL_CARE,
        "summary victim health risk",
        "vital_interests vital_interests not_sought",
        "Care and support needs assessment after a head injury",
        "The victim cannot be asked while in hospital after the assault; sharing is needed to protect life.",
    ),
]
DISCLOSURE_COUNT = 12
#: (account, hours ago, reviewed?, reason) of break-glass uses.
BREAK_GLASS = [
    ("agency-rep", 2, False, "Victim brought to A&E overnight; need the safety plan and who must not be told."),
    ("referrer", 50, False, "Call from the victim's address at 2am; officers attending need to know the risks."),
    ("agency-rep", 150, True, "Victim admitted to a ward; the perpetrator has been asking at reception which ward."),
]


@dataclass
class DemoStats:
    """What the demo seeded (counts only: nothing personal)."""

    cases: int = 0
    persons: int = 0
    children: int = 0
    incidents: int = 0
    repeat_victims: int = 0
    disclosures: int = 0
    break_glass: int = 0
    referrals_in_progress: int = 0
    overdue: int = 0
    meetings: int = 0
    cases_heard: int = 0
    actions: int = 0
    waiting_for_meeting: int = 0
    encompass_settings: int = 0
    encompass_incidents: int = 0
    encompass_notifications: int = 0


@dataclass
class _Household:
    """A victim and the people in their case."""

    victim: Person
    details: PersonDetails
    perpetrators: list[tuple[Person, Relationship, bool]]
    children: list[Person]


class _Seeder:
    """Makes the demo people and cases with one seeded random source (so every run makes the same people)."""

    def __init__(self, areas: list[Area], agencies: list[Agency], users: dict[str, User], people: SyntheticPeople):
        self.people, self.rng, self.today = people, people.rng, people.today
        self.areas, self.agencies, self.users = areas, agencies, users
        self.cases: list[Case] = []
        self.stats = DemoStats()

    # --- households and cases ----------------------------------------------------------------------------------

    def actor(self, agency: Agency) -> User | None:
        """The demo account that acts for an agency (None: the agency has no demo account)."""
        login = ACTOR_FOR_KIND.get(AgencyKind(agency.kind))
        return self.users[login] if login else None

    def agency(self, area: Area, weights: dict[AgencyKind, int]) -> Agency:
        """An agency serving the area, chosen by kind weights."""
        serving = [a for a in self.agencies if a.kind in weights and area in a.areas]
        return self.rng.choices(serving, weights=[weights[AgencyKind(a.kind)] for a in serving])[0]

    def record(self, actor: User | None, kind: PersonKind, details: PersonDetails) -> Person:
        """Record a person through the person service."""
        self.stats.persons += 1
        return record_person(actor, kind, details)

    def main_relationship(self, victim: PersonDetails) -> tuple[Relationship, bool]:
        """How the main perpetrator stands to the victim, and whether they live together."""
        choice = self.people.weighted((("partner", 36), ("ex_partner", 52), ("child", 7), ("sibling", 5)))
        relationship = Relationship(choice)
        if relationship is Relationship.CHILD and (victim.date_of_birth or self.today).year > 1980:
            relationship = Relationship.EX_PARTNER  # too young to have an adult child
        together = {Relationship.PARTNER: 0.7, Relationship.CHILD: 0.5}.get(relationship, 0.0) > self.rng.random()
        return relationship, together

    def household(self, actor: User | None, area: int, details: PersonDetails, referred_on: date) -> _Household:
        """Record a victim, their perpetrator(s) and children."""
        victim = self.record(actor, PersonKind.VICTIM, details)
        relationship, together = self.main_relationship(details)
        perp_details = self.people.perpetrator(details, area, relationship, together)
        perpetrators = [(self.record(actor, PersonKind.PERPETRATOR, perp_details), relationship, together)]
        if self.rng.random() < 0.12:
            other = self.people.perpetrator(details, area, Relationship.OTHER_FAMILY, False)
            relation = self.rng.choice((Relationship.OTHER_FAMILY, Relationship.ASSOCIATE))
            perpetrators.append((self.record(actor, PersonKind.PERPETRATOR, other), relation, False))
        children = self.children(actor, details, perp_details, referred_on)
        return _Household(victim, details, perpetrators, children)

    def children(
        self, actor: User | None, victim: PersonDetails, perpetrator: PersonDetails, referred_on: date
    ) -> list[Person]:
        """None to three children aged 0-17 today, born before the referral, living with the victim."""
        parent_adult = months_before(victim.date_of_birth or self.today, -18 * 12)
        first = max(months_before(self.today, 18 * 12) + timedelta(days=1), parent_adult)
        last = referred_on - timedelta(days=7)
        count = self.rng.choices((0, 1, 2, 3), weights=(35, 30, 22, 13))[0] if first <= last else 0
        children = [
            self.record(actor, PersonKind.CHILD, self.people.child(victim, perpetrator, first, last))
            for _ in range(count)
        ]
        self.stats.children += len(children)
        return children

    def open_case(
        self, area: Area, agency: Agency, home: _Household, referred_on: date, incidents: int, since: date | None = None
    ) -> Case:
        """Open the case, add its people and record incidents in the year before the referral (or since a date)."""
        actor = self.actor(agency)
        idva = self.users["idva"] if self.rng.random() < IDVA_SHARE else None
        case = open_case(
            actor, area=area, victim=home.victim, referring_agency=agency, referred_on=referred_on, idva=idva
        )
        for person, relationship, together in home.perpetrators:
            add_party(actor, case, person, PartyRole.PERPETRATOR, relationship, same_household=together)
        for child in home.children:
            add_party(actor, case, child, PartyRole.CHILD, Relationship.CHILD, same_household=True)
        since = max(since or date.min, referred_on - timedelta(days=330))
        for _ in range(incidents):
            self.incident(area, home, self.people.between(since, referred_on), case)
        self.cases.append(case)
        self.stats.cases += 1
        return case

    def incident(self, area: Area, home: _Household, on: date, case: Case | None = None) -> None:
        """An incident recorded by the police (mostly) or another agency."""
        agency = self.agency(area, INCIDENT_WEIGHTS)
        perpetrator = home.perpetrators[0][0]
        record_incident(
            self.actor(agency), victim=home.victim, agency=agency, occurred_on=on, perpetrator=perpetrator, case=case
        )
        self.stats.incidents += 1

    def incident_count(self) -> int:
        """None to four incidents."""
        return self.rng.choices((0, 1, 2, 3, 4), weights=(25, 30, 22, 13, 10))[0]

    def ordinary_case(self) -> None:
        """One referral: a new victim, their household and incidents."""
        index = 0 if self.rng.random() < 0.55 else 1
        area = self.areas[index]
        agency = self.agency(area, REFERRAL_WEIGHTS)
        referred_on = self.today - timedelta(days=self.rng.randint(0, SPREAD_DAYS))
        dob = None
        if (self.today - referred_on).days < 60 and self.rng.random() < 0.1:  # a victim aged 16 or 17
            dob = self.people.between(
                months_before(self.today, 18 * 12) + timedelta(days=1), months_before(self.today, 194)
            )
        details = self.people.victim(index, dob=dob)
        home = self.household(self.actor(agency), index, details, referred_on)
        self.open_case(area, agency, home, referred_on, self.incident_count())

    # --- repeat victims and a serial perpetrator ---------------------------------------------------------------

    def link(self, newer: Person, earlier: Person) -> None:
        """What a coordinator does on finding the earlier record: search, then confirm it is the same person."""
        coordinator = self.users["coordinator"]
        find_candidates(coordinator, identifiers_of(newer), exclude=newer)
        link_persons(coordinator, newer, earlier)

    def repeat_victim(self, number: int, names: tuple[str, str]) -> None:
        """An earlier referral (or police incident) on one record and a referral within 12 months on a second
        record with the same date of birth, a new phone and address, and the name sometimes spelt differently."""
        index = 1 if number == 1 else 0  # one moved from the south to the north
        area, later_area = self.areas[index], self.areas[0]
        earlier_on = self.today - timedelta(days=self.rng.randint(150, 480))
        later_on = min(self.today - timedelta(days=1), earlier_on + timedelta(days=self.rng.randint(45, 330)))
        police = self.agency(area, {AgencyKind.POLICE: 1})
        details = self.people.victim(index, given=names[0])
        home = self.household(self.actor(police), index, details, earlier_on)
        if number < REPEAT_VICTIMS - REPEAT_FROM_INCIDENT:
            self.open_case(area, police, home, earlier_on, self.incident_count())
        else:
            self.incident(area, home, earlier_on)
        agency = self.agency(later_area, REFERRAL_WEIGHTS)
        respelt = names[1] if number % 3 != 2 else names[0]
        moved = self.people.moved(details, 0, respelt)
        later = self.record(self.actor(agency), PersonKind.VICTIM, moved)
        since = earlier_on + timedelta(days=1)
        self.open_case(later_area, agency, replace(home, victim=later, details=moved), later_on, 2, since)
        self.link(later, home.victim)
        self.stats.repeat_victims += 1

    def serial_perpetrator(self) -> None:
        """One man, three victims: two cases on his first record, a third on a second record later linked."""
        area, police = self.areas[0], self.agency(self.areas[0], {AgencyKind.POLICE: 1})
        actor = self.actor(police)
        victims = [self.people.victim(0, given=self.people.given("Female")) for _ in range(3)]
        perp_details = self.people.perpetrator(victims[0], 0, Relationship.EX_PARTNER, False)
        perp_details = replace(perp_details, gender="Male", given_name=self.people.given("Male"))
        first = self.record(actor, PersonKind.PERPETRATOR, perp_details)
        second = self.record(actor, PersonKind.PERPETRATOR, self.people.moved(perp_details, 0))
        plan = [
            (430, first, Relationship.EX_PARTNER),
            (220, first, Relationship.EX_PARTNER),
            (35, second, Relationship.PARTNER),
        ]
        for details, (days_ago, perp, relationship) in zip(victims, plan, strict=True):
            referred_on = self.today - timedelta(days=days_ago)
            victim = self.record(actor, PersonKind.VICTIM, details)
            children = self.children(actor, details, perp_details, referred_on)
            home = _Household(victim, details, [(perp, relationship, False)], children)
            self.open_case(area, police, home, referred_on, self.rng.randint(1, 3))
        self.link(second, first)

    # --- sharing -----------------------------------------------------------------------------------------------

    def sharer(self, case: Case) -> tuple[User, frozenset[CaseRelation]] | None:
        """A demo account working on the case (its referrer, its IDVA or the area coordinator)."""
        for login in ("referrer", "agency-rep", "idva", "coordinator"):
            relations = case_relations(self.users[login], case)
            if can_act_on_case(relations):
                return self.users[login], relations
        return None

    def disclosures(self) -> None:
        """Disclosures to other agencies with their lawful basis, some without the victim's consent."""
        done = 0
        for case in self.rng.sample(self.cases, len(self.cases)):
            share = DISCLOSURES[done % len(DISCLOSURES)]
            found = self.sharer(case)
            to = next((a for a in self.agencies if a.kind == share.to and case.area in a.areas), None)
            has_children = any(p.role == PartyRole.CHILD.value for p in case.parties)
            if found is None or to is None or to.id == found[0].agency_id:
                continue
            if share.to is AgencyKind.CHILDRENS_SOCIAL_CARE and not has_children:
                continue
            (actor, relations), (article6, condition, consent) = found, share.basis.split()
            record_disclosure(
                actor,
                case,
                relations,
                to_agency=to,
                parts=share.parts.split(),
                purpose=share.purpose,
                article6_basis=article6,
                special_condition=condition,
                consent=consent,
                no_consent_reason=share.no_consent_reason,
            )
            done += 1
            if done == DISCLOSURE_COUNT:
                break
        self.stats.disclosures = done

    def break_glass(self) -> None:
        """Emergency access by someone with no other reason to see the case; two still await the DPO's review."""
        now = db.utcnow()
        used: set[int] = set()
        for login, hours_ago, reviewed, reason in BREAK_GLASS:
            user = self.users[login]
            case = next(c for c in self.cases if c.id not in used and not case_relations(user, c, now))
            used.add(case.id)
            grant = self.emergency_access(user, case, now - timedelta(hours=hours_ago), reason)
            if reviewed:
                review_break_glass(self.users["dpo"], grant, "justified", "Checked with the manager: it was needed.")
            self.stats.break_glass += 1

    def emergency_access(self, user: User, case: Case, granted: datetime, reason: str) -> BreakGlassGrant:
        """A break-glass grant as `start_break_glass` makes it (without the authenticator code it asks for)."""
        hours = int(current_app.config["MARAC_BREAK_GLASS_HOURS"])
        grant = BreakGlassGrant(
            case_id=case.id, user_id=user.id, granted_at=granted, expires_at=granted + timedelta(hours=hours)
        )
        grant.reason = reason
        db.session.add(grant)
        db.session.flush()
        details = {"grant": grant.public_id, "hours": hours}
        audit.record(
            "break_glass.start",
            actor=user,
            object_type="case",
            object_id=case.public_id,
            purpose="break_glass",
            details=details,
        )
        return grant


def seed_cases(areas: list[Area], agencies: list[Agency], users: dict[str, User], people: SyntheticPeople) -> DemoStats:
    """Seed the demo cases with `people` (the caller commits); `users` are the demo accounts by login name."""
    with acting_offline(users.values()):
        seeder = _Seeder(areas, agencies, users, people)
        names = people.repeat_names()
        for number in range(REPEAT_VICTIMS):
            seeder.repeat_victim(number, names[number % len(names)])
        seeder.serial_perpetrator()
        while seeder.stats.cases < CASE_COUNT:
            seeder.ordinary_case()
        seeder.disclosures()
        seeder.break_glass()
    return seeder.stats
