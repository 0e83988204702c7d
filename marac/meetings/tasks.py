"""Meeting jobs: keep each area's next three months of meetings scheduled from its pattern (the scheduler runs it
daily from issue 6; `marac meetings generate` runs it by hand). Safe to run again: it only adds what is missing."""

from __future__ import annotations

from sqlalchemy import select

from marac import db
from marac.meetings.services import generate_meetings
from marac.orgs.models import Area


def generate_upcoming_meetings() -> int:
    """Schedule every active area's missing meetings up to the horizon; one commit per area. Returns how many."""
    made = 0
    area_ids = list(db.session.scalars(select(Area.id).where(Area.is_active.is_(True)).order_by(Area.name)))
    for area_id in area_ids:
        area = db.session.get(Area, area_id)
        if area is None:
            continue
        made += len(generate_meetings(area, today=db.london_today()))
        db.session.commit()
    return made
