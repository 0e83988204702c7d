"""School-day due times: weekends, each nation's bank holidays, term calendars and the clock changes.

Named cases give hand-written expected due times. The full-year tests check every day of 2027 against an oracle
written differently from the implementation: it steps hour by hour in UTC and reads bank holidays straight from the
`holidays` package (Wales's list for england-wales).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import click
import holidays
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.cli import FlaskGroup
from hypothesis import given, settings
from hypothesis import strategies as st

from marac.encompass.calendar import (
    LONDON,
    Closures,
    Nation,
    bank_holidays,
    is_school_day,
    make_closures,
    next_school_day_start,
)
from marac.encompass.cli import encompass_group

EW, SC, NI = Nation.ENGLAND_WALES, Nation.SCOTLAND, Nation.NORTHERN_IRELAND
ALL = (EW, SC, NI)
#: The oracle reads Wales's list for england-wales, so it also checks that England's equals it.
ORACLE_SUBDIVISIONS = {EW: "WLS", SC: "SCT", NI: "NIR"}
#: A term calendar for 2026/27 and 2027/28 (holidays inclusive, and training days).
TERM_HOLIDAYS = (
    (date(2026, 12, 21), date(2027, 1, 1)),
    (date(2027, 2, 15), date(2027, 2, 19)),
    (date(2027, 3, 29), date(2027, 4, 9)),
    (date(2027, 5, 31), date(2027, 6, 4)),
    (date(2027, 7, 22), date(2027, 9, 1)),
    (date(2027, 10, 25), date(2027, 10, 29)),
    (date(2027, 12, 20), date(2028, 1, 3)),
)
TRAINING_DAYS = (date(2027, 1, 4), date(2027, 6, 7), date(2027, 9, 2), date(2027, 9, 3), date(2027, 11, 19))
#: Local times tried on every day of the year: midnight, the spring gap / autumn fold hour, around the day start.
#: Zones the property test draws incident times in.
ZONES = (UTC, LONDON, ZoneInfo("America/New_York"), timezone(timedelta(hours=5, minutes=30)))
TIMES = (time(0, 0), time(1, 30), time(7, 0), time(8, 29, 59), time(8, 30), time(8, 31), time(12, 0), time(23, 59))


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0) -> datetime:
    """An aware Europe/London wall time."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON, fold=fold)


def due(at: datetime, nation: Nation, day_start: time = time(8, 30), closures: Closures | None = None) -> str:
    """The due time as ISO 8601 with offset."""
    return next_school_day_start(at, nation, day_start, closures).isoformat()


def oracle_school_day(nation: Nation, closed: frozenset[date] = frozenset()) -> Callable[[date], bool]:
    """Weekdays that are not a bank holiday per the `holidays` package and not closed."""
    bank = holidays.country_holidays("GB", subdiv=ORACLE_SUBDIVISIONS[nation], years=range(2019, 2038))
    return lambda day: day.weekday() < 5 and day not in bank and day not in closed


def oracle_due(at: datetime, school_day: Callable[[date], bool], day_start: time) -> datetime:
    """The first day start after `at`, found by stepping whole UTC hours and reading each as London local time."""
    hour = at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    for _ in range(24 * 400):
        local = hour.astimezone(LONDON)
        if local.hour == day_start.hour and school_day(local.date()):
            candidate = hour + timedelta(minutes=day_start.minute)
            if candidate > at:
                return candidate
        hour += timedelta(hours=1)
    raise AssertionError(f"oracle found no school day after {at}")


def expand(ranges: tuple[tuple[date, date], ...], days: tuple[date, ...]) -> frozenset[date]:
    """Every date in the inclusive ranges, plus the single days."""
    closed = set(days)
    for start, end in ranges:
        closed.update(start + timedelta(days=n) for n in range((end - start).days + 1))
    return frozenset(closed)


