"""Normalising identifiers, blind-index terms, and scoring candidate matches with plain reasons.

Terms (one row each in ``person_terms``):

* ``name``: first given name + family name, case-folded, accents and punctuation removed (also for each alias)
* ``phonetic``: Metaphone of the same two names, so "Kathryn Smyth" finds "Catherine Smith"
* ``dob``: ISO date of birth
* ``phone``: each phone number in E.164
* ``email``: the address, case-folded
* ``postcode``: the postcode without spaces
* ``initials_postcode``: both initials and the postcode ("postcode and initial")

The index lookup returns, per candidate, which fields agreed; scoring never needs the plaintext.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date

import jellyfish
import phonenumbers

from marac.crypto import Keyring

TERM_FIELDS = ("name", "phonetic", "dob", "phone", "email", "postcode", "initials_postcode")
_NOT_LETTERS = re.compile(r"[^a-z ]+")
_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$")

#: Evidence weights (0-100 in all): a date of birth or a name alone is weak; together they are strong.
WEIGHTS = {"name": 35, "phonetic": 25, "dob": 35, "phone": 40, "email": 40, "postcode": 10, "initials_postcode": 15}
#: Score bands shown to users, and the least score a user may link on.
HIGH, MEDIUM = 70, 40
LINKABLE = MEDIUM
#: Most rows read from the index per lookup: a common postcode or date of birth cannot flood the page.
MAX_TERM_ROWS = 2000


#: Letters that Unicode does not decompose into a base letter and an accent, and the marks that join a name
#: ("Anne-Marie", "O'Brien", with typographic hyphens and apostrophes too), which are removed.
_TRANSLITERATE = str.maketrans(
    {
        "ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "þ": "th", "ð": "d", "đ": "d", "\u0131": "i", "ß": "ss", "ŀ": "l",
        "-": None, "\u2010": None, "\u2011": None, "\u2012": None, "\u2013": None, "\u2212": None,
        "'": None, "\u2019": None, "\u2018": None, "`": None,
    }
)  # fmt: skip


def fold(text: str) -> str:
    """Case-folded, accents stripped, only letters and single spaces ("Zoë O'Brien-Smith" -> "zoe obriensmith",
    "Łukasz" -> "lukasz")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold()).translate(_TRANSLITERATE)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(_NOT_LETTERS.sub(" ", plain).split())


def name_key(given: str | None, family: str | None) -> str | None:
    """First given name and family name, folded; None unless both are there."""
    given_f, family_f = fold(given or ""), fold(family or "")
    if not given_f or not family_f:
        return None
    return f"{given_f.split()[0]} {family_f.replace(' ', '')}"


def phonetic_key(given: str | None, family: str | None) -> str | None:
    """Metaphone of the first given name and of the family name."""
    key = name_key(given, family)
    if key is None:
        return None
    first, last = key.split(" ", 1)
    return f"{jellyfish.metaphone(first)}|{jellyfish.metaphone(last)}"


def initials(given: str | None, family: str | None) -> str | None:
    """Initial of the first given name and of the family name."""
    key = name_key(given, family)
    if key is None:
        return None
    first, last = key.split(" ", 1)
    return first[0] + last[0]


def normalise_phone(raw: str, region: str = "GB") -> str | None:
    """A phone number in E.164, or None when it is not a possible number."""
    try:
        parsed = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def format_phone(e164: str) -> str:
    """A stored E.164 number as people write it: national format for UK numbers, international otherwise."""
    try:
        parsed = phonenumbers.parse(e164, "GB")
    except phonenumbers.NumberParseException:
        return e164
    style = phonenumbers.PhoneNumberFormat
    return phonenumbers.format_number(parsed, style.NATIONAL if parsed.country_code == 44 else style.INTERNATIONAL)


def normalise_postcode(raw: str) -> str | None:
    """A UK postcode upper-cased without spaces, or None when it does not look like one."""
    compact = re.sub(r"\s+", "", raw).upper()
    return compact if _POSTCODE.match(compact) else None


def format_postcode(compact: str) -> str:
    """ "SW1A1AA" -> "SW1A 1AA"."""
    return f"{compact[:-3]} {compact[-3:]}"


