"""`marac encompass next-school-day` is part of the real `marac` command and needs no app or database."""

from __future__ import annotations

from click.testing import CliRunner

from marac.cli import cli


def test_marac_encompass_next_school_day_runs_from_the_real_command() -> None:
    result = CliRunner().invoke(
        cli, ["encompass", "next-school-day", "--nation", "england-wales", "--at", "2026-12-24T16:00:00+00:00"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "2026-12-29T08:30:00+00:00"  # Christmas, then Boxing Day's substitute Monday