# Full year, every nation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("with_term_calendar", [False, True], ids=["bank-holidays-only", "term-calendar"])
@pytest.mark.parametrize("nation", ALL)
def test_every_due_time_in_2027_matches_the_hourly_oracle(nation: Nation, with_term_calendar: bool) -> None:
    closures = make_closures(TERM_HOLIDAYS, TRAINING_DAYS) if with_term_calendar else None
    closed = expand(TERM_HOLIDAYS, TRAINING_DAYS) if with_term_calendar else frozenset()
    school_day = oracle_school_day(nation, closed)
    wrong = []
    day = date(2027, 1, 1)
    while day.year == 2027:
        for wall in TIMES:
            at = datetime.combine(day, wall, tzinfo=LONDON)
            got = next_school_day_start(at, nation, closures=closures)
            expected = oracle_due(at, school_day, time(8, 30))
            local = got.astimezone(LONDON)
            if got != expected or got.tzinfo is not LONDON or got.time() != time(8, 30) or local != got:
                wrong.append(f"{at.isoformat()}: got {got.isoformat()}, expected {expected.astimezone(LONDON)}")
            assert got > at
            assert school_day(got.date())
        day += timedelta(days=1)
    assert wrong == [], f"{len(wrong)} wrong, first: {wrong[:5]}"


@settings(max_examples=300, deadline=None)
@given(
    at=st.datetimes(
        # Hypothesis takes naive bounds and attaches the zones itself.
        min_value=datetime(2020, 1, 1),  # noqa: DTZ001
        max_value=datetime(2035, 12, 31),  # noqa: DTZ001
        timezones=st.sampled_from(ZONES),
        allow_imaginary=False,
    ),
    nation=st.sampled_from(ALL),
    day_start=st.times(min_value=time(6, 0), max_value=time(10, 59)).map(lambda t: t.replace(microsecond=0)),
)
def test_due_time_is_the_first_school_day_start_after_the_incident(
    at: datetime, nation: Nation, day_start: time
) -> None:
    got = next_school_day_start(at, nation, day_start)
    school_day = oracle_school_day(nation)
    assert got > at
    assert got.tzinfo is LONDON
    assert got.time() == day_start
    assert school_day(got.date())
    day = at.astimezone(LONDON).date()
    while day < got.date():
        if school_day(day):
            assert datetime.combine(day, day_start, tzinfo=LONDON).astimezone(UTC) <= at
        day += timedelta(days=1)


# Weekends and bank holidays --------------------------------------------------------------------------------------


@pytest.mark.parametrize("nation", ALL)
@pytest.mark.parametrize(
    "at",
    [
        london(2026, 11, 20, 23, 59),
        london(2026, 11, 21, 14, 0),
        london(2026, 11, 22, 0, 0),
        london(2026, 11, 22, 23, 59),
    ],
    ids=["friday-23:59", "saturday", "sunday-midnight", "sunday-23:59"],
)
def test_weekend_incident_is_due_monday_0830(nation: Nation, at: datetime) -> None:
    assert due(at, nation) == "2026-11-23T08:30:00+00:00"


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (london(2026, 11, 20, 8, 29), "2026-11-20T08:30:00+00:00"),
        (london(2026, 11, 20, 7, 0), "2026-11-20T08:30:00+00:00"),
        (london(2026, 11, 19, 16, 0), "2026-11-20T08:30:00+00:00"),
        (london(2026, 11, 16, 0, 0), "2026-11-16T08:30:00+00:00"),
    ],
    ids=["friday-08:29", "friday-07:00", "thursday-afternoon", "monday-midnight"],
)
def test_weekday_incident_is_due_that_morning_or_the_next(at: datetime, expected: str) -> None:
    assert due(at, EW) == expected


