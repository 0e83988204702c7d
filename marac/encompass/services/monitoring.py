"""Delivery figures for police and local-authority leads: how many notifications arrived on time, late or not at
all, were acknowledged or escalated, by setting (a page at a time) and by day; and how many notifications a MARAC
case's Operation Encompass page lists. Counts only: nothing here names a child.

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
from marac.access import Permission, can, disclosed_parts
from marac.db import LONDON, UTCDateTime
from marac.encompass.models import EducationSetting, EncompassChild, EncompassNotification, Route
from marac.encompass.services.receiving import LATE_SENT_GRACE, household_of
from marac.orgs.models import Agency
from marac.people.models import Person

#: The longest range of days the page shows.
MAX_DAYS = 92
#: The default range: the last seven days, today included.
DEFAULT_DAYS = 7
#: Settings shown on one page of the by-setting table (an authority has hundreds).
PER_PAGE = 50
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
    by_setting: list[Counts] = field(default_factory=list)  # one page of them
    by_day: list[tuple[date, Counts]] = field(default_factory=list)
    page: int = 1
    per_page: int = PER_PAGE
    settings_total: int = 0  # settings (and unknown or home-education groups) on every page

    @property
    def pages(self) -> int:
        """How many pages of settings there are (at least one)."""
        return max(1, -(-self.settings_total // self.per_page))

    @property
    def page_numbers(self) -> list[int | None]:
        """The page links GOV.UK pagination shows: first, last, this page and its neighbours; None for a gap."""
        wanted = sorted(
            {1, self.pages, *(p for p in (self.page - 1, self.page, self.page + 1) if 1 <= p <= self.pages)}
        )
        shown: list[int | None] = []
        for number in wanted:
            if shown and number - (shown[-1] or 0) > 1:
                shown.append(None)
            shown.append(number)
        return shown

    @property
    def first_shown(self) -> int:
        """The position of the first setting on this page (1-based)."""
        return (self.page - 1) * self.per_page + 1


def _scope(authority_ids: set[int] | None, start: date, end: date) -> list[Any]:
    n = EncompassNotification
    clauses = [n.due_at >= _day_start(start), n.due_at < _day_start(end + timedelta(days=1))]
    if authority_ids is not None:
        clauses.append(n.local_authority_id.in_(authority_ids))
    return clauses


def _counts(label: str, row: Any) -> Counts:
    return Counts(label=label, total=int(row.total or 0), values={k: int(getattr(row, k) or 0) for k in MEASURES})


def _setting_label(route: Any, setting_name: Any, authority_name: Any) -> Any:
    """SQL: the setting's name, or which authority's home-educated or setting-unknown children the row counts."""
    authority = func.coalesce(authority_name, literal("local authority"))
    return case(
        (setting_name.is_not(None), setting_name),
        (route == Route.HOME_EDUCATION.value, literal("Elective home education (") + authority + literal(")")),
        else_=literal("Setting unknown (") + authority + literal(")"),
    )


def parse_page(raw: str | None) -> int:
    """The by-setting page asked for: 1 unless it is a whole number from 1 ("0", "-1" and "abc" show the first
    page; a number past the last page is refused by `delivery_figures`)."""
    raw = (raw or "").strip()
    if not raw.isascii() or not raw.isdigit() or int(raw[:12]) < 1:
        return 1
    return int(raw) if len(raw) <= 12 else 10**12  # longer is past any last page: never parse a huge number


class PageNotFound(LookupError):
    """A page of settings past the last one."""


def _settings_page(measures: list[Any], where: list[Any], page: int, per_page: int) -> tuple[list[Counts], int]:
    """One page of the by-setting figures, most problems (late, unresolved, not acknowledged) first, and how many
    settings there are in all: one query, ordered and cut by the database."""
    n = EncompassNotification
    grouped = (
        select(
            n.setting_id,
            n.route,
            _setting_label(n.route, EducationSetting.name, Agency.name).label("label"),
            func.count(n.id).label("total"),
            *measures,
        )
        .outerjoin(EducationSetting, EducationSetting.id == n.setting_id)
        .outerjoin(Agency, Agency.id == n.local_authority_id)
        .where(*where)
        .group_by(n.setting_id, n.route, EducationSetting.name, Agency.name)
        .subquery()
    )
    g = grouped.c
    rows = db.session.execute(
        select(grouped, func.count().over().label("settings"))
        .order_by((g.late + g.unresolved + g.unacknowledged).desc(), g.total.desc(), g.label, g.setting_id, g.route)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    if not rows and page > 1:
        raise PageNotFound(page)
    return [_counts(str(r.label), r) for r in rows], int(rows[0].settings) if rows else 0


def delivery_figures(
    authority_ids: set[int] | None, start: date, end: date, page: int = 1, per_page: int | None = None
) -> Figures:
    """The figures for notifications due from `start` to `end` (local days) in these local authorities (None:
    all of them), with one page of settings (`PER_PAGE` a page). PageNotFound past the last page."""
    n = EncompassNotification
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    now = db.utcnow()
    measures = list(_measures(days, now).values())
    where = _scope(authority_ids, start, end)
    per_page = per_page or PER_PAGE
    by_setting, settings_total = _settings_page(measures, where, page, per_page)
    totals = db.session.execute(select(func.count(n.id).label("total"), *measures).where(*where)).one()
    day_rows = db.session.execute(
        select(_day_index(days).label("day_no"), func.count(n.id).label("total"), *measures)
        .where(*where)
        .group_by(literal_column("day_no"))  # by the alias: PostgreSQL sees two CASEs with parameters as different
    ).all()
    found = {int(r.day_no): _counts(days[int(r.day_no)].isoformat(), r) for r in day_rows if int(r.day_no) >= 0}
    empty = dict.fromkeys(MEASURES, 0)
    by_day = [(day, found.get(i) or Counts(day.isoformat(), 0, dict(empty))) for i, day in enumerate(days)]
    return Figures(
        start=start,
        end=end,
        totals=_counts("All", totals),
        by_setting=by_setting,
        by_day=by_day,
        page=page,
        per_page=per_page,
        settings_total=settings_total,
    )


# --- the count on a MARAC case page --------------------------------------------------------------------------------


def children_withheld(parts: frozenset[str] | None) -> bool:
    """Whether the user sees the case only through a disclosure that did not include the household (its children,
    and so their notifications)."""
    return parts is not None and "household" not in parts


def case_notification_count(actor: Any, view: Any) -> int:
    """How many notifications the case's Operation Encompass page lists for the actor (one count query): 0 when
    they may not see that page. `view`: the case as the actor may see it (`load_case_for`)."""
    if not can(actor, Permission.CASE_READ):
        return 0
    if children_withheld(disclosed_parts(actor, view.relations, [view.case.id])):
        return 0
    keys = sorted({pv.person.identity_key for pv in household_of(view)})
    if not keys:
        return 0
    query = (
        select(func.count(EncompassNotification.id))
        .join(EncompassChild, EncompassChild.id == EncompassNotification.child_id)
        .join(Person, Person.id == EncompassChild.person_id)
        .where(Person.identity_key.in_(keys))
    )
    return int(db.session.scalar(query) or 0)
