"""Who may see and update an action agreed at MARAC: each agency owns its actions."""

from __future__ import annotations

from typing import Any

from marac.access.cases import case_relations_many, is_excluded, user_area_ids
from marac.access.roles import CASE_ROLES, Role, user_roles

# --- actions -------------------------------------------------------------------------------------------------------


def _case_roles(user: Any) -> frozenset[Role]:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return frozenset()
    return user_roles(user) & CASE_ROLES


def _area_lead(user: Any, action: Any, roles: frozenset[Role], wanted: frozenset[Role]) -> bool:
    return bool(roles & wanted) and action.case.area_id in user_area_ids(user)


def _own_agency(user: Any, action: Any) -> bool:
    return user.agency_id == action.agency_id and action.case.area_id in user_area_ids(user)


def can_update_action(user: Any, action: Any) -> bool:
    """The owning agency's representatives and the named owner report progress; the area's coordinators record
    what was (not) done at review."""
    roles = _case_roles(user)
    if not roles or is_excluded(user, action.case):
        return False
    if _area_lead(user, action, roles, frozenset({Role.COORDINATOR})):
        return True
    return _own_agency(user, action) and (Role.AGENCY_REP in roles or user.id == action.owner_id)


def can_record_not_done(user: Any, action: Any) -> bool:
    """Only the area's coordinators record, at review, that an action was not done."""
    roles = _case_roles(user)
    return _area_lead(user, action, roles, frozenset({Role.COORDINATOR})) and not is_excluded(user, action.case)


def visible_actions(user: Any, actions: list[Any]) -> list[Any]:
    """Of these actions, those the user may see: the owning agency's case workers (that action and the minimum case
    identifiers only), the area's coordinators and chairs, and anyone with a relationship to the case."""
    roles = _case_roles(user)
    if not roles or not actions:
        return []
    cases = list({a.case_id: a.case for a in actions}.values())
    relations = case_relations_many(user, cases)
    lead = frozenset({Role.COORDINATOR, Role.CHAIR})
    shown = []
    for action in actions:
        related = bool(relations[action.case_id])
        placed = _own_agency(user, action) or _area_lead(user, action, roles, lead)
        if related or (placed and not is_excluded(user, action.case)):
            shown.append(action)
    return shown


def can_see_action(user: Any, action: Any) -> bool:
    """Whether the user may see this action (see `visible_actions`)."""
    return bool(visible_actions(user, [action]))