@pytest.mark.parametrize(
    ("case", "at", "expected"),
    [
        ("easter-2026", london(2026, 4, 5, 12), {EW: "2026-04-07", NI: "2026-04-07", SC: "2026-04-06"}),
        ("good-friday-2026", london(2026, 4, 2, 18), {EW: "2026-04-07", NI: "2026-04-07", SC: "2026-04-06"}),
        ("easter-2027", london(2027, 3, 27, 12), {EW: "2027-03-30", NI: "2027-03-30", SC: "2027-03-29"}),
        ("early-may-2026", london(2026, 5, 2, 12), {EW: "2026-05-05", NI: "2026-05-05", SC: "2026-05-05"}),
        ("late-may-2026", london(2026, 5, 23, 12), {EW: "2026-05-26", NI: "2026-05-26", SC: "2026-05-26"}),
        ("late-may-2027", london(2027, 5, 29, 12), {EW: "2027-06-01", NI: "2027-06-01", SC: "2027-06-01"}),
        ("last-monday-august-2026", london(2026, 8, 29, 12), {EW: "2026-09-01", NI: "2026-09-01", SC: "2026-08-31"}),
        ("first-monday-august-2026", london(2026, 8, 1, 12), {EW: "2026-08-03", NI: "2026-08-03", SC: "2026-08-04"}),
        ("last-monday-august-2027", london(2027, 8, 28, 12), {EW: "2027-08-31", NI: "2027-08-31", SC: "2027-08-30"}),
        ("first-monday-august-2027", london(2027, 7, 31, 12), {EW: "2027-08-02", NI: "2027-08-02", SC: "2027-08-03"}),
    ],
)
@pytest.mark.parametrize("nation", ALL)
def test_bank_holiday_monday_moves_the_due_day(nation: Nation, case: str, at: datetime, expected: dict) -> None:
    assert due(at, nation)[:10] == expected[nation]
    assert due(at, nation)[10:] == "T08:30:00+01:00"


@pytest.mark.parametrize(
    ("case", "at", "expected"),
    [
        # St Patrick's Day, Tuesday 17 March 2026 and Wednesday 17 March 2027: Northern Ireland only.
        ("st-patrick-2026", london(2026, 3, 16, 20), {EW: "2026-03-17", SC: "2026-03-17", NI: "2026-03-18"}),
        ("st-patrick-2027", london(2027, 3, 16, 20), {EW: "2027-03-17", SC: "2027-03-17", NI: "2027-03-18"}),
        # Battle of the Boyne: 12 July 2026 is a Sunday, so Monday 13 July is the substitute day (NI only).
        ("boyne-2026-substitute", london(2026, 7, 10, 18), {EW: "2026-07-13", SC: "2026-07-13", NI: "2026-07-14"}),
        ("boyne-2027-monday", london(2027, 7, 9, 18), {EW: "2027-07-12", SC: "2027-07-12", NI: "2027-07-13"}),
        # 2 January: Scotland only; Friday in 2026; a Saturday in 2027, so Monday 4 January is the substitute.
        ("2-january-2026", london(2026, 1, 1, 10), {EW: "2026-01-02", NI: "2026-01-02", SC: "2026-01-05"}),
        ("2-january-2027-substitute", london(2026, 12, 31, 18), {EW: "2027-01-04", NI: "2027-01-04", SC: "2027-01-05"}),
        # New Year 2028: 1 January a Saturday (Monday 3 substitute); Scotland's 2 January a Sunday (Tuesday 4).
        ("new-year-2028", london(2027, 12, 31, 18), {EW: "2028-01-04", NI: "2028-01-04", SC: "2028-01-05"}),
        # St Andrew's Day: Scotland only; Monday 30 November 2026, Tuesday 30 November 2027.
        ("st-andrew-2026", london(2026, 11, 28, 12), {EW: "2026-11-30", NI: "2026-11-30", SC: "2026-12-01"}),
        ("st-andrew-2027", london(2027, 11, 29, 20), {EW: "2027-11-30", NI: "2027-11-30", SC: "2027-12-01"}),
        # Christmas 2026: Friday 25, Saturday 26, so Monday 28 December is the substitute for Boxing Day.
        ("christmas-2026", london(2026, 12, 24, 18), {EW: "2026-12-29", NI: "2026-12-29", SC: "2026-12-29"}),
        # Christmas 2027: Saturday and Sunday, so Monday 27 and Tuesday 28 December are both substitutes.
        ("christmas-2027", london(2027, 12, 24, 18), {EW: "2027-12-29", NI: "2027-12-29", SC: "2027-12-29"}),
    ],
)
@pytest.mark.parametrize("nation", ALL)
def test_nation_only_and_substitute_holidays(nation: Nation, case: str, at: datetime, expected: dict) -> None:
    got = next_school_day_start(at, nation)
    assert got.date().isoformat() == expected[nation]
    assert got.time() == time(8, 30)


