"""Imports every model so Base.metadata knows every table (for Alembic and tests)."""

from marac.audit.models import AuditEvent
from marac.auth.models import AuthSession, User, UserRole, user_areas
from marac.cases.models import Case, CaseEvent, CaseParty, Incident, Questionnaire, Referral, RiskAssessment, SafetyPlan
from marac.crypto import DataKey, KeyRotation
from marac.orgs.models import Agency, Area, agency_areas
from marac.people.models import HouseholdLink, MatchDecision, Person, PersonTerm
from marac.sharing.models import BreakGlassGrant, Disclosure, MustNotReceive

__all__ = [
    "Agency",
    "Area",
    "AuditEvent",
    "AuthSession",
    "BreakGlassGrant",
    "Case",
    "CaseEvent",
    "CaseParty",
    "DataKey",
    "Disclosure",
    "HouseholdLink",
    "Incident",
    "KeyRotation",
    "MatchDecision",
    "MustNotReceive",
    "Person",
    "PersonTerm",
    "Questionnaire",
    "Referral",
    "RiskAssessment",
    "SafetyPlan",
    "User",
    "UserRole",
    "agency_areas",
    "user_areas",
]
