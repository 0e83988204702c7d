"""`marac scheduler`: the one process that runs time-driven jobs (APScheduler 3.x, jobs defined in code).

Jobs live in `JOBS` (marac/jobs.py) with stable ids, Europe/London triggers and an explicit misfire grace time;
every job runs with `coalesce=True` and `max_instances=1` in the memory job store (the SQLAlchemy store pickles jobs
and is not meant to be shared). Only one scheduler runs at a time: it holds a PostgreSQL advisory lock on a dedicated
connection, or a `flock` on MARAC_SCHEDULER_LOCK_FILE with SQLite. The holder writes a heartbeat that /healthz
reports. Web workers never run jobs (`create_app` and `marac serve` never build a scheduler).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
from apscheduler.events import EVENT_JOB_MISSED, EVENT_SCHEDULER_SHUTDOWN, JobEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from marac import db
from marac.db import LONDON
from marac.jobs import JOBS, JobSpec

log = structlog.get_logger(__name__)

#: The PostgreSQL advisory lock key of the single scheduler ("MARACSCH" as a signed 64-bit number).
ADVISORY_LOCK_KEY = 0x4D41524143534348
#: Exit status when another scheduler holds the lock.
EXIT_LOCKED = 3
#: Exit status when the lock was lost while running (the database connection holding it went away).
EXIT_LOCK_LOST = 4
#: Seconds between attempts to take the lock while another scheduler holds it.
LOCK_POLL_SECONDS = 1.0
#: The heartbeat is healthy while its age is within this many beat intervals.
HEALTHY_BEATS = 3
HEARTBEAT_JOB_ID = "scheduler-heartbeat"


def resolve(target: str) -> Callable[[], Any] | None:
    """The function named `module:function`, or None when it is not (yet) part of this installation."""
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            return None
        raise
    func = getattr(module, name, None)
    return func if callable(func) else None


def run_job(app: Flask, job_id: str, target: str | Callable[[], Any]) -> bool:
    """Run one job in its own app context; log start, end and duration; never let an error escape.

    The job commits its own units of work; whatever it left uncommitted when it failed is rolled back. Errors are
    logged by type and frames only: database errors quote the values that caused them (personal data).
    """
    started = time.perf_counter()
    with app.app_context():
        log.info("job_started", job=job_id)
        try:
            func = resolve(target) if isinstance(target, str) else target
            if func is None:
                log.warning("job_unavailable", job=job_id, target=target)
                return False
            result = func()
        except Exception as exc:
            db.session.rollback()
            frames = [
                f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(exc.__traceback__)
            ]
            seconds = round(time.perf_counter() - started, 3)
            log.error("job_failed", job=job_id, error=type(exc).__name__, seconds=seconds, frames=frames)
            return False
        summary = result if isinstance(result, int | float | bool) or result is None else type(result).__name__
        log.info("job_finished", job=job_id, seconds=round(time.perf_counter() - started, 3), result=summary)
        return True


def _log_missed(event: JobEvent) -> None:
    log.warning("job_missed", job=event.job_id, scheduled=event.scheduled_run_time.isoformat())


def build_scheduler(app: Flask, blocking: bool, extra_jobs: Iterable[JobSpec] = ()) -> BaseScheduler:
    """A scheduler with every job in `JOBS` (and `extra_jobs`), memory job store, one run of each job at a time."""
    options: dict[str, Any] = {
        "jobstores": {"default": MemoryJobStore()},
        "executors": {"default": ThreadPoolExecutor(max_workers=4)},
        "job_defaults": {"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        "timezone": LONDON,
    }
    scheduler: BaseScheduler = BlockingScheduler(**options) if blocking else BackgroundScheduler(**options)
    for spec in (*JOBS, *extra_jobs):
        if not _available(spec):
            continue
        scheduler.add_job(
            run_job,
            trigger=spec.make_trigger(),
            args=(app, spec.id, spec.target),
            id=spec.id,
            name=spec.description or spec.id,
            misfire_grace_time=spec.misfire_grace_time,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )
    scheduler.add_listener(_log_missed, EVENT_JOB_MISSED)
    return scheduler


def _available(spec: JobSpec) -> bool:
    """Whether the job's function exists in this installation (a job whose module is not written yet is skipped)."""
    try:
        found = resolve(spec.target) is not None
    except Exception as exc:
        log.error("job_skipped", job=spec.id, target=spec.target, error=type(exc).__name__)
        return False
    if not found:
        log.warning("job_skipped", job=spec.id, target=spec.target, reason="not available in this installation")
    return found


