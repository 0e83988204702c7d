"""School days and due times: weekends, each nation's bank holidays and a setting's term calendar (no database).

A notification is due at the start of the setting's first school day that begins after the incident. The day start
is local wall time in Europe/London, so it is 08:30+00:00 in winter and 08:30+01:00 in summer.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import cache
from zoneinfo import ZoneInfo

import holidays as holiday_data

LONDON = ZoneInfo("Europe/London")
DEFAULT_DAY_START = time(8, 30)
#: Days searched for a school day before giving up (a calendar that closes everything must not loop forever).
MAX_SEARCH_DAYS = 400
ONE_DAY = timedelta(days=1)


class Nation(StrEnum):
    """Which UK bank holidays a setting observes."""

    ENGLAND_WALES = "england-wales"
    SCOTLAND = "scotland"
    NORTHERN_IRELAND = "northern-ireland"


#: `holidays` subdivision of GB per nation; England and Wales share their bank holidays (WLS equals ENG).
SUBDIVISIONS = {Nation.ENGLAND_WALES: "ENG", Nation.SCOTLAND: "SCT", Nation.NORTHERN_IRELAND: "NIR"}


@cache
def bank_holidays(nation: Nation | str, year: int) -> frozenset[date]:
    """The nation's bank holidays in `year`, substitute days included (cached per nation and year)."""
    subdiv = SUBDIVISIONS[Nation(nation)]
    return frozenset(holiday_data.country_holidays("GB", subdiv=subdiv, years=year).keys())


@dataclass(frozen=True)
class Closures:
    """A setting's non-school days from its term calendar: holiday ranges (inclusive) and single training days."""

    #: (first day, last day) of each holiday, both inclusive; sorted and merged on construction.
    holidays: tuple[tuple[date, date], ...] = ()
    #: Training (INSET) days and other single closures.
    training_days: frozenset[date] = frozenset()
    _starts: tuple[date, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for start, end in self.holidays:
            if end < start:
                raise ValueError(f"holiday ends ({end.isoformat()}) before it starts ({start.isoformat()})")
        merged: list[tuple[date, date]] = []
        for start, end in sorted(self.holidays):
            if merged and start <= merged[-1][1] + ONE_DAY:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        # Frozen: normalise through object.__setattr__ so every Closures is sorted and merged, however it was built.
        object.__setattr__(self, "holidays", tuple(merged))
        object.__setattr__(self, "training_days", frozenset(self.training_days))
        object.__setattr__(self, "_starts", tuple(start for start, _ in merged))

    def closes(self, day: date) -> bool:
        """Whether the setting is closed on `day` for a holiday or a training day."""
        if day in self.training_days:
            return True
        index = bisect_right(self._starts, day) - 1
        return index >= 0 and day <= self.holidays[index][1]


def make_closures(holidays: Iterable[tuple[date, date]] = (), training_days: Iterable[date] = ()) -> Closures:
    """Closures from a term calendar's holiday ranges (inclusive start and end) and training days."""
    return Closures(holidays=tuple(holidays), training_days=frozenset(training_days))


def is_school_day(day: date, nation: Nation | str, closures: Closures | None = None) -> bool:
    """Monday to Friday, not a bank holiday of the nation and not closed by the setting's calendar."""
    if day.weekday() >= 5 or day in bank_holidays(nation, day.year):
        return False
    return closures is None or not closures.closes(day)


def next_school_day_start(
    at: datetime,
    nation: Nation | str,
    day_start: time = DEFAULT_DAY_START,
    closures: Closures | None = None,
) -> datetime:
    """The start (Europe/London) of the first school day whose start is strictly after `at` (an aware datetime)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("the incident time must include a time zone or UTC offset")
    if day_start.tzinfo is not None:
        raise ValueError("the day start is a local wall time and takes no time zone")
    nation = Nation(nation)
    # Compare instants in UTC: datetimes sharing a tzinfo compare by wall time, ignoring which side of a change.
    at_utc = at.astimezone(UTC)
    day = at_utc.astimezone(LONDON).date()
    try:
        for _ in range(MAX_SEARCH_DAYS):
            if is_school_day(day, nation, closures):
                start = datetime.combine(day, day_start, tzinfo=LONDON)
                if start.astimezone(UTC) > at_utc:
                    return start
            day += ONE_DAY
    except OverflowError:
        raise ValueError(f"no school day between {at.isoformat()} and the last date supported") from None
    raise ValueError(f"no school day within {MAX_SEARCH_DAYS} days of {at.isoformat()}")
