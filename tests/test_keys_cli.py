"""`marac keys`: rotate with progress, status of every key version, and a new master key."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from marac import db
from marac.cli import cli
from marac.crypto import DataKey, parse_master_key
from marac.people.models import Person, PersonKind
from marac.people.services import PersonDetails, record_person
from marac.rotation import rotate_keys


def run(app: Flask, *args: str) -> Any:
    """Invoke a `marac` command as an operator would."""
    return app.test_cli_runner().invoke(args=list(args))


def seed_people(app: Flask, count: int) -> list[str]:
    """Commit `count` persons with a name and an email each; their public ids."""
    with app.app_context():
        people = [
            record_person(
                None,
                PersonKind.VICTIM,
                PersonDetails(given_name=f"Quinn{i}", family_name="Marsh", email=f"quinn.{i}@example.org"),
            )
            for i in range(count)
        ]
        db.session.commit()
        return [p.public_id for p in people]


def key_statuses(app: Flask, purpose: str) -> dict[int, str]:
    """{version: status} as committed."""
    with app.app_context():
        return {k.version: k.status for k in db.session.scalars(select(DataKey).where(DataKey.purpose == purpose))}


def emails(app: Flask, public_ids: list[str]) -> list[str]:
    """The persons' emails, read back through a fresh app context (and keyring reload)."""
    with app.app_context():
        return [str(db.session.scalars(select(Person).where(Person.public_id == p)).one().email) for p in public_ids]


def test_keys_rotate_shows_progress_and_the_rate_and_moves_to_a_new_key(committed_app: Flask) -> None:
    people = seed_people(committed_app, 5)

    result = run(committed_app, "keys", "rotate", "--batch-size", "2")

    assert result.exit_code == 0, result.output
    assert "rotating the field key" in result.output
    assert "field key now v2: 15 fields" in result.output
    assert result.output.rstrip().endswith("fields/s")
    assert key_statuses(committed_app, "field") == {1: "retired", 2: "active"}
    assert emails(committed_app, people) == [f"quinn.{i}@example.org" for i in range(5)]


def test_keys_rotate_index_rebuilds_the_terms_under_a_new_index_key(committed_app: Flask) -> None:
    seed_people(committed_app, 3)

    result = run(committed_app, "keys", "rotate", "--index")

    assert result.exit_code == 0, result.output
    assert "rotating the index key" in result.output
    assert "index key now v2:" in result.output
    assert "index terms/s" in result.output
    assert key_statuses(committed_app, "index") == {1: "retired", 2: "active"}
    assert key_statuses(committed_app, "field") == {1: "active"}


def test_keys_rotate_refuses_a_batch_size_below_one(committed_app: Flask) -> None:
    result = run(committed_app, "keys", "rotate", "--batch-size", "0")

    assert result.exit_code == 2
    assert key_statuses(committed_app, "field") == {1: "active"}


def test_keys_status_lists_every_version_and_the_unfinished_rotation_until_it_is_resumed(
    committed_app: Flask,
) -> None:
    people = seed_people(committed_app, 5)

    def stop(_done: int, _total: int) -> None:
        raise KeyboardInterrupt

    with committed_app.app_context(), pytest.raises(KeyboardInterrupt):
        rotate_keys(db.session, "field", batch_size=2, on_progress=stop)

    during = run(committed_app, "keys", "status")
    resumed = run(committed_app, "keys", "rotate", "--batch-size", "2")
    after = run(committed_app, "keys", "status")

    assert (during.exit_code, resumed.exit_code, after.exit_code) == (0, 0, 0), during.output + resumed.output
    lines = during.output.splitlines()
    assert [line.split()[:3] for line in lines[:3]] == [
        ["field", "v1", "previous"],
        ["field", "v2", "active"],
        ["index", "v1", "active"],
    ]
    assert lines[3].startswith("unfinished field rotation to v2, started ")
    assert ": 6 done (persons up to row 2); `marac keys rotate` resumes it" in lines[3]
    assert "field key now v2: 15 fields" in resumed.output  # the 6 done before are not done again
    assert [line.split()[:3] for line in after.output.splitlines()] == [
        ["field", "v1", "retired"],
        ["field", "v2", "active"],
        ["index", "v1", "active"],
    ]
    assert ", retired " in after.output.splitlines()[0]
    assert emails(committed_app, people) == [f"quinn.{i}@example.org" for i in range(5)]


def test_keys_generate_master_prints_a_key_the_settings_accept(committed_app: Flask) -> None:
    first, second = run(committed_app, "keys", "generate-master"), run(committed_app, "keys", "generate-master")

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert len(parse_master_key(first.stdout.strip())) == 32
    assert first.stdout != second.stdout
    assert "MARAC_MASTER_KEY" in first.stderr
    assert "MARAC_MASTER_KEY" not in first.stdout  # so KEY=$(marac keys generate-master) captures only the key


def test_keys_generate_master_works_before_there_is_a_master_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The production settings refuse to start without MARAC_MASTER_KEY, and the error says to run this command."""
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")  # restored afterwards: the Flask group sets it
    monkeypatch.chdir(tmp_path)
    unset = dict.fromkeys(("MARAC_MASTER_KEY", "MARAC_SECRET_KEY", "MARAC_AUDIT_KEY", "MARAC_DATABASE_URL"))

    result = CliRunner().invoke(cli, ["keys", "generate-master"], env={"MARAC_ENV": "production", **unset})

    assert result.exit_code == 0, result.output
    assert len(parse_master_key(result.stdout.strip())) == 32
    assert list(tmp_path.iterdir()) == []  # no app was built: no instance folder, no database