def test_england_and_wales_bank_holidays_2026() -> None:
    assert bank_holidays(EW, 2026) == {
        date(2026, 1, 1),
        date(2026, 4, 3),
        date(2026, 4, 6),
        date(2026, 5, 4),
        date(2026, 5, 25),
        date(2026, 8, 31),
        date(2026, 12, 25),
        date(2026, 12, 26),
        date(2026, 12, 28),
    }


def test_northern_ireland_bank_holidays_2027() -> None:
    assert bank_holidays(NI, 2027) == {
        date(2027, 1, 1),
        date(2027, 3, 17),
        date(2027, 3, 26),
        date(2027, 3, 29),
        date(2027, 5, 3),
        date(2027, 5, 31),
        date(2027, 7, 12),
        date(2027, 8, 30),
        date(2027, 12, 25),
        date(2027, 12, 26),
        date(2027, 12, 27),
        date(2027, 12, 28),
    }


def test_scotland_has_its_own_bank_holidays() -> None:
    scotland = bank_holidays(SC, 2027)
    assert {date(2027, 1, 2), date(2027, 1, 4), date(2027, 8, 2), date(2027, 11, 30)} <= scotland
    assert date(2027, 3, 29) not in scotland  # Easter Monday
    assert date(2027, 8, 30) not in scotland  # the last Monday of August


@pytest.mark.parametrize("year", range(2018, 2036))
def test_wales_shares_englands_bank_holidays(year: int) -> None:
    wales = holidays.country_holidays("GB", subdiv="WLS", years=year)
    assert bank_holidays(EW, year) == frozenset(wales)


def test_bank_holidays_are_cached_per_nation_and_year() -> None:
    assert bank_holidays(SC, 2027) is bank_holidays("scotland", 2027)
    assert bank_holidays(SC, 2027) is not bank_holidays(SC, 2026)


def test_is_school_day() -> None:
    assert is_school_day(date(2026, 11, 20), EW)
    assert not is_school_day(date(2026, 11, 21), EW)  # Saturday
    assert not is_school_day(date(2026, 11, 22), EW)  # Sunday
    assert not is_school_day(date(2026, 12, 28), EW)  # Boxing Day substitute
    assert is_school_day(date(2026, 3, 17), EW)
    assert not is_school_day(date(2026, 3, 17), NI)  # St Patrick's Day
    assert not is_school_day(date(2026, 11, 20), EW, make_closures(training_days=[date(2026, 11, 20)]))


def test_unknown_nation_is_refused() -> None:
    with pytest.raises(ValueError, match="wales"):
        next_school_day_start(london(2026, 11, 20, 12), "wales")


# Term calendars --------------------------------------------------------------------------------------------------

HALF_TERM = make_closures([(date(2026, 10, 26), date(2026, 10, 30))])


def test_incident_the_friday_before_half_term_is_due_the_monday_after() -> None:
    # Also crosses the end of British Summer Time (25 October 2026): due at 08:30 GMT.
    assert due(london(2026, 10, 23, 16), EW, closures=HALF_TERM) == "2026-11-02T08:30:00+00:00"


def test_incident_during_half_term_is_due_the_monday_after() -> None:
    assert due(london(2026, 10, 28, 9), EW, closures=HALF_TERM) == "2026-11-02T08:30:00+00:00"


def test_half_term_given_weekend_to_weekend_is_the_same() -> None:
    closures = make_closures([(date(2026, 10, 24), date(2026, 11, 1))])
    assert due(london(2026, 10, 23, 16), EW, closures=closures) == "2026-11-02T08:30:00+00:00"


def test_half_term_does_not_move_the_day_before_it() -> None:
    assert due(london(2026, 10, 22, 18), EW, closures=HALF_TERM) == "2026-10-23T08:30:00+01:00"


def test_inset_monday_is_due_tuesday() -> None:
    closures = make_closures(training_days=[date(2026, 11, 2)])
    assert due(london(2026, 10, 31, 12), EW, closures=closures) == "2026-11-03T08:30:00+00:00"


