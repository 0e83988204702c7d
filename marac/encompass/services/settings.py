"""Education settings, their key adults and local-authority arrangements: the rules for leads who manage them, and
fast, batched look-ups that incident intake and delivery call (`closures_for`, `find_setting_by_urn`,
`briefed_key_adults`, `authority_for`)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from sqlalchemy import func, select

from marac import audit, db
from marac.access import Role, managed_authority_ids, manages_authority
from marac.auth.models import User, UserRole
from marac.encompass.calendar import Closures, Nation
from marac.encompass.models import (
    ClosureKind,
    EducationSetting,
    EncompassAuthority,
    KeyAdult,
    ParentContact,
    SettingClosure,
    SettingKind,
)
from marac.orgs.models import Agency, AgencyKind

URN_PATTERN = re.compile(r"^(?=.{5,12}$)\d+(-\d+)?$")
EARLIEST_DAY_START = time(6, 0)
LATEST_DAY_START = time(10, 30)
#: Choosing this instead of an agency creates one with the setting's name.
NEW_AGENCY = "new"


class SettingError(ValueError):
    """A refusal with a message for the user, and the form field it belongs to."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- look-ups other domains call ---------------------------------------------------------------------------------


def normalise_urn(urn: str | None) -> str:
    """A URN without surrounding or inner spaces (the stored form)."""
    return "".join((urn or "").split())


def find_setting_by_urn(urn: str | None) -> EducationSetting | None:
    """The setting with this URN (spaces ignored), or None."""
    value = normalise_urn(urn)
    if not value:
        return None
    return db.session.scalar(select(EducationSetting).where(EducationSetting.urn == value))


def closures_for(setting_ids: Iterable[int]) -> dict[int, Closures]:
    """Each setting's term-calendar closures, in one query (a setting with none gets empty Closures)."""
    ids = set(setting_ids)
    if not ids:
        return {}
    holidays: dict[int, list[tuple[date, date]]] = defaultdict(list)
    training: dict[int, set[date]] = defaultdict(set)
    query = select(SettingClosure.setting_id, SettingClosure.kind, SettingClosure.starts_on, SettingClosure.ends_on)
    for setting_id, kind, starts_on, ends_on in db.session.execute(query.where(SettingClosure.setting_id.in_(ids))):
        if kind == ClosureKind.TRAINING_DAY.value and starts_on == ends_on:
            training[setting_id].add(starts_on)
        else:
            holidays[setting_id].append((starts_on, ends_on))
    return {i: Closures(holidays=tuple(holidays[i]), training_days=frozenset(training[i])) for i in ids}


def briefed_key_adults(setting: EducationSetting, rank: int | None = None) -> list[User]:
    """The setting's key adults who receive notifications: active accounts holding the key adult role, still at the
    setting's own agency, whose briefing is recorded (of one rank when given), rank 1 first."""
    query = (
        select(User)
        .join(KeyAdult, KeyAdult.user_id == User.id)
        .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == Role.KEY_ADULT.value))
        .where(
            KeyAdult.setting_id == setting.id,
            KeyAdult.briefed_on.is_not(None),
            User.is_active.is_(True),
            User.agency_id == setting.agency_id,  # still working for the setting
        )
        .order_by(KeyAdult.rank, User.id)
    )
    if rank is not None:
        query = query.where(KeyAdult.rank == rank)
    return list(db.session.scalars(query))


def authority_for(local_authority_id: int | None) -> EncompassAuthority | None:
    """The local authority's Encompass arrangements, or None when none are recorded."""
    if local_authority_id is None:
        return None
    query = select(EncompassAuthority).where(EncompassAuthority.local_authority_id == local_authority_id)
    return db.session.scalar(query)


# --- lists and choices ----------------------------------------------------------------------------------------


def local_authorities_for(actor: Any) -> list[Agency]:
    """Local authorities (agencies of kind local_authority) the actor manages, by name."""
    scope = managed_authority_ids(actor)
    query = select(Agency).where(Agency.kind == AgencyKind.LOCAL_AUTHORITY.value).order_by(Agency.name)
    if scope is not None:
        query = query.where(Agency.id.in_(scope))
    return list(db.session.scalars(query))


