"""Who may do what in Operation Encompass: police officers record incidents; police and local-authority leads manage
settings and monitor delivery for their local authorities; a key adult reaches only their own setting's
notifications (and, at children's social care, the home-educated children of their local authority); nothing else."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from marac.access.cases import user_area_ids
from marac.access.roles import Permission, Role, can, user_roles


def _kind(user: Any) -> str:
    agency = getattr(user, "agency", None)
    return getattr(agency, "kind", "") or ""


def can_record_incidents(user: Any) -> bool:
    """Police officers (and police Encompass leads) record incidents and the children linked to them."""
    return can(user, Permission.ENCOMPASS_RECORD) and _kind(user) == "police"


def can_manage_settings(user: Any) -> bool:
    """Platform administrators and Encompass leads manage settings, key adults and term calendars (for the local
    authorities in `managed_authority_ids`)."""
    return can(user, Permission.ENCOMPASS_SETTINGS)


def can_monitor(user: Any) -> bool:
    """Encompass leads see delivery figures and resolve notifications whose setting is unknown."""
    return can(user, Permission.ENCOMPASS_MONITOR)


def managed_authority_ids(user: Any) -> set[int] | None:
    """The local authorities (agency ids) whose settings and notifications the user manages or monitors: None for
    every one (a platform administrator, settings only), their own for a local-authority lead, and those serving
    the areas they work in for a police lead. Empty for anyone else."""
    from marac import db
    from marac.orgs.models import Agency, AgencyKind, agency_areas

    roles = user_roles(user)
    if Role.ADMIN in roles:
        return None
    if Role.ENCOMPASS_LEAD not in roles:
        return set()
    if _kind(user) == AgencyKind.LOCAL_AUTHORITY.value:
        return {user.agency_id}
    areas = user_area_ids(user)
    if not areas:
        return set()
    query = (
        select(Agency.id)
        .join(agency_areas, agency_areas.c.agency_id == Agency.id)
        .where(Agency.kind == AgencyKind.LOCAL_AUTHORITY.value, agency_areas.c.area_id.in_(areas))
    )
    return set(db.session.scalars(query))


def manages_authority(user: Any, local_authority_id: int | None) -> bool:
    """Whether the user manages or monitors this local authority's settings and notifications."""
    scope = managed_authority_ids(user)
    return scope is None or (local_authority_id is not None and local_authority_id in scope)


def key_adult_setting_ids(user: Any) -> set[int]:
    """The settings whose notifications the user receives: they hold the key adult role, their briefing is recorded
    at that setting, and they still work for the setting's own agency."""
    from marac import db
    from marac.encompass.models import EducationSetting, KeyAdult

    if Role.KEY_ADULT not in user_roles(user) or not user.is_active:
        return set()
    query = (
        select(KeyAdult.setting_id)
        .join(EducationSetting, EducationSetting.id == KeyAdult.setting_id)
        .where(
            KeyAdult.user_id == user.id,
            KeyAdult.briefed_on.is_not(None),
            EducationSetting.agency_id == user.agency_id,  # moved to another agency: receives nothing from here
        )
    )
    return set(db.session.scalars(query))


def home_education_authority_ids(user: Any) -> set[int]:
    """The local authorities whose home-educated children's notifications the user receives: a key adult at the
    children's social care named in the authority's Encompass arrangements."""
    from marac import db
    from marac.encompass.models import EncompassAuthority

    if Role.KEY_ADULT not in user_roles(user) or not user.is_active:
        return set()
    query = select(EncompassAuthority.local_authority_id).where(
        EncompassAuthority.childrens_social_care_id == user.agency_id
    )
    return set(db.session.scalars(query))


def can_receive_notification(user: Any, notification: Any) -> bool:
    """Whether the user is one of the notification's recipients: a briefed key adult of its setting, or (home
    education) a key adult at its local authority's children's social care."""
    if notification.route == "setting":
        return notification.setting_id in key_adult_setting_ids(user)
    if notification.route == "home_education":
        return notification.local_authority_id in home_education_authority_ids(user)
    return False


def can_resolve_notification(user: Any, notification: Any) -> bool:
    """Whether the user may name the setting of a child whose setting was unknown: a lead for its local authority,
    or a police officer of the force that recorded the incident."""
    if notification.route != "unresolved" or notification.anonymised_at is not None:
        return False  # an anonymised one has nothing left to send
    if can_monitor(user) and manages_authority(user, notification.local_authority_id):
        return True
    incident = notification.child.incident
    return can_record_incidents(user) and user.agency_id == incident.police_agency_id


def can_correct_incident(user: Any, incident: Any) -> bool:
    """Whether the user may correct a recorded incident (its details, its children as the police gave them, and the
    setting told): the officer who recorded it, or an Encompass lead of the recording force, while they can still
    record incidents for that force (the rule `/encompass/incidents/<id>` uses to show it)."""
    if incident is None or not can_record_incidents(user) or user.agency_id != incident.police_agency_id:
        return False
    return user.id == incident.recorded_by_id or Role.ENCOMPASS_LEAD in user_roles(user)