def test_christmas_holiday_then_inset_day() -> None:
    closures = make_closures([(date(2026, 12, 21), date(2027, 1, 1))], [date(2027, 1, 4)])
    assert due(london(2026, 12, 18, 10), EW, closures=closures) == "2027-01-05T08:30:00+00:00"


def test_scottish_october_week() -> None:
    closures = make_closures([(date(2026, 10, 12), date(2026, 10, 16))])
    assert due(london(2026, 10, 9, 17), SC, closures=closures) == "2026-10-19T08:30:00+01:00"


def test_closures_are_sorted_and_merged() -> None:
    closures = make_closures([(date(2027, 2, 17), date(2027, 2, 26)), (date(2027, 2, 15), date(2027, 2, 19))])
    assert closures.holidays == ((date(2027, 2, 15), date(2027, 2, 26)),)
    assert closures == Closures(holidays=((date(2027, 2, 15), date(2027, 2, 26)),))
    assert [closures.closes(date(2027, 2, d)) for d in (14, 15, 20, 26, 27)] == [False, True, True, True, False]


def test_holiday_ending_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        make_closures([(date(2027, 2, 19), date(2027, 2, 15))])


def test_calendar_closing_everything_raises_instead_of_looping() -> None:
    closures = make_closures([(date(2026, 1, 1), date(2029, 12, 31))])
    with pytest.raises(ValueError, match="no school day within 400 days"):
        next_school_day_start(london(2026, 11, 20, 12), EW, closures=closures)


# Clock changes ---------------------------------------------------------------------------------------------------


def test_saturday_before_summer_time_begins_is_due_monday_in_bst() -> None:
    # BST began at 01:00 GMT on Sunday 29 March 2026.
    assert due(london(2026, 3, 28, 10), EW) == "2026-03-30T08:30:00+01:00"


def test_saturday_before_summer_time_ends_is_due_monday_in_gmt() -> None:
    # BST ended at 02:00 BST on Sunday 25 October 2026.
    assert due(london(2026, 10, 24, 10), EW) == "2026-10-26T08:30:00+00:00"


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 29, 0, 59, 59, tzinfo=UTC),  # 00:59:59 GMT, just before the clocks go forward
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 02:30 BST: 01:30 London time never happened that night
    ],
    ids=["before-the-change", "after-the-change"],
)
def test_incident_the_night_summer_time_begins(at: datetime) -> None:
    assert due(at, NI) == "2026-03-30T08:30:00+01:00"


@pytest.mark.parametrize("fold", [0, 1], ids=["01:30-bst", "01:30-gmt"])
def test_incident_at_0130_the_night_summer_time_ends(fold: int) -> None:
    at = london(2026, 10, 25, 1, 30, fold=fold)
    assert at.utcoffset() == timedelta(hours=1 - fold)  # the same wall time, two instants an hour apart
    assert due(at, SC) == "2026-10-26T08:30:00+00:00"


def test_day_start_is_local_wall_time_either_side_of_the_change() -> None:
    assert due(datetime(2026, 3, 27, 8, 29, tzinfo=UTC), EW) == "2026-03-27T08:30:00+00:00"
    assert due(datetime(2026, 3, 30, 7, 29, tzinfo=UTC), EW) == "2026-03-30T08:30:00+01:00"
    # 07:30 UTC on 30 March is 08:30 BST: the start itself, so the next day.
    assert due(datetime(2026, 3, 30, 7, 30, tzinfo=UTC), EW) == "2026-03-31T08:30:00+01:00"


def test_incident_in_another_time_zone_is_compared_as_an_instant() -> None:
    new_york = ZoneInfo("America/New_York")
    assert due(datetime(2026, 6, 10, 3, 0, tzinfo=new_york), EW) == "2026-06-10T08:30:00+01:00"  # 08:00 BST
    assert due(datetime(2026, 6, 10, 3, 30, tzinfo=new_york), EW) == "2026-06-11T08:30:00+01:00"  # 08:30 BST