def education_agency_choices(setting: EducationSetting | None) -> list[Agency]:
    """Education agencies not linked to another setting (the setting's own included), by name."""
    linked = select(EducationSetting.agency_id).where(EducationSetting.agency_id.is_not(None))
    if setting is not None and setting.id is not None:
        linked = linked.where(EducationSetting.id != setting.id)
    query = (
        select(Agency).where(Agency.kind == AgencyKind.EDUCATION.value, Agency.id.not_in(linked)).order_by(Agency.name)
    )
    return list(db.session.scalars(query))


@dataclass(frozen=True)
class SettingRow:
    """One line of the settings list."""

    setting: EducationSetting
    briefed: int
    total: int
    calendar_covers_year: bool


def academic_year(today: date) -> tuple[date, date]:
    """The academic year containing `today`: 1 September to 31 August."""
    first = today.year if today.month >= 9 else today.year - 1
    return date(first, 9, 1), date(first + 1, 8, 31)


def settings_in_scope(actor: Any, today: date, local_authority_id: int | None = None) -> list[SettingRow]:
    """Settings of the local authorities the actor manages (one authority when given), by name, with key adult
    counts and whether any closure falls in the current academic year (three queries in all)."""
    scope = managed_authority_ids(actor)
    query = select(EducationSetting).order_by(EducationSetting.name)
    if scope is not None:
        query = query.where(EducationSetting.local_authority_id.in_(scope))
    if local_authority_id is not None:
        query = query.where(EducationSetting.local_authority_id == local_authority_id)
    settings = list(db.session.scalars(query))
    ids = [s.id for s in settings]
    counts: dict[int, tuple[int, int]] = {}
    covered: set[int] = set()
    if ids:
        briefed = func.count(KeyAdult.briefed_on)
        per_setting = select(KeyAdult.setting_id, briefed, func.count()).group_by(KeyAdult.setting_id)
        for setting_id, n_briefed, n_total in db.session.execute(per_setting.where(KeyAdult.setting_id.in_(ids))):
            counts[setting_id] = (n_briefed, n_total)
        start, end = academic_year(today)
        in_year = select(SettingClosure.setting_id).where(
            SettingClosure.setting_id.in_(ids), SettingClosure.starts_on <= end, SettingClosure.ends_on >= start
        )
        covered = set(db.session.scalars(in_year.distinct()))
    return [SettingRow(s, *counts.get(s.id, (0, 0)), s.id in covered) for s in settings]


def load_setting_for(actor: Any, public_id: str) -> EducationSetting | None:
    """The setting if the actor manages its local authority, else None (the view answers 404)."""
    setting = db.session.scalar(select(EducationSetting).where(EducationSetting.public_id == public_id))
    if setting is None or not manages_authority(actor, setting.local_authority_id):
        return None
    return setting


def load_key_adult_for(actor: Any, public_id: str) -> KeyAdult | None:
    """The key adult if the actor manages their setting's local authority, else None (the view answers 404)."""
    found = db.session.scalar(select(KeyAdult).where(KeyAdult.public_id == public_id))
    if found is None or not manages_authority(actor, found.setting.local_authority_id):
        return None
    return found


def load_authority_for(actor: Any, public_id: str) -> Agency | None:
    """The local authority agency if the actor manages it, else None (the view answers 404)."""
    agency = db.session.scalar(select(Agency).where(Agency.public_id == public_id))
    if agency is None or agency.kind != AgencyKind.LOCAL_AUTHORITY.value:
        return None
    return agency if manages_authority(actor, agency.id) else None


# --- settings ------------------------------------------------------------------------------------------------------


@dataclass
class SettingData:
    """What a lead enters for a setting."""

    urn: str
    name: str
    kind: str
    local_authority_id: str  # public id
    nation: str
    day_start: str  # HH:MM
    parent_contact: str
    agency: str  # an education agency's public id, or NEW_AGENCY
    is_active: bool


