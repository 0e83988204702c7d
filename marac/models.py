"""Imports every model so Base.metadata knows every table (for Alembic and tests)."""

from marac.actions.models import Action, ActionEvent
from marac.audit.models import AuditEvent
from marac.auth.models import AuthSession, User, UserRole, user_areas
from marac.cases.models import Case, CaseEvent, CaseParty, Incident, Questionnaire, Referral, RiskAssessment, SafetyPlan
from marac.crypto import DataKey, KeyRotation
from marac.encompass.models import (
    EducationSetting,
    EncompassAuthority,
    EncompassChild,
    EncompassNotification,
    KeyAdult,
    PoliceIncident,
    SettingClosure,
)
from marac.meetings.models import (
    AgendaItem,
    Attendance,
    Meeting,
    MeetingPattern,
    MinutesVersion,
    Observer,
    ResearchRequest,
)
from marac.notify.models import Notification, OutboxMessage
from marac.orgs.models import Agency, Area, agency_areas
from marac.people.models import HouseholdLink, MatchDecision, Person, PersonTerm
from marac.scheduler_models import SchedulerHeartbeat
from marac.sharing.models import BreakGlassGrant, Disclosure, MustNotReceive

__all__ = [
    "Action",
    "ActionEvent",
    "Agency",
    "AgendaItem",
    "Area",
    "Attendance",
    "AuditEvent",
    "AuthSession",
    "BreakGlassGrant",
    "Case",
    "CaseEvent",
    "CaseParty",
    "DataKey",
    "Disclosure",
    "EducationSetting",
    "EncompassAuthority",
    "EncompassChild",
    "EncompassNotification",
    "HouseholdLink",
    "Incident",
    "KeyAdult",
    "KeyRotation",
    "MatchDecision",
    "Meeting",
    "MeetingPattern",
    "MinutesVersion",
    "MustNotReceive",
    "Notification",
    "Observer",
    "OutboxMessage",
    "Person",
    "PersonTerm",
    "PoliceIncident",
    "Questionnaire",
    "Referral",
    "ResearchRequest",
    "RiskAssessment",
    "SafetyPlan",
    "SchedulerHeartbeat",
    "SettingClosure",
    "User",
    "UserRole",
    "agency_areas",
    "user_areas",
]