# Day start -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "day_start", "expected"),
    [
        (london(2026, 6, 10, 8, 40), time(8, 45), "2026-06-10T08:45:00+01:00"),
        (london(2026, 6, 10, 8, 45), time(8, 45), "2026-06-11T08:45:00+01:00"),
        (london(2026, 1, 14, 7, 49), time(7, 50), "2026-01-14T07:50:00+00:00"),
        (london(2026, 1, 14, 7, 50), time(7, 50), "2026-01-15T07:50:00+00:00"),
        (london(2026, 1, 17, 7, 0), time(7, 50), "2026-01-19T07:50:00+00:00"),
        (london(2026, 1, 14, 8, 30), time(8, 30), "2026-01-15T08:30:00+00:00"),
        (datetime(2026, 1, 14, 8, 29, 59, 999999, tzinfo=LONDON), time(8, 30), "2026-01-14T08:30:00+00:00"),
    ],
    ids=[
        "08:45-before",
        "08:45-exactly",
        "07:50-before",
        "07:50-exactly",
        "07:50-saturday",
        "08:30-exactly",
        "08:30-a-microsecond-before",
    ],
)
def test_day_start(at: datetime, day_start: time, expected: str) -> None:
    assert due(at, EW, day_start=day_start) == expected


def test_naive_incident_time_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        next_school_day_start(datetime(2026, 11, 20, 12, 0), EW)  # noqa: DTZ001 - naive on purpose


def test_day_start_with_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="local wall time"):
        next_school_day_start(london(2026, 11, 20, 12), EW, time(8, 30, tzinfo=UTC))


# The command -----------------------------------------------------------------------------------------------------


def run(*args: str) -> click.testing.Result:
    """Invoke `encompass next-school-day`."""
    return CliRunner().invoke(encompass_group, ["next-school-day", *args])


def test_command_prints_the_due_time_with_offset() -> None:
    result = run("--nation", "england-wales", "--at", "2026-12-24T18:00")
    assert result.exit_code == 0, result.output
    assert result.output == "2026-12-29T08:30:00+00:00\n"


def test_command_takes_an_offset_and_a_day_start() -> None:
    result = run("--nation", "northern-ireland", "--at", "2026-07-10T17:00:00+00:00", "--day-start", "08:45")
    assert result.exit_code == 0, result.output
    assert result.output == "2026-07-14T08:45:00+01:00\n"


def test_command_reads_a_time_without_offset_as_london_time() -> None:
    # 08:15 London time is before the 08:30 start; read as UTC it would be 09:15 BST, after it.
    result = run("--nation", "scotland", "--at", "2026-06-10T08:15")
    assert result.output == "2026-06-10T08:30:00+01:00\n"
    assert "Europe/London" in run("--help").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--nation", "wales", "--at", "2026-12-24T18:00"], "Invalid value for '--nation'"),
        (["--nation", "scotland", "--at", "yesterday"], "Invalid value for '--at'"),
        (["--nation", "scotland", "--at", "2026-13-40T18:00"], "Invalid value for '--at'"),
        (
            ["--nation", "scotland", "--at", "2026-12-24T18:00", "--day-start", "25:00"],
            "Invalid value for '--day-start'",
        ),
        (
            ["--nation", "scotland", "--at", "2026-12-24T18:00", "--day-start", "8.30"],
            "Invalid value for '--day-start'",
        ),
        (["--nation", "scotland", "--at", "9999-12-31T18:00"], "Invalid value for '--at'"),
        (["--nation", "scotland"], "Missing option '--at'"),
    ],
    ids=["nation", "datetime", "impossible-date", "hour", "separator", "end-of-calendar", "missing"],
)
def test_command_bad_input_is_a_usage_error(args: list[str], message: str) -> None:
    result = CliRunner().invoke(encompass_group, ["next-school-day", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_command_needs_no_application(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)  # FlaskGroup sets it; restored after the test

    def no_app() -> Flask:
        raise AssertionError("the command must not build the application")

    group = FlaskGroup(create_app=no_app, load_dotenv=False)
    group.add_command(encompass_group)
    result = CliRunner().invoke(group, ["encompass", "next-school-day", "--nation", "scotland", "--at", "2026-03-28"])
    assert result.exit_code == 0, result.output
    assert result.output == "2026-03-30T08:30:00+01:00\n"