def parse_day_start(value: str) -> time:
    """A HH:MM day start from 06:00 to 10:30."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", (value or "").strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise SettingError("Enter the day start as a 24-hour time, like 08:30", "day_start")
    parsed = time(int(match[1]), int(match[2]))
    if not EARLIEST_DAY_START <= parsed <= LATEST_DAY_START:
        raise SettingError("The day start must be between 06:00 and 10:30", "day_start")
    return parsed


def _checked_urn(value: str, setting: EducationSetting | None) -> str:
    urn = normalise_urn(value)
    if not URN_PATTERN.match(urn):
        raise SettingError("Enter a URN of 5 to 12 digits (one hyphen allowed), like 123456", "urn")
    other = find_setting_by_urn(urn)
    if other is not None and (setting is None or other.id != setting.id):
        raise SettingError(f"A setting with URN {urn} already exists", "urn")
    return urn


def _checked_authority(actor: Any, public_id: str) -> Agency:
    chosen = next((a for a in local_authorities_for(actor) if a.public_id == public_id), None)
    if chosen is None:
        raise SettingError("Select a local authority you manage", "local_authority")
    return chosen


def _checked_agency(
    actor: Any, choice: str, name: str, setting: EducationSetting | None, local_authority: Agency
) -> Agency:
    if choice == NEW_AGENCY:
        if db.session.scalar(select(Agency.id).where(func.lower(Agency.name) == name.lower())) is not None:
            raise SettingError("An agency with the setting's name already exists: select it instead", "agency")
        agency = Agency(name=name, kind=AgencyKind.EDUCATION.value, areas=list(local_authority.areas))
        db.session.add(agency)
        db.session.flush()
        audit.record("encompass.setting_agency_create", actor=actor, object_type="agency", object_id=agency.public_id)
        return agency
    chosen = next((a for a in education_agency_choices(setting) if a.public_id == choice), None)
    if chosen is None:
        raise SettingError("Select an education agency not linked to another setting, or create one", "agency")
    return chosen


def _checked_choice(value: str, allowed: Iterable[str], message: str, field: str) -> str:
    if value not in set(allowed):
        raise SettingError(message, field)
    return value


def save_setting(actor: Any, data: SettingData, setting: EducationSetting | None = None) -> EducationSetting:
    """Create or change a setting; audited with the names of the fields changed (never their values)."""
    name = " ".join((data.name or "").split())
    if not name or len(name) > 160:
        raise SettingError("Enter the setting's name (160 characters or fewer)", "name")
    authority = _checked_authority(actor, data.local_authority_id)
    values: dict[str, Any] = {
        "urn": _checked_urn(data.urn, setting),
        "name": name,
        "kind": _checked_choice(data.kind, (k.value for k in SettingKind), "Select the kind of setting", "kind"),
        "local_authority_id": authority.id,
        "nation": _checked_choice(data.nation, (n.value for n in Nation), "Select the nation", "nation"),
        "day_start": parse_day_start(data.day_start),
        "parent_contact": _checked_choice(
            data.parent_contact,
            (p.value for p in ParentContact),
            "Select the policy on contacting parents",
            "parent_contact",
        ),
        "is_active": bool(data.is_active),
    }
    values["agency_id"] = _checked_agency(actor, data.agency, name, setting, authority).id
    created = setting is None
    setting = setting or EducationSetting()
    changed = sorted(key for key, value in values.items() if created or getattr(setting, key) != value)
    for key, value in values.items():
        setattr(setting, key, value)
    db.session.add(setting)
    db.session.flush()
    audit.record(
        "encompass.setting_create" if created else "encompass.setting_update",
        actor=actor,
        object_type="education_setting",
        object_id=setting.public_id,
        details={"fields": changed},
    )
    return setting


# --- key adults ------------------------------------------------------------------------------------------------


def agency_staff(setting: EducationSetting) -> list[User]:
    """Active users of the setting's agency, by name (candidates to add as key adults)."""
    if setting.agency_id is None:
        return []
    query = select(User).where(User.agency_id == setting.agency_id, User.is_active.is_(True))
    return list(db.session.scalars(query.order_by(User.display_name)))


def _checked_briefing(briefed_on: date | None, today: date) -> date | None:
    if briefed_on is not None and briefed_on > today:
        raise SettingError("The briefing date must be today or in the past", "briefed_on")
    return briefed_on


