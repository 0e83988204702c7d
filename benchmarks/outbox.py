"""The outbox relay benchmark: throughput with the file backend, and a relay killed with SIGKILL part-way.

1. Throughput: 5,000 queued messages (half with a calendar invite) on a database built by the real migrations,
   relayed in batches of 100 by `relay_once` with the file backend; messages per second (target 200).
2. Crash: 10,000 queued messages; `marac outbox relay` runs as a child process and is killed with SIGKILL once
   ~30% of the files exist, then started again (with a 2-second lease, so the dead relay's claim runs out quickly)
   and stopped with SIGTERM when nothing is pending. Then every message must be "sent" with exactly one file
   (lost = messages without a file or not sent; duplicated = files that match no message or a message twice).
   The file backend cannot write a message twice by construction (the file name is the hash of the idempotency key
   and is never overwritten), so the figure that shows the crash window is "resends recognised": how often the
   restarted relay was asked to send a message that the killed one had delivered but not yet marked sent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flask import Flask
from sqlalchemy import func, select

from benchmarks.databases import bench_database
from benchmarks.report import Report
from marac import db
from marac.notify.backends import FileBackend, key_digest
from marac.notify.models import OutboxMessage
from marac.notify.relay import relay_once
from marac.notify.services import BODY, MARKING, SUBJECTS

THROUGHPUT_MESSAGES = 5_000
CRASH_MESSAGES = 10_000
THROUGHPUT_TARGET = 200
KILL_AT = 0.3
LEASE_SECONDS = 2
INVITE = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//MARAC//bench//EN\r\nEND:VCALENDAR\r\n"
#: Settings the child relay needs to open the parent's database (in its environment, never on argv).
CHILD_SETTINGS = {
    "MARAC_DATABASE_URL": "MARAC_DATABASE_URL",
    "MARAC_MASTER_KEY": "MARAC_MASTER_KEY",
    "SECRET_KEY": "MARAC_SECRET_KEY",
    "MARAC_AUDIT_KEY": "MARAC_AUDIT_KEY",
    "MARAC_INSTANCE_PATH": "MARAC_INSTANCE_PATH",
}


def queue_messages(count: int) -> None:
    """Queue `count` content-free messages as `queue_message` writes them (no users needed: recipient is optional)."""
    now = db.utcnow()
    for start in range(0, count, 1000):
        db.session.add_all(
            OutboxMessage(
                idempotency_key=f"agenda_published:bench:{index}",
                kind="agenda_published",
                address=f"member{index}@bench.example",
                subject=f"{MARKING}: {SUBJECTS['agenda_published']}",
                body=BODY,
                attachment_name="meeting.ics" if index % 2 else None,
                attachment_type="text/calendar" if index % 2 else None,
                attachment=INVITE if index % 2 else None,
                next_attempt_at=now,
                created_at=now,
            )
            for index in range(start, min(start + 1000, count))
        )
        db.session.commit()


def throughput(report: Report, app: Flask, folder: Path) -> None:
    """Relay THROUGHPUT_MESSAGES with the file backend in batches of 100."""
    with app.app_context():
        queue_messages(THROUGHPUT_MESSAGES)
        backend = FileBackend(folder)
        sent = 0
        start = time.perf_counter()
        while (result := relay_once(100, backend)).claimed:
            sent += result.sent
        elapsed = time.perf_counter() - start
    rate = sent / elapsed
    report.figure("messages relayed", f"{sent} in {elapsed:.1f} s")
    report.target(
        "relay throughput, file backend",
        f"{rate:.0f} messages/s",
        f">= {THROUGHPUT_TARGET}/s",
        ok=(rate >= THROUGHPUT_TARGET and sent == THROUGHPUT_MESSAGES),
    )


def _start_relay(app: Flask, folder: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **{name: str(app.config[key]) for key, name in CHILD_SETTINGS.items()}}
    env |= {"MARAC_ENV": "test", "MARAC_OUTBOX_DIR": str(folder), "MARAC_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS)}
    env["MARAC_LOG_LEVEL"] = "WARNING"
    command = [sys.executable, "-c", "from marac.cli import main; main()", "outbox", "relay", "--batch", "50"]
    with log.open("wb") as output:
        return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603


def _pending(app: Flask) -> int:
    with app.app_context():
        query = select(func.count()).where(OutboxMessage.status == "pending")
        return int(db.session.scalar(query) or 0)


def _resends(log: Path) -> int:
    """The restarted relay's "already delivered" count, from its closing line."""
    for line in reversed(log.read_text().splitlines()):
        if line.startswith("sent ") and "already delivered" in line:
            return int(line.rsplit(" ", 1)[1])
    raise RuntimeError(f"the relay did not report its totals: {log.read_text()[-500:]}")


def crash(report: Report, app: Flask, folder: Path, work: Path) -> None:
    """Kill a relay with SIGKILL part-way, restart it, and count lost and duplicated messages."""
    with app.app_context():
        queue_messages(CRASH_MESSAGES)
    first = _start_relay(app, folder, work / "relay-1.log")
    while len(list(folder.glob("*.eml"))) < CRASH_MESSAGES * KILL_AT and first.poll() is None:
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait()
    at_kill = len(list(folder.glob("*.eml")))
    report.figure("files when the relay was killed", f"{at_kill} of {CRASH_MESSAGES}")
    second = _start_relay(app, folder, work / "relay-2.log")
    while _pending(app) and second.poll() is None:
        time.sleep(0.2)
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=60)
    _count(report, app, folder, _resends(work / "relay-2.log"))


def _count(report: Report, app: Flask, folder: Path, resends: int) -> None:
    with app.app_context():
        messages = list(db.session.scalars(select(OutboxMessage)))
        expected = {f"{key_digest(m)}.eml": m for m in messages}
    files = [p.name for p in folder.glob("*.eml")]
    lost = sum(1 for name, m in expected.items() if m.status != "sent" or not (folder / name).exists())
    duplicated = (len(files) - len(set(files))) + sum(1 for name in files if name not in expected)
    leftovers = len(list(folder.glob(".sending-*")))
    report.figure("resends recognised by the file backend (delivered, not yet marked, when killed)", str(resends))
    report.figure("partial temporary files left by the killed relay (never delivered)", str(leftovers))
    report.target(
        "relay killed with SIGKILL and restarted",
        f"lost {lost}, duplicated {duplicated}",
        "lost 0, duplicated 0",
        ok=lost == 0 and duplicated == 0 and len(files) == CRASH_MESSAGES,
    )


def run_outbox(report: Report, kind: str, *, keep: bool = False) -> None:
    """Both outbox figures on one kind of database."""
    report.heading(f"Outbox relay, file backend, {kind}")
    with bench_database(kind, keep=keep) as bench:
        throughput(report, bench.app, bench.folder / "outbox-throughput")
    with bench_database(kind, keep=keep) as bench:
        crash(report, bench.app, bench.folder / "outbox-crash", bench.folder)
