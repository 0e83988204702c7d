"""Setting up MARAC areas and agencies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from marac import audit, db
from marac.orgs.models import Agency, AgencyKind, Area


class OrgError(ValueError):
    """A change was refused; the message is safe to show."""


def _name_taken(model: type[Area] | type[Agency], name: str, exclude_id: int | None = None) -> bool:
    query = select(func.count()).select_from(model).where(func.lower(model.name) == name.lower())
    if exclude_id is not None:
        query = query.where(model.id != exclude_id)
    return bool(db.session.scalar(query))


#: The area settings an administrator may change, with their allowed range.
AREA_THRESHOLDS = {
    "medium_risk_from": (1, 60),
    "high_risk_from": (1, 60),
    "marac_threshold": (1, 60),
    "escalation_incidents": (2, 20),
    "referral_target_days": (1, 20),
}


def save_area(
    actor: Any, *, name: str, is_active: bool = True, area: Area | None = None, thresholds: dict[str, int] | None = None
) -> Area:
    """Create an area, or rename / (de)activate an existing one, and set its risk and referral thresholds."""
    name = " ".join(name.split())
    if _name_taken(Area, name, area.id if area else None):
        raise OrgError("An area with this name already exists")
    values = thresholds or {}
    for key, value in values.items():
        low, high = AREA_THRESHOLDS[key]
        if not low <= value <= high:
            raise OrgError(f"{key.replace('_', ' ').capitalize()} must be from {low} to {high}")
    medium = values.get("medium_risk_from", area.medium_risk_from if area else 10)
    if medium >= values.get("high_risk_from", area.high_risk_from if area else 14):
        raise OrgError("The medium-risk score must be below the high-risk score")
    created = area is None
    changed = {k: v for k, v in values.items() if area is None or getattr(area, k) != v}
    area = area or Area(name=name)
    area.name, area.is_active = name, is_active
    for key, value in values.items():
        setattr(area, key, value)
    db.session.add(area)
    db.session.flush()
    audit.record(
        "admin.area_created" if created else "admin.area_updated",
        actor=actor,
        object_type="area",
        object_id=area.public_id,
        details={"is_active": is_active, **changed},
    )
    return area


def save_agency(
    actor: Any, *, name: str, kind: str, areas: list[Area], is_active: bool = True, agency: Agency | None = None
) -> Agency:
    """Create an agency, or change its name, kind, areas served or whether it is active."""
    name = " ".join(name.split())
    if kind not in {k.value for k in AgencyKind}:
        raise OrgError("Select the kind of agency")
    if _name_taken(Agency, name, agency.id if agency else None):
        raise OrgError("An agency with this name already exists")
    created = agency is None
    agency = agency or Agency(name=name, kind=kind)
    agency.name, agency.kind, agency.areas, agency.is_active = name, kind, list(areas), is_active
    db.session.add(agency)
    db.session.flush()
    audit.record(
        "admin.agency_created" if created else "admin.agency_updated",
        actor=actor,
        object_type="agency",
        object_id=agency.public_id,
        details={"kind": kind, "areas": [a.public_id for a in areas], "is_active": is_active},
    )
    return agency


def list_areas(active_only: bool = False) -> list[Area]:
    """Areas by name."""
    query = select(Area).order_by(Area.name)
    if active_only:
        query = query.where(Area.is_active.is_(True))
    return list(db.session.scalars(query))


def list_agencies(active_only: bool = False) -> list[Agency]:
    """Agencies by name."""
    query = select(Agency).order_by(Agency.name)
    if active_only:
        query = query.where(Agency.is_active.is_(True))
    return list(db.session.scalars(query))
