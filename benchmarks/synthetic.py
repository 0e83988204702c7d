"""Synthetic persons (Faker en_GB pools, combined at random) and the probes a lookup benchmark searches with.

Calling Faker for every row is far too slow for a million persons, so pools of names, streets, towns and outward
postcodes are drawn from Faker once and then combined with a seeded `random.Random`. Persons come in households
(a victim, often a partner, sometimes children) sharing an address and postcode, as MARAC records do.
"""

from __future__ import annotations

import dataclasses
import random
import string
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker

from marac.people.matching import normalise_email, normalise_phone, normalise_postcode
from marac.people.services import PersonDetails

#: Most names come from en_GB; the rest reflect other communities in the UK.
OTHER_LOCALES = ("en_IE", "en_IN", "pl_PL", "ro_RO", "it_IT", "pt_PT", "fr_FR")
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
DOB_START, DOB_DAYS = date(1940, 1, 1), (date(2010, 12, 31) - date(1940, 1, 1)).days
ETHNICITIES = (
    ("White: English, Welsh, Scottish, Northern Irish or British", 74),
    ("White: Other White", 6),
    ("Asian or Asian British: Pakistani", 3),
    ("Asian or Asian British: Indian", 3),
    ("Black, Black British, Caribbean or African: African", 3),
    ("Mixed or Multiple ethnic groups", 3),
    ("Asian or Asian British: Bangladeshi", 1),
    ("Other ethnic group", 2),
    ("Not stated", 5),
)
LANGUAGES = (
    ("English", 90),
    ("Polish", 2),
    ("Urdu", 2),
    ("Punjabi", 1),
    ("Romanian", 1),
    ("Arabic", 1),
    ("Bengali", 1),
)
DISABILITIES = (("No", 70), ("Yes: mental health", 12), ("Yes: physical", 8), ("Yes: learning", 3), ("Not stated", 7))
ORIENTATIONS = (("Heterosexual", 80), ("Gay or lesbian", 3), ("Bisexual", 2), ("Not stated", 15))
HEALTH_NOTES = (
    "Registered with GP; anxiety and low mood, on medication.",
    "Attended A&E twice in the last six months with injuries.",
    "Pregnant, under midwife care.",
    "Alcohol use disclosed; referred to local recovery service.",
    "Type 1 diabetes.",
    "Hearing impairment: prefers written contact.",
)
KINDS = (("victim", 40), ("perpetrator", 35), ("child", 20), ("other", 5))


@dataclass
class Pools:
    """Values drawn from Faker once (with repeats, so common names stay common) and combined per person."""

    female: list[str]
    male: list[str]
    family: list[str]
    streets: list[str]
    towns: list[str]
    outward: list[str]
    domains: list[str]