class SingleSchedulerLock:
    """Only one scheduler at a time: a PostgreSQL advisory lock held on a dedicated connection for the life of the
    process (never a pooled one that may be recycled), or an exclusive `flock` on a file with SQLite."""

    def __init__(self, database_url: str, lock_file: str | Path) -> None:
        self.database_url = database_url
        self.lock_file = Path(lock_file)
        self.is_postgres = database_url.startswith("postgresql")
        self._fd: int | None = None
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    @classmethod
    def for_app(cls, app: Flask) -> SingleSchedulerLock:
        """The lock for the app's database."""
        return cls(app.config["MARAC_DATABASE_URL"], app.config["MARAC_SCHEDULER_LOCK_FILE"])

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None or self._conn is not None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another scheduler holds it."""
        if self.held:
            return True
        return self._acquire_postgres() if self.is_postgres else self._acquire_file()

    def _acquire_file(self) -> bool:
        self.lock_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _acquire_postgres(self) -> bool:
        if self._engine is None:
            self._engine = create_engine(self.database_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        conn = self._engine.connect()
        if conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}):
            self._conn = conn
            return True
        conn.close()
        return False

    def still_held(self) -> bool:
        """Whether the lock is still ours: with PostgreSQL, the connection holding it must still be alive."""
        if self._conn is None:
            return self._fd is not None
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def release(self) -> None:
        """Let another scheduler take over (closing the connection or the file also releases it)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            with contextlib.suppress(SQLAlchemyError):  # a connection that is gone took the lock with it
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def current_holder(app: Flask) -> str:
    """Who the heartbeat says holds the lock (host:pid), for the message a second scheduler prints."""
    from marac.scheduler_models import SchedulerHeartbeat

    with app.app_context():
        session = db.read_only_session()
        try:
            beat = session.get(SchedulerHeartbeat, 1)
            return beat.holder if beat is not None else "unknown"
        except SQLAlchemyError:
            return "unknown"
        finally:
            session.close()


def write_heartbeat(app: Flask, started_at: datetime) -> None:
    """Record that this process holds the lock and is alive (one row, id 1)."""
    from marac.scheduler_models import SchedulerHeartbeat

    with app.app_context():
        beat = db.session.get(SchedulerHeartbeat, 1) or SchedulerHeartbeat(id=1)
        beat.holder, beat.pid = f"{socket.gethostname()}:{os.getpid()}"[:200], os.getpid()
        beat.started_at, beat.beat_at = started_at, db.utcnow()
        db.session.add(beat)
        db.session.commit()


def heartbeat_status(now: datetime) -> dict[str, Any]:
    """The scheduler's last beat for /healthz: when, how long ago and whether that is recent enough."""
    from marac.scheduler_models import SchedulerHeartbeat

    beat_at = None
    session = db.read_only_session()
    try:
        beat = session.get(SchedulerHeartbeat, 1)
        beat_at = beat.beat_at if beat is not None else None
    except SQLAlchemyError:
        current_app.logger.warning("health check: scheduler heartbeat unavailable")
    finally:
        session.close()
    if beat_at is None:
        return {"last_beat": None, "age_seconds": None, "healthy": False}
    age = max((now - beat_at).total_seconds(), 0.0)
    limit = HEALTHY_BEATS * int(current_app.config["MARAC_SCHEDULER_BEAT_SECONDS"])
    return {"last_beat": beat_at.isoformat(), "age_seconds": round(age, 1), "healthy": age <= limit}