def normalise_email(raw: str) -> str | None:
    """An email address folded to lower case, or None when it has no @."""
    value = raw.strip().lower()
    return value if "@" in value and " " not in value else None


@dataclass
class Identifiers:
    """What is known about a person for matching (plaintext, in memory only)."""

    given_name: str | None = None
    family_name: str | None = None
    aliases: Sequence[str] = ()
    date_of_birth: date | None = None
    phones: Sequence[str] = ()
    email: str | None = None
    postcode: str | None = None

    def values(self) -> list[tuple[str, str]]:
        """(field, normalised value) pairs to index, duplicates removed."""
        pairs: list[tuple[str, str]] = []
        names = [(self.given_name, self.family_name)] + [_split_alias(a) for a in self.aliases]
        for given, family in names:
            for name, value in (("name", name_key(given, family)), ("phonetic", phonetic_key(given, family))):
                if value:
                    pairs.append((name, value))
        if isinstance(self.date_of_birth, date):
            pairs.append(("dob", self.date_of_birth.isoformat()))
        pairs.extend(("phone", p) for p in (normalise_phone(x) for x in self.phones) if p)
        email = normalise_email(self.email or "")
        if email:
            pairs.append(("email", email))
        postcode = normalise_postcode(self.postcode or "")
        if postcode:
            pairs.append(("postcode", postcode))
            for given, family in names:
                inits = initials(given, family)
                if inits:
                    pairs.append(("initials_postcode", f"{inits}|{postcode}"))
        return list(dict.fromkeys(pairs))


def _split_alias(alias: str) -> tuple[str | None, str | None]:
    parts = alias.split()
    if len(parts) < 2:
        return None, None
    return parts[0], parts[-1]


def digests(ring: Keyring, ids: Identifiers, versions: Iterable[int]) -> dict[bytes, str]:
    """Blind-index digest -> field, for every term of `ids` under each index key version."""
    result: dict[bytes, str] = {}
    pairs = ids.values()
    for version in versions:
        for name, value in pairs:
            result[ring.term(name, value, version)] = name
    return result


@dataclass
class Candidate:
    """A person the index suggests, with the fields that agreed and a score."""

    person_id: int
    fields: set[str] = field(default_factory=set)

    @property
    def score(self) -> int:
        """0-100: the sum of the evidence, where an exact name also counts as sounding alike."""
        found = set(self.fields)
        if "name" in found:
            found.discard("phonetic")
        if "initials_postcode" in found:
            found.add("postcode")
        return min(100, sum(WEIGHTS[f] for f in found))

    @property
    def band(self) -> str:
        """ "high", "medium" or "low"."""
        return "high" if self.score >= HIGH else "medium" if self.score >= MEDIUM else "low"

    @property
    def is_linkable(self) -> bool:
        """Whether there is enough in common for a user to confirm a link (never for a name alone)."""
        return self.score >= LINKABLE

    @property
    def reasons(self) -> str:
        """Plain words: "same date of birth and phone; name sounds alike"."""
        labels = {
            "name": "name",
            "dob": "date of birth",
            "phone": "phone",
            "email": "email",
            "postcode": "postcode",
            "initials_postcode": "initials",
        }
        same = [labels[f] for f in labels if f in self.fields]
        if "initials_postcode" in self.fields and "postcode" in same:
            same.remove("postcode")
            same[same.index("initials")] = "postcode and initials"
        parts = []
        if same:
            parts.append("same " + (", ".join(same[:-1]) + " and " + same[-1] if len(same) > 1 else same[0]))
        if "phonetic" in self.fields and "name" not in self.fields:
            parts.append("name sounds alike")
        return "; ".join(parts)


def score_rows(rows: Iterable[tuple[int, str]]) -> list[Candidate]:
    """Group (person id, matching field) rows into candidates, best first."""
    found: dict[int, Candidate] = defaultdict(lambda: Candidate(0))
    for person_id, name in rows:
        cand = found[person_id]
        cand.person_id = person_id
        cand.fields.add(name)
    return sorted(found.values(), key=lambda c: (-c.score, c.person_id))