def build_pools(seed: int, size: int = 4000) -> Pools:
    """Pools of a few thousand names, streets and towns, and outward postcodes from Faker."""
    gb = Faker("en_GB")
    gb.seed_instance(seed)
    others = [Faker(loc) for loc in OTHER_LOCALES]
    for index, fake in enumerate(others):
        fake.seed_instance(seed + index + 1)

    def names(method: str) -> list[str]:
        local = [getattr(gb, method)() for _ in range(size * 4 // 5)]
        return local + [getattr(others[i % len(others)], method)() for i in range(size // 5)]

    outward = {p.split()[0] for p in (gb.postcode() for _ in range(size)) if normalise_postcode(p)}
    return Pools(
        female=names("first_name_female"),
        male=names("first_name_male"),
        family=names("last_name"),
        streets=[gb.street_name() for _ in range(size)],
        towns=[gb.city() for _ in range(size // 2)],
        outward=sorted(outward),
        domains=[gb.free_email_domain() for _ in range(50)] + ["nhs.net", "outlook.com", "icloud.com"],
    )


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


def phone(rng: random.Random) -> str:
    """A UK mobile (mostly) or landline, in E.164 as the person form stores it."""
    if rng.random() < 0.8:
        raw = "07" + "".join(rng.choices(string.digits, k=9))
    else:
        raw = rng.choice(("0161", "0113", "0121", "0117", "020")) + "".join(rng.choices(string.digits, k=7))
    return normalise_phone(raw) or raw


def postcode(rng: random.Random, pools: Pools) -> str:
    """A UK-format postcode, compact as the form stores it."""
    return f"{rng.choice(pools.outward)}{rng.randrange(10)}{''.join(rng.choices(INWARD_LETTERS, k=2))}"


def date_of_birth(rng: random.Random) -> date:
    """A date between 1940 and 2010."""
    return DOB_START + timedelta(days=rng.randrange(DOB_DAYS + 1))


def given_name(rng: random.Random, pools: Pools, gender: str) -> str:
    """One given name, sometimes with a middle name."""
    pool = pools.female if gender == "Female" else pools.male
    first = rng.choice(pool)
    return f"{first} {rng.choice(pool)}" if rng.random() < 0.25 else first


def person(rng: random.Random, pools: Pools, family: str, address: str, code: str) -> PersonDetails:
    """One person at a household's address: every sealed field realistic, some left blank."""
    gender = rng.choice(("Female", "Male")) if rng.random() < 0.97 else "Non-binary"
    given = given_name(rng, pools, gender)
    count = rng.choices((0, 1, 2), weights=(5, 70, 25))[0]
    language = _weighted(rng, LANGUAGES)
    email = None
    if rng.random() < 0.4:
        local = f"{given.split()[0]}.{family}{rng.randrange(100)}".replace(" ", "").replace("'", "")
        email = normalise_email(f"{local}@{rng.choice(pools.domains)}")
    aliases = [f"{rng.choice(pools.female + pools.male)} {rng.choice(pools.family)}"] if rng.random() < 0.04 else []
    return PersonDetails(
        given_name=given,
        family_name=family,
        aliases=aliases,
        date_of_birth=date_of_birth(rng),
        gender=gender,
        phones=[phone(rng) for _ in range(count)],
        email=email,
        address=address,
        postcode=code,
        ethnicity=_weighted(rng, ETHNICITIES),
        disability=_weighted(rng, DISABILITIES) if rng.random() < 0.8 else None,
        sexual_orientation=_weighted(rng, ORIENTATIONS) if rng.random() < 0.6 else None,
        language=language,
        interpreter_needed=language != "English" and rng.random() < 0.5,
        health_notes=rng.choice(HEALTH_NOTES) if rng.random() < 0.1 else None,
    )


def persons(rng: random.Random, pools: Pools, count: int) -> list[tuple[str, PersonDetails]]:
    """`count` (kind, details) in households of one to four sharing an address and often a family name."""
    result: list[tuple[str, PersonDetails]] = []
    while len(result) < count:
        address = f"{rng.randrange(1, 200)} {rng.choice(pools.streets)}, {rng.choice(pools.towns)}"
        code, family = postcode(rng, pools), rng.choice(pools.family)
        for _ in range(rng.choice((1, 2, 2, 3, 3, 4))):
            same_family = rng.random() < 0.6
            details = person(rng, pools, family if same_family else rng.choice(pools.family), address, code)
            result.append((_weighted(rng, KINDS), details))
    return result[:count]


def respell(name: str, rng: random.Random) -> str:
    """The name as someone else might type it: a doubled or dropped letter, or a swapped vowel."""
    if len(name) < 4:
        return name + name[-1]
    at = rng.randrange(1, len(name) - 1)
    choice = rng.randrange(3)
    if choice == 0:
        return name[:at] + name[at] + name[at:]
    if choice == 1:
        return name[:at] + name[at + 1 :]
    vowel = rng.choice([v for v in "aeiouy" if v != name[at].lower()])
    return name[:at] + vowel + name[at + 1 :]


def probe(rng: random.Random, pools: Pools, known: PersonDetails) -> tuple[str, PersonDetails]:
    """A search for `known` with something changed, as a referrer would type it: (what changed, details)."""
    kind = rng.choices(("moved", "respelt", "new_phone", "alias"), weights=(40, 30, 20, 10))[0]
    if kind == "moved":
        changed = dataclasses.replace(known, phones=[phone(rng)], postcode=postcode(rng, pools), email=None)
    elif kind == "respelt":
        changed = dataclasses.replace(known, given_name=respell(known.given_name or "", rng), email=None)
    elif kind == "new_phone":
        changed = dataclasses.replace(known, phones=[phone(rng)])
    else:
        changed = dataclasses.replace(known, family_name=rng.choice(pools.family), phones=[])
    return kind, changed


def unknown(rng: random.Random, pools: Pools) -> tuple[str, PersonDetails]:
    """Someone who is not in the database."""
    address = f"{rng.randrange(1, 200)} {rng.choice(pools.streets)}, {rng.choice(pools.towns)}"
    return "unknown", person(rng, pools, rng.choice(pools.family), address, postcode(rng, pools))
