"""Home: who you are signed in as, and what you can reach."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from marac.access import ROLE_LABELS, Permission, Role, can, require
from marac.encompass.services.receiving import unacknowledged_count
from marac.meetings.services import agency_research_lists, awaiting_allocation, to_local
from marac.sharing.services import break_glass_awaiting_review

bp = Blueprint("home", __name__)


@bp.route("/")
@require(Permission.SIGNED_IN)
def index() -> str:
    """The home page for every signed-in user."""
    roles = [ROLE_LABELS[Role(r)] for r in current_user.role_names]
    awaiting = break_glass_awaiting_review() if can(current_user, Permission.DISCLOSURE_REVIEW) else 0
    research = agency_research_lists(current_user) if can(current_user, Permission.RESEARCH_ANSWER) else []
    waiting = len(awaiting_allocation(current_user)) if can(current_user, Permission.MEETING_MANAGE) else None
    to_acknowledge = unacknowledged_count(current_user) if can(current_user, Permission.ENCOMPASS_RECEIVE) else None
    return render_template(
        "home/index.html",
        roles=roles,
        break_glass_awaiting=awaiting,
        research=research,
        waiting_for_meeting=waiting,
        to_acknowledge=to_acknowledge,
        to_local=to_local,
    )
