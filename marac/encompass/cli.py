"""`marac encompass`: check a due time from the command line (weekends and bank holidays only, no database)."""

from __future__ import annotations

import re
from datetime import datetime, time

import click

from marac.encompass.calendar import DEFAULT_DAY_START, LONDON, Nation, next_school_day_start

HH_MM = re.compile(r"(\d{1,2}):(\d{2})")


class IncidentTime(click.ParamType):
    """An ISO 8601 date and time; without an offset it is read as Europe/London local time."""

    name = "ISO-DATETIME"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        """Parse the value, or fail with a usage error (exit code 2)."""
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not an ISO 8601 date and time, e.g. 2026-12-24T18:00 or 2026-12-24T18:00Z")
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=LONDON)


class DayStart(click.ParamType):
    """A 24-hour local time of day as HH:MM."""

    name = "HH:MM"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> time:
        """Parse the value, or fail with a usage error (exit code 2)."""
        if isinstance(value, time):
            return value
        match = HH_MM.fullmatch(str(value).strip())
        if match is None or int(match[1]) > 23 or int(match[2]) > 59:
            self.fail(f"{value!r} is not a time of day as HH:MM (24-hour), e.g. 08:30")
        return time(int(match[1]), int(match[2]))


# A plain click group (not a Flask AppGroup): the command needs neither the database nor the app's settings.
encompass_group = click.Group("encompass", help="Operation Encompass: school-day due times.")


@encompass_group.command("next-school-day")
@click.option(
    "--nation",
    required=True,
    type=click.Choice([nation.value for nation in Nation]),
    help="Whose bank holidays apply.",
)
@click.option(
    "--at",
    "at",
    required=True,
    type=IncidentTime(),
    help="The incident time, ISO 8601; without an offset it is read as Europe/London local time.",
)
@click.option(
    "--day-start",
    type=DayStart(),
    default=DEFAULT_DAY_START.strftime("%H:%M"),
    show_default=True,
    help="The setting's day start, Europe/London local time.",
)
def next_school_day(nation: str, at: datetime, day_start: time) -> None:
    """Print when a notification is due: the start of the first school day after --at, as ISO 8601 with offset.

    Counts weekends and the nation's bank holidays only, not a setting's term holidays or training days.
    """
    try:
        due = next_school_day_start(at, Nation(nation), day_start)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--at'") from exc
    click.echo(due.isoformat())
