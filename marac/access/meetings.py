"""Who may see, run, chair and research a MARAC meeting, and read its minutes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from marac.access.cases import MEETING_MEMBER_WINDOW_DAYS, user_area_ids
from marac.access.roles import Role, user_roles

# --- meetings ------------------------------------------------------------------------------------------------------


def _signed_in_roles(user: Any) -> frozenset[Role]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    return user_roles(user)


def is_member_agency(agency_id: int, area: Any) -> bool:
    """Whether an agency is a member of an area's MARAC (it serves the area and is in use)."""
    return any(a.id == agency_id and a.is_active for a in area.agencies)


def can_manage_meeting(user: Any, meeting: Any) -> bool:
    """The area's coordinators build the agenda, run the meeting and record the minutes."""
    return Role.COORDINATOR in _signed_in_roles(user) and meeting.area_id in user_area_ids(user)


def can_manage_area_meetings(user: Any, area: Any) -> bool:
    """The area's coordinators set its meeting pattern and add, move or cancel its meetings."""
    return Role.COORDINATOR in _signed_in_roles(user) and area.id in user_area_ids(user)


def can_chair_meeting(user: Any, meeting: Any) -> bool:
    """A chair of the area signs off the minutes."""
    return Role.CHAIR in _signed_in_roles(user) and meeting.area_id in user_area_ids(user)


def can_see_meeting(user: Any, meeting: Any) -> bool:
    """Coordinators and chairs of the area always; a member agency's representatives (and IDVAs) once the agenda is
    published, for meetings of their areas, until 12 months after the meeting. Each case on it is still checked."""
    roles = _signed_in_roles(user)
    if not roles or meeting.area_id not in user_area_ids(user):
        return False
    if roles & {Role.COORDINATOR, Role.CHAIR}:
        return True
    from datetime import timedelta

    from marac import db

    published = meeting.published_at is not None and not meeting.is_cancelled
    recent = meeting.starts_at > db.utcnow() - timedelta(days=MEETING_MEMBER_WINDOW_DAYS)
    member = is_member_agency(user.agency_id, meeting.area)
    return bool(roles & {Role.AGENCY_REP, Role.IDVA}) and published and recent and member


def can_answer_research(user: Any, request: Any, meeting: Any) -> bool:
    """The asked agency's representatives answer its research requests."""
    roles = _signed_in_roles(user)
    return Role.AGENCY_REP in roles and user.agency_id == request.agency_id and can_see_meeting(user, meeting)


def can_see_research(user: Any, request: Any, meeting: Any) -> bool:
    """An agency's research is seen by the area's coordinators and chairs, and by the agency's own representatives."""
    if can_manage_meeting(user, meeting) or can_chair_meeting(user, meeting):
        return True
    return can_answer_research(user, request, meeting)


def can_follow_research(user: Any, meeting: Any) -> bool:
    """The area's coordinators and chairs follow every agency's research for a meeting (the research grid)."""
    return can_manage_meeting(user, meeting) or can_chair_meeting(user, meeting)


def can_read_minutes(user: Any, meeting: Any) -> bool:
    """The area's coordinators and chairs read the minutes as they are written; member agencies the signed minutes
    distributed to them, while no correction is in hand (each case's discussion only where they may see the case)."""
    if can_follow_research(user, meeting):
        return True
    # Only the version they were sent: while signed minutes are being corrected, the draft stays with the MARAC team.
    current = meeting.distributed_version is not None and meeting.distributed_version == meeting.minutes_version
    return can_see_meeting(user, meeting) and current
