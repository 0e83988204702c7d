"""Delivery figures for police and local-authority leads: how many notifications arrived on time, late or not at
all, were acknowledged or escalated, by setting and by day. Counts only: nothing here names a child.

Every figure is one aggregate query (GROUP BY). Days are Europe/London days: their UTC bounds are worked out here
and turned into a CASE expression, so the same SQL runs on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, func, literal, literal_column, or_, select

from marac import db
from marac.db import LONDON, UTCDateTime
from marac.encompass.models import EducationSetting, EncompassNotification, Route
from marac.encompass.services.receiving import LATE_SENT_GRACE
from marac.orgs.models import Agency

#: The longest range of days the page shows.
MAX_DAYS = 92
#: The default range: the last seven days, today included.
DEFAULT_DAYS = 7
#: The figures, in the order shown, with their labels.
MEASURES = {
    "on_time": "Sent on time",
    "late": "Sent late",
    "unresolved": "Setting unknown (not sent)",
    "acknowledged": "Acknowledged",
    "unacknowledged": "Not acknowledged by the acknowledge-by time",
    "escalated": "Escalated",
}


#: A day as the page's query string writes it.
DAY_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


class RangeError(ValueError):
    """A date range the page cannot show; the message says why, for the user."""


def parse_range(raw_from: str | None, raw_to: str | None, today: date) -> tuple[date, date]:
    """The first and last day asked for (YYYY-MM-DD; the last seven days by default), at most MAX_DAYS long."""
    end = _parse_day(raw_to, today, "to")
    start = _parse_day(raw_from, end - timedelta(days=DEFAULT_DAYS - 1), "from")
    if start > end:
        raise RangeError("The start date must be on or before the end date")
    if (end - start).days + 1 > MAX_DAYS:
        raise RangeError(f"Choose a range of {MAX_DAYS} days or fewer")
    return start, end


def _parse_day(raw: str | None, default: date, which: str) -> date:
    if not raw:
        return default
    message = f"Enter the {which} date as a real date like 2026-11-25"
    if not DAY_PATTERN.fullmatch(raw.strip()):
        raise RangeError(message)
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise RangeError(message) from None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def _acknowledge_by(day: date) -> datetime:
    at: Any = current_app.config["MARAC_ENCOMPASS_ACKNOWLEDGE_BY"]
    return datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC)


def _utc(value: datetime) -> Any:
    """A timestamp as SQL, stored the way the columns store theirs."""
    return literal(value, UTCDateTime())


def _day_index(days: list[date]) -> Any:
    """SQL: which of `days` (local) a notification is due on, by the days' UTC bounds."""
    n = EncompassNotification
    return case(*[(n.due_at < _day_start(day + timedelta(days=1)), i) for i, day in enumerate(days)], else_=-1)


def _measures(days: list[date], now: datetime) -> dict[str, Any]:
    """SQL sums for each figure."""
    n = EncompassNotification
    ack_by = case(
        *[(n.due_at < _day_start(day + timedelta(days=1)), _utc(_acknowledge_by(day))) for day in days],
        else_=_utc(_acknowledge_by(days[-1])),
    )
    past_deadline = or_(
        and_(n.sent_at <= ack_by, ack_by <= now),
        and_(n.sent_at > ack_by, n.sent_at <= now - LATE_SENT_GRACE),
    )
    conditions = {
        "on_time": and_(n.sent_at.is_not(None), n.is_late.is_(False)),
        "late": and_(n.sent_at.is_not(None), n.is_late.is_(True)),
        "unresolved": n.route == Route.UNRESOLVED.value,
        "acknowledged": n.acknowledged_at.is_not(None),
        "unacknowledged": and_(n.sent_at.is_not(None), n.acknowledged_at.is_(None), past_deadline),
        "escalated": n.escalation_level > 0,
    }
    return {name: func.coalesce(func.sum(case((cond, 1), else_=0)), 0).label(name) for name, cond in conditions.items()}


@dataclass
class Counts:
    """The figures for one group of notifications."""

    label: str
    total: int
    values: dict[str, int]

    def rate(self, name: str) -> str:
        """A figure as a percentage of the total."""
        return f"{100 * self.values[name] / self.total:.0f}%" if self.total else "-"

    @property
    def problems(self) -> int:
        """How many went wrong (late, unresolved or not acknowledged in time): worst settings first."""
        return self.values["late"] + self.values["unresolved"] + self.values["unacknowledged"]


@dataclass
class Figures:
    """Everything the monitoring page shows."""

    start: date
    end: date
    totals: Counts
    by_setting: list[Counts] = field(default_factory=list)
    by_day: list[tuple[date, Counts]] = field(default_factory=list)


def _scope(authority_ids: set[int] | None, start: date, end: date) -> list[Any]:
    n = EncompassNotification
    clauses = [n.due_at >= _day_start(start), n.due_at < _day_start(end + timedelta(days=1))]
    if authority_ids is not None:
        clauses.append(n.local_authority_id.in_(authority_ids))
    return clauses


def _counts(label: str, row: Any) -> Counts:
    return Counts(label=label, total=int(row.total or 0), values={k: int(getattr(row, k) or 0) for k in MEASURES})


def _setting_label(row: Any) -> str:
    if row.setting_name:
        return str(row.setting_name)
    if row.route == Route.HOME_EDUCATION.value:
        return f"Elective home education ({row.authority_name or 'local authority'})"
    return f"Setting unknown ({row.authority_name or 'local authority'})"


def delivery_figures(authority_ids: set[int] | None, start: date, end: date) -> Figures:
    """The figures for notifications due from `start` to `end` (local days) in these local authorities (None:
    all of them)."""
    n = EncompassNotification
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    now = db.utcnow()
    measures = list(_measures(days, now).values())
    where = _scope(authority_ids, start, end)
    totals = db.session.execute(select(func.count(n.id).label("total"), *measures).where(*where)).one()
    setting_rows = db.session.execute(
        select(
            n.setting_id,
            n.route,
            EducationSetting.name.label("setting_name"),
            Agency.name.label("authority_name"),
            func.count(n.id).label("total"),
            *measures,
        )
        .outerjoin(EducationSetting, EducationSetting.id == n.setting_id)
        .outerjoin(Agency, Agency.id == n.local_authority_id)
        .where(*where)
        .group_by(n.setting_id, n.route, EducationSetting.name, Agency.name)
    ).all()
    by_setting = sorted(
        (_counts(_setting_label(r), r) for r in setting_rows), key=lambda c: (-c.problems, -c.total, c.label)
    )
    day_rows = db.session.execute(
        select(_day_index(days).label("day_no"), func.count(n.id).label("total"), *measures)
        .where(*where)
        .group_by(literal_column("day_no"))  # by the alias: PostgreSQL sees two CASEs with parameters as different
    ).all()
    found = {int(r.day_no): _counts(days[int(r.day_no)].isoformat(), r) for r in day_rows if int(r.day_no) >= 0}
    empty = dict.fromkeys(MEASURES, 0)
    by_day = [(day, found.get(i) or Counts(day.isoformat(), 0, dict(empty))) for i, day in enumerate(days)]
    return Figures(start=start, end=end, totals=_counts("All", totals), by_setting=by_setting, by_day=by_day)
