"""Sending dead letters again (service and `marac outbox requeue`), and the file backend's clean-up of temporary
files left by a crash mid-write."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.notify import backends
from marac.notify.admin import NotDeadLetter, requeue_dead_letters, requeue_message
from marac.notify.backends import STALE_TEMPORARY_SECONDS, FileBackend, PermanentFailure, key_digest
from marac.notify.models import OutboxMessage
from marac.notify.relay import relay_once
from marac.notify.services import queue_message
from tests.conftest import FakeClock
from tests.factories import make_user
from tests.notify.servers import reload

REFUSED = "SMTP 550 recipient refused: 5.1.1 mailbox full"


class RefusingBackend:
    """Refuses every address for good."""

    already_delivered = 0

    def send(self, message: OutboxMessage) -> str:
        raise PermanentFailure(REFUSED)

    def close(self) -> None:
        pass


def dead_letters(count: int = 1) -> list[OutboxMessage]:
    """`count` messages, each dead-lettered at its first attempt."""
    messages = []
    for index in range(count):
        message = queue_message(make_user(Role.AGENCY_REP).user, "agenda_published", f"meeting-{index}")
        assert message is not None
        messages.append(message)
    db.session.commit()
    assert relay_once(backend=RefusingBackend()).dead == count
    return [reload(m) for m in messages]


def requeued_events() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.requeued")))


def outbox_files(app: Flask) -> list[Path]:
    return sorted(Path(app.config["MARAC_OUTBOX_DIR"]).glob("*.eml"))


def test_requeue_clears_the_dead_letter_keeps_the_key_and_makes_it_due_now(app: Flask, clock: FakeClock) -> None:
    (message,) = dead_letters()
    key = message.idempotency_key
    clock.advance(hours=3)
    requeue_message(None, message, db.utcnow())
    db.session.commit()
    message = reload(message)
    assert (message.status, message.attempts, message.dead_at, message.last_error) == ("pending", 0, None, None)
    assert message.next_attempt_at == clock.current
    assert message.claimed_until is None
    assert message.idempotency_key == key
    assert relay_once().sent == 1
    assert reload(message).status == "sent"
    assert [f.name for f in outbox_files(app)] == [f"{key_digest(message)}.eml"]


def test_requeue_is_audited_without_personal_data(app: Flask) -> None:
    (message,) = dead_letters()
    requeue_message(None, message, db.utcnow())
    db.session.commit()
    (event,) = requeued_events()
    assert (event.object_type, event.object_id, event.details) == (
        "outbox_message",
        message.public_id,
        {"kind": "agenda_published"},
    )
    assert message.address not in json.dumps(event.details)


def test_a_requeued_message_that_was_already_written_is_recognised_and_not_written_again(app: Flask) -> None:
    (message,) = dead_letters()
    FileBackend(app.config["MARAC_OUTBOX_DIR"]).send(message)  # it was in fact delivered before it was given up on
    written = outbox_files(app)[0].read_bytes()
    requeue_message(None, message, db.utcnow())
    db.session.commit()
    result = relay_once()
    assert (result.sent, result.already_delivered) == (1, 1)
    assert len(outbox_files(app)) == 1
    assert outbox_files(app)[0].read_bytes() == written


@pytest.mark.parametrize("state", ["pending", "sent"])
def test_a_message_that_is_not_dead_is_refused_and_left_as_it_is(app: Flask, state: str) -> None:
    message = queue_message(make_user(Role.AGENCY_REP).user, "agenda_published", "m")
    assert message is not None
    db.session.commit()
    if state == "sent":
        relay_once()
    before = reload(message)
    attempts, sent_at = before.attempts, before.sent_at
    with pytest.raises(NotDeadLetter):
        requeue_message(None, before, db.utcnow())
    after = reload(message)
    assert (after.status, after.attempts, after.sent_at) == (state, attempts, sent_at)
    assert requeued_events() == []


def test_requeue_all_dead_sends_every_dead_letter_again_and_counts_them(app: Flask) -> None:
    dead_letters(2)
    queue_message(make_user(Role.AGENCY_REP).user, "agenda_published", "still-pending")
    db.session.commit()
    assert requeue_dead_letters(None, db.utcnow()) == 2
    db.session.commit()
    assert len(requeued_events()) == 2
    assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.status == "dead")) is None
    assert relay_once().sent == 3


# --- the command line ------------------------------------------------------------------------------------------------


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["outbox", "requeue", *args])


def test_the_command_line_requeues_one_dead_letter_by_id(app: Flask) -> None:
    first, second = dead_letters(2)
    result = cli(app, "--id", first.public_id)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "requeued 1"
    assert (reload(first).status, reload(second).status) == ("pending", "dead")
    assert [e.object_id for e in requeued_events()] == [first.public_id]


def test_the_command_line_requeues_all_dead_letters(app: Flask) -> None:
    dead_letters(3)
    result = cli(app, "--all-dead")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "requeued 3"
    assert cli(app, "--all-dead").output.strip() == "requeued 0"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "give either --id PUBLIC_ID or --all-dead"),
        (("--id", "x", "--all-dead"), "give either --id PUBLIC_ID or --all-dead"),
        (("--id", str(uuid.uuid4())), "no outbox message with that id"),
    ],
)
def test_the_command_line_refuses_what_it_cannot_do(app: Flask, args: tuple[str, ...], says: str) -> None:
    dead_letters()
    result = cli(app, *args)
    assert result.exit_code != 0
    assert says in result.output
    assert requeued_events() == []


def test_the_command_line_refuses_a_message_that_is_not_dead(app: Flask) -> None:
    message = queue_message(make_user(Role.AGENCY_REP).user, "agenda_published", "m")
    assert message is not None
    db.session.commit()
    result = cli(app, "--id", message.public_id)
    assert result.exit_code == 1
    assert "not dead-lettered" in result.output
    assert reload(message).status == "pending"


# --- stale temporary files of the file backend ---------------------------------------------------------------------


def temporary(folder: Path, name: str, age_seconds: float) -> Path:
    """A `.sending-*` file last written `age_seconds` ago."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"half a message")
    written = time.time() - age_seconds
    os.utime(path, (written, written))
    return path


