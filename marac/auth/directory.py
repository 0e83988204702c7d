"""Finding the people who hold a role in an area: who is reminded, told or escalated to."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import db
from marac.access import Role, user_area_ids
from marac.auth.models import User, UserRole


def area_role_users(area_id: int, role: Role, agency_id: int | None = None) -> list[User]:
    """Active users holding `role` who work in the area (at `agency_id`, when given), oldest account first."""
    query = (
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == role.value, User.is_active.is_(True))
    )
    if agency_id is not None:
        query = query.where(User.agency_id == agency_id)
    users = db.session.scalars(query.options(selectinload(User.areas)).order_by(User.id)).unique()
    return [u for u in users if area_id in user_area_ids(u)]


def unique_users(*groups: list[User]) -> list[User]:
    """The users in `groups`, each once, in the order first met."""
    found: dict[int, User] = {}
    for group in groups:
        for user in group:
            found.setdefault(user.id, user)
    return list(found.values())