def wait_for_lock(
    lock: SingleSchedulerLock,
    *,
    wait_seconds: float | None,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> bool:
    """Poll until the lock is ours (True) or `wait_seconds` pass (False); None waits for ever."""
    deadline = None if wait_seconds is None else monotonic() + wait_seconds
    while not lock.acquire():
        if deadline is not None and monotonic() >= deadline:
            return False
        sleep(LOCK_POLL_SECONDS)
    return True


def run_scheduler(
    app: Flask,
    *,
    exit_if_locked: bool,
    wait_seconds: float | None,
    extra_jobs: Iterable[JobSpec] = (),
    echo: Callable[[str], None] = print,
) -> int:
    """Take the single-scheduler lock (or say who holds it), then run the jobs until SIGTERM/SIGINT; exit status."""
    lock = SingleSchedulerLock.for_app(app)
    if not lock.acquire():
        echo(f"another scheduler holds the lock (holder: {current_holder(app)})")
        if exit_if_locked or not wait_for_lock(lock, wait_seconds=wait_seconds):
            return EXIT_LOCKED
    try:
        return _run_holding(app, lock, extra_jobs, echo)
    finally:
        lock.release()


def _run_holding(
    app: Flask, lock: SingleSchedulerLock, extra_jobs: Iterable[JobSpec], echo: Callable[[str], None]
) -> int:
    """Run the blocking scheduler with its heartbeat job while holding the lock."""
    scheduler = build_scheduler(app, blocking=True, extra_jobs=extra_jobs)
    stoppers: list[threading.Thread] = []
    lost: list[bool] = []

    def stop(*_args: object) -> None:
        # Shut down from another thread: the scheduler's own thread may hold its locks when a signal arrives.
        if not stoppers:
            stoppers.append(threading.Thread(target=scheduler.shutdown, name="marac-scheduler-stop"))
            stoppers[0].start()

    def on_lost() -> None:
        lost.append(True)
        stop()

    _add_heartbeat(scheduler, app, lock, on_lost)
    previous = {sig: signal.signal(sig, _handler(stop)) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("scheduler_started", jobs=[job.id for job in scheduler.get_jobs()])
        echo(f"scheduler running {len(scheduler.get_jobs())} jobs (Europe/London); SIGTERM or Ctrl+C stops it")
        scheduler.start()
        for thread in stoppers:
            thread.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("scheduler_stopped", lock_lost=bool(lost))
    return EXIT_LOCK_LOST if lost else 0


def _add_heartbeat(
    scheduler: BaseScheduler, app: Flask, lock: SingleSchedulerLock, on_lost: Callable[[], None]
) -> None:
    """Beat once now, then every MARAC_SCHEDULER_BEAT_SECONDS as a job; a lost lock stops beating and calls on_lost."""
    with app.app_context():
        started_at = db.utcnow()
    write_heartbeat(app, started_at)

    def beat() -> None:
        if not lock.still_held():
            log.error("scheduler_lock_lost")
            on_lost()
            return
        write_heartbeat(app, started_at)

    beat_seconds = int(app.config["MARAC_SCHEDULER_BEAT_SECONDS"])
    scheduler.add_job(
        run_job,
        trigger=IntervalTrigger(seconds=beat_seconds, timezone=LONDON),
        args=(app, HEARTBEAT_JOB_ID, beat),
        id=HEARTBEAT_JOB_ID,
        misfire_grace_time=beat_seconds,
        coalesce=True,
        max_instances=1,
    )


def start_in_process(app: Flask, echo: Callable[[str], None] = print) -> BaseScheduler | None:
    """For `marac demo --with-jobs` only: run the jobs in this process's background, under the same lock;
    None (and a message) when another scheduler already holds it. Never called by the web tier."""
    lock = SingleSchedulerLock.for_app(app)
    if not lock.acquire():
        echo(f"another scheduler holds the lock (holder: {current_holder(app)}): jobs run there")
        return None
    scheduler = build_scheduler(app, blocking=False)

    def on_lost() -> None:
        scheduler.shutdown(wait=False)

    _add_heartbeat(scheduler, app, lock, on_lost)
    scheduler.add_listener(lambda _event: lock.release(), EVENT_SCHEDULER_SHUTDOWN)
    scheduler.start()
    echo(f"running {len(scheduler.get_jobs())} scheduled jobs in this process (Europe/London)")
    return scheduler


def _handler(stop: Callable[[], None]) -> Callable[[int, FrameType | None], None]:
    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop()

    return on_signal