def _audit_key_adult(actor: Any, action: str, key_adult: KeyAdult) -> None:
    audit.record(
        action,
        actor=actor,
        object_type="key_adult",
        object_id=key_adult.public_id,
        details={"setting": key_adult.setting.public_id, "rank": key_adult.rank, "briefed": key_adult.is_briefed},
    )


def add_key_adult(
    actor: Any, setting: EducationSetting, user_public_id: str, rank: int, briefed_on: date | None, today: date
) -> KeyAdult:
    """Name a key adult (rank 1) or second key adult (rank 2): a user of the setting's own agency who holds the key
    adult role, not already a key adult there."""
    user = db.session.scalar(select(User).where(User.public_id == user_public_id))
    if setting.agency_id is None:
        raise SettingError("Link the setting to its agency before adding key adults", "key_adult")
    if user is None or user.agency_id != setting.agency_id or not user.is_active:
        raise SettingError("Select a person who works at the setting (its agency on the platform)", "key_adult")
    if Role.KEY_ADULT.value not in user.role_names:
        raise SettingError(
            f"{user.display_name} does not hold the key adult role: ask an administrator to give it first",
            "key_adult",
        )
    if rank not in (1, 2):
        raise SettingError("Select key adult or second key adult", "rank")
    if any(k.user_id == user.id for k in setting.key_adults):
        raise SettingError(f"{user.display_name} is already a key adult at this setting", "key_adult")
    key_adult = KeyAdult(setting=setting, user_id=user.id, rank=rank, briefed_on=_checked_briefing(briefed_on, today))
    db.session.add(key_adult)
    db.session.flush()
    _audit_key_adult(actor, "encompass.key_adult_add", key_adult)
    return key_adult


def record_briefing(actor: Any, key_adult: KeyAdult, briefed_on: date | None, today: date) -> KeyAdult:
    """Record (or clear) the date a key adult completed the Operation Encompass briefing."""
    key_adult.briefed_on = _checked_briefing(briefed_on, today)
    db.session.flush()
    _audit_key_adult(actor, "encompass.key_adult_briefing", key_adult)
    return key_adult


def remove_key_adult(actor: Any, key_adult: KeyAdult) -> None:
    """Stop someone being a key adult at the setting."""
    _audit_key_adult(actor, "encompass.key_adult_remove", key_adult)
    key_adult.setting.key_adults.remove(key_adult)
    db.session.flush()


# --- local-authority arrangements ---------------------------------------------------------------------------


def social_care_choices() -> list[Agency]:
    """Children's social care agencies, by name."""
    query = select(Agency).where(Agency.kind == AgencyKind.CHILDRENS_SOCIAL_CARE.value, Agency.is_active.is_(True))
    return list(db.session.scalars(query.order_by(Agency.name)))


def save_authority(actor: Any, local_authority: Agency, social_care_public_id: str, nation: str) -> EncompassAuthority:
    """Record which children's social care receives the authority's home-education notifications, and its nation;
    the arrangements row is created on first save."""
    if nation not in {n.value for n in Nation}:
        raise SettingError("Select the nation", "nation")
    care = None
    if social_care_public_id:
        care = next((a for a in social_care_choices() if a.public_id == social_care_public_id), None)
        if care is None:
            raise SettingError("Select a children's social care agency", "childrens_social_care")
    arrangements = authority_for(local_authority.id)
    created = arrangements is None
    arrangements = arrangements or EncompassAuthority(local_authority_id=local_authority.id)
    new_care_id = care.id if care else None
    changed = (
        []
        if created
        else [
            f
            for f, v in (("childrens_social_care", new_care_id), ("nation", nation))
            if getattr(arrangements, f + ("_id" if f != "nation" else "")) != v
        ]
    )
    arrangements.childrens_social_care_id, arrangements.nation = new_care_id, nation
    db.session.add(arrangements)
    db.session.flush()
    audit.record(
        "encompass.authority_create" if created else "encompass.authority_update",
        actor=actor,
        object_type="agency",
        object_id=local_authority.public_id,
        details={"fields": ["childrens_social_care", "nation"] if created else changed},
    )
    return arrangements
