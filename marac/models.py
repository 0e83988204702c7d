"""Imports every model so Base.metadata knows every table (for Alembic and tests)."""

from marac.audit.models import AuditEvent
from marac.auth.models import AuthSession, User, UserRole, user_areas
from marac.orgs.models import Agency, Area, agency_areas

__all__ = ["Agency", "Area", "AuditEvent", "AuthSession", "User", "UserRole", "agency_areas", "user_areas"]
