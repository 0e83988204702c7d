"""MARAC areas and the agencies that take part in them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow


class AgencyKind(StrEnum):
    """Kinds of agency taking part in MARAC and Operation Encompass."""

    POLICE = "police"
    IDVA_SERVICE = "idva_service"
    HEALTH = "health"
    HOUSING = "housing"
    CHILDRENS_SOCIAL_CARE = "childrens_social_care"
    ADULT_SOCIAL_CARE = "adult_social_care"
    PROBATION = "probation"
    SPECIALIST_DA_SERVICE = "specialist_da_service"
    EDUCATION = "education"
    LOCAL_AUTHORITY = "local_authority"
    OTHER = "other"


AGENCY_KIND_LABELS: dict[AgencyKind, str] = {
    AgencyKind.POLICE: "Police",
    AgencyKind.IDVA_SERVICE: "IDVA service",
    AgencyKind.HEALTH: "Health",
    AgencyKind.HOUSING: "Housing",
    AgencyKind.CHILDRENS_SOCIAL_CARE: "Children's social care",
    AgencyKind.ADULT_SOCIAL_CARE: "Adult social care",
    AgencyKind.PROBATION: "Probation",
    AgencyKind.SPECIALIST_DA_SERVICE: "Specialist domestic abuse service",
    AgencyKind.EDUCATION: "Education (school or college)",
    AgencyKind.LOCAL_AUTHORITY: "Local authority",
    AgencyKind.OTHER: "Other",
}

#: Which areas an agency serves.
agency_areas = Table(
    "agency_areas",
    Base.metadata,
    Column("agency_id", ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Area(Base):
    """A MARAC area: one conference serving a district, borough or county."""

    __tablename__ = "areas"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: Display name, unique.
    name: Mapped[str] = mapped_column(String(120), unique=True)
    #: Whether the area is in use.
    is_active: Mapped[bool] = mapped_column(default=True)
    #: When it was set up.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: DASH score from which the grade is medium.
    medium_risk_from: Mapped[int] = mapped_column(default=10, server_default="10")
    #: DASH score from which the grade is high.
    high_risk_from: Mapped[int] = mapped_column(default=14, server_default="14")
    #: DASH score from which a case meets the "visible high risk" MARAC criterion.
    marac_threshold: Mapped[int] = mapped_column(default=14, server_default="14")
    #: Incidents in the previous 12 months that make "potential escalation".
    escalation_incidents: Mapped[int] = mapped_column(default=3, server_default="3")
    #: Working days a referral may wait for sign-off or a decision before it shows as overdue.
    referral_target_days: Mapped[int] = mapped_column(default=2, server_default="2")

    agencies: Mapped[list[Agency]] = relationship(secondary=agency_areas, back_populates="areas")

    def __repr__(self) -> str:
        return f"<Area {self.public_id} {self.name!r}>"


class Agency(Base):
    """An organisation whose staff use the platform."""

    __tablename__ = "agencies"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: Display name, unique.
    name: Mapped[str] = mapped_column(String(160), unique=True)
    #: One of AgencyKind.
    kind: Mapped[str] = mapped_column(String(40))
    #: Whether the agency is in use.
    is_active: Mapped[bool] = mapped_column(default=True)
    #: When it was set up.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    areas: Mapped[list[Area]] = relationship(secondary=agency_areas, back_populates="agencies", order_by="Area.name")

    @property
    def kind_label(self) -> str:
        """Human label for the kind."""
        return AGENCY_KIND_LABELS.get(AgencyKind(self.kind), self.kind)

    def __repr__(self) -> str:
        return f"<Agency {self.public_id} {self.kind}>"