def test_stale_temporary_files_are_removed_at_the_first_send_and_fresh_ones_kept(app: Flask, tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    stale = temporary(folder, ".sending-crashed.tmp", STALE_TEMPORARY_SECONDS + 60)
    fresh = temporary(folder, ".sending-writing-now.tmp", 5)
    other = temporary(folder, "notes.tmp", STALE_TEMPORARY_SECONDS * 2)
    message = queue_message(make_user(Role.AGENCY_REP).user, "agenda_published", "m")
    assert message is not None
    db.session.commit()
    assert relay_once(backend=FileBackend(folder)).sent == 1
    assert not stale.exists()
    assert fresh.exists()
    assert other.exists()
    assert (folder / f"{key_digest(message)}.eml").exists()


def test_remove_stale_temporaries_counts_them_and_ignores_a_missing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "outbox"
    assert FileBackend(folder).remove_stale_temporaries() == 0
    temporary(folder, ".sending-a.tmp", STALE_TEMPORARY_SECONDS + 1)
    temporary(folder, ".sending-b.tmp", STALE_TEMPORARY_SECONDS + 1)
    (folder / ".sending-dir.tmp").mkdir()
    os.utime(folder / ".sending-dir.tmp", (0, 0))
    assert FileBackend(folder).remove_stale_temporaries() == 2
    assert [p.name for p in folder.iterdir()] == [".sending-dir.tmp"]  # only regular files are removed


def test_a_folder_is_swept_at_most_once_per_interval_in_a_process(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "outbox"
    sweeps: list[Path] = []
    monkeypatch.setattr(FileBackend, "remove_stale_temporaries", lambda self, now=None: sweeps.append(self.folder))
    monkeypatch.setattr(backends, "_last_sweep", {})
    for index in range(2):
        message = queue_message(make_user(Role.AGENCY_REP).user, "agenda_published", f"m{index}")
        assert message is not None
        db.session.commit()
        assert relay_once(backend=FileBackend(folder)).sent == 1
    assert sweeps == [folder]
    backends._last_sweep[folder] -= backends.SWEEP_INTERVAL_SECONDS
    FileBackend(folder).send(queue_and_commit())
    assert sweeps == [folder, folder]


def queue_and_commit() -> OutboxMessage:
    message = queue_message(make_user(Role.AGENCY_REP).user, "agenda_published", "later")
    assert message is not None
    db.session.commit()
    return message
