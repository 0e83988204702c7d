"""`marac scheduler`: the job table, the single-scheduler lock (SQLite file lock, PostgreSQL advisory lock), the
job wrapper, the heartbeat and /healthz, and that the web tier never runs jobs."""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import waitress
from apscheduler.schedulers.base import BaseScheduler
from flask import Flask, current_app, has_app_context
from sqlalchemy import Engine, select, text
from structlog.testing import capture_logs

from marac import create_app, db
from marac.scheduler import (
    EXIT_LOCKED,
    JOBS,
    JobSpec,
    SingleSchedulerLock,
    build_scheduler,
    heartbeat_status,
    resolve,
    run_job,
    wait_for_lock,
    write_heartbeat,
)
from marac.scheduler_models import SchedulerHeartbeat
from tests.conftest import TEST_SETTINGS, FakeClock

POSTGRES = bool(os.environ.get("MARAC_TEST_DATABASE_URL"))
NO_BEAT = {"last_beat": None, "age_seconds": None, "healthy": False}


# --- the job table ---------------------------------------------------------------------------------------------------


def test_every_job_has_a_stable_id_one_instance_coalesced_a_grace_time_and_london_time(app: Flask) -> None:
    scheduler = build_scheduler(app, blocking=False)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    specs = {spec.id: spec for spec in JOBS}

    assert len(specs) == len(JOBS)  # ids are unique
    assert set(jobs) == set(specs)
    for job_id, job in jobs.items():
        assert (job.coalesce, job.max_instances) == (True, 1), job_id
        assert job.misfire_grace_time == specs[job_id].misfire_grace_time > 0, job_id
        assert str(job.trigger.timezone) == "Europe/London", job_id
    for spec in JOBS:
        assert str(spec.make_trigger().timezone) == "Europe/London"  # type: ignore[attr-defined]


def test_every_installed_job_function_can_be_called_without_arguments() -> None:
    installed = {spec.id: resolve(spec.target) for spec in JOBS}

    assert [job_id for job_id, func in installed.items() if func is None] == []
    for job_id, func in installed.items():
        assert func is not None
        inspect.signature(func).bind()  # raises TypeError naming the missing argument
        assert func.__doc__, job_id


def test_meetings_are_generated_at_quarter_past_two_london_time_in_summer_and_winter() -> None:
    trigger = next(spec for spec in JOBS if spec.id == "meetings-generate").make_trigger()

    summer = trigger.get_next_fire_time(None, datetime(2026, 7, 1, tzinfo=UTC))
    winter = trigger.get_next_fire_time(None, datetime(2026, 12, 1, tzinfo=UTC))

    assert summer is not None
    assert summer.astimezone(UTC) == datetime(2026, 7, 1, 1, 15, tzinfo=UTC)
    assert winter is not None
    assert winter.astimezone(UTC) == datetime(2026, 12, 1, 2, 15, tzinfo=UTC)


def test_a_job_whose_module_is_not_installed_is_skipped_with_a_log_line(app: Flask) -> None:
    missing = JobSpec("not-here", "marac.no_such_module:run", "interval", {"seconds": 5}, misfire_grace_time=5)

    with capture_logs() as logs:
        scheduler = build_scheduler(app, blocking=False, extra_jobs=[missing])

    assert scheduler.get_job("not-here") is None
    assert {"event": "job_skipped", "job": "not-here"}.items() <= next(
        entry for entry in logs if entry.get("job") == "not-here"
    ).items()


# --- the job wrapper -------------------------------------------------------------------------------------------------


def test_a_job_runs_inside_an_app_context_of_its_app(committed_app: Flask) -> None:
    seen: list[Any] = []

    def job() -> int:
        seen.append((has_app_context(), current_app._get_current_object()))  # type: ignore[attr-defined]
        return 7

    with capture_logs() as logs:
        assert run_job(committed_app, "probe", job) is True

    assert seen == [(True, committed_app)]
    assert [(e["event"], e["job"]) for e in logs] == [("job_started", "probe"), ("job_finished", "probe")]
    assert logs[-1]["result"] == 7
    assert logs[-1]["seconds"] >= 0


def test_a_failing_job_is_logged_without_its_message_rolled_back_and_the_next_job_still_runs(
    committed_app: Flask,
) -> None:
    def failing() -> None:
        db.session.add(SchedulerHeartbeat(id=1, holder="half-done:1", pid=1))
        db.session.flush()
        raise RuntimeError("Jane Example, 1 High Street")  # what a database error might quote

    with capture_logs() as logs:
        assert run_job(committed_app, "failing", failing) is False
        assert run_job(committed_app, "after", lambda: None) is True

    failed = next(e for e in logs if e["event"] == "job_failed")
    assert (failed["job"], failed["error"]) == ("failing", "RuntimeError")
    assert "Jane Example" not in repr(logs)
    assert ("job_finished", "after") in [(e["event"], e["job"]) for e in logs]
    with committed_app.app_context():
        assert db.session.scalars(select(SchedulerHeartbeat)).all() == []


def test_a_job_named_by_a_missing_module_is_logged_as_unavailable(committed_app: Flask) -> None:
    with capture_logs() as logs:
        assert run_job(committed_app, "relay", "marac.no_such_module:relay_once") is False

    assert ("job_unavailable", "relay") in [(e["event"], e["job"]) for e in logs]


# --- the single-scheduler lock ---------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_lock_file(tmp_path: Path) -> Path:
    """Where two SQLite schedulers would meet."""
    return tmp_path / "instance" / "scheduler.lock"


def test_two_schedulers_on_sqlite_exclude_each_other_in_one_process(sqlite_lock_file: Path) -> None:
    url = f"sqlite:///{sqlite_lock_file.parent / 'marac.db'}"
    first, second = SingleSchedulerLock(url, sqlite_lock_file), SingleSchedulerLock(url, sqlite_lock_file)

    assert first.acquire() is True
    assert second.acquire() is False
    first.release()
    assert second.acquire() is True
    assert first.acquire() is False
    second.release()


def test_a_scheduler_on_sqlite_cannot_take_the_lock_another_process_holds(sqlite_lock_file: Path) -> None:
    url = f"sqlite:///{sqlite_lock_file.parent / 'marac.db'}"
    holder_code = (
        "import sys\n"
        "from marac.scheduler import SingleSchedulerLock\n"
        f"lock = SingleSchedulerLock({url!r}, {str(sqlite_lock_file)!r})\n"
        "print('locked' if lock.acquire() else 'refused', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder_code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    lock = SingleSchedulerLock(url, sqlite_lock_file)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        assert lock.acquire() is False
    finally:
        assert child.stdin is not None
        child.stdin.close()  # the child exits, and the kernel drops its lock
        child.wait(timeout=30)
        child.stdout.close()  # type: ignore[union-attr]
    assert lock.acquire() is True
    lock.release()


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES, reason="needs MARAC_TEST_DATABASE_URL")
def test_two_schedulers_on_postgresql_exclude_each_other_through_the_advisory_lock(
    database_url: str, tmp_path: Path
) -> None:
    first = SingleSchedulerLock(database_url, tmp_path / "unused.lock")
    second = SingleSchedulerLock(database_url, tmp_path / "unused.lock")
    try:
        assert first.acquire() is True
        assert second.acquire() is False
        assert first.still_held() is True
        first.release()
        assert second.acquire() is True
        assert first.acquire() is False
    finally:
        first.release()
        second.release()
    assert not (tmp_path / "unused.lock").exists()


@pytest.mark.postgres_only
@pytest.mark.skipif(not POSTGRES, reason="needs MARAC_TEST_DATABASE_URL")
def test_a_scheduler_knows_when_the_connection_holding_its_advisory_lock_is_gone(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    lock = SingleSchedulerLock(database_url, tmp_path / "unused.lock")
    assert lock.acquire() is True
    try:
        with engine.connect() as admin:
            killed = admin.scalar(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        assert killed is True
        assert lock.still_held() is False
        other = SingleSchedulerLock(database_url, tmp_path / "unused.lock")
        assert other.acquire() is True  # the lock went with the connection
        other.release()
    finally:
        lock.release()


def test_a_waiting_scheduler_takes_over_when_the_holder_stops(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'marac.db'}"
    holder, waiter = SingleSchedulerLock(url, tmp_path / "s.lock"), SingleSchedulerLock(url, tmp_path / "s.lock")
    assert holder.acquire()
    polls: list[float] = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:
            holder.release()

    assert wait_for_lock(waiter, wait_seconds=None, sleep=sleep) is True
    assert len(polls) == 2
    waiter.release()


def test_a_waiting_scheduler_gives_up_after_its_wait(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'marac.db'}"
    holder, waiter = SingleSchedulerLock(url, tmp_path / "s.lock"), SingleSchedulerLock(url, tmp_path / "s.lock")
    assert holder.acquire()
    clock = [100.0]

    def sleep(seconds: float) -> None:
        clock[0] += seconds

    assert wait_for_lock(waiter, wait_seconds=5, sleep=sleep, monotonic=lambda: clock[0]) is False
    assert clock[0] >= 105
    holder.release()


# --- the command -----------------------------------------------------------------------------------------------------


@pytest.fixture
def held_elsewhere(committed_app: Flask) -> Iterator[SingleSchedulerLock]:
    """Another scheduler (host other-host, pid 4242) holds the lock and has beaten."""
    with committed_app.app_context():
        db.session.add(SchedulerHeartbeat(id=1, holder="other-host:4242", pid=4242))
        db.session.commit()
    lock = SingleSchedulerLock.for_app(committed_app)
    assert lock.acquire()
    yield lock
    lock.release()


@pytest.mark.parametrize("options", [["--exit-if-locked"], ["--wait-seconds", "0"]])
def test_scheduler_command_exits_3_naming_the_holder_when_another_holds_the_lock(
    committed_app: Flask, held_elsewhere: SingleSchedulerLock, options: list[str]
) -> None:
    result = committed_app.test_cli_runner().invoke(args=["scheduler", *options])

    assert result.exit_code == EXIT_LOCKED
    assert "another scheduler holds the lock (holder: other-host:4242)" in result.output


def _child_env(app: Flask) -> dict[str, str]:
    env = {key: os.environ[key] for key in ("PATH", "HOME") if key in os.environ}
    env.update(
        MARAC_ENV="test",
        MARAC_DATABASE_URL=app.config["MARAC_DATABASE_URL"],
        MARAC_INSTANCE_PATH=app.config["MARAC_INSTANCE_PATH"],
        MARAC_MASTER_KEY=app.config["MARAC_MASTER_KEY"],
        MARAC_SECRET_KEY=app.config["SECRET_KEY"],
        MARAC_AUDIT_KEY=app.config["MARAC_AUDIT_KEY"],
        MARAC_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


def test_a_running_scheduler_beats_keeps_a_second_one_out_and_stops_cleanly_on_sigterm(committed_app: Flask) -> None:
    command = [sys.executable, "-c", "from marac.cli import main; main()", "scheduler"]
    env = _child_env(committed_app)
    first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None
        assert any(line.startswith("scheduler running") for line in first.stdout)  # logs may come first
        second = subprocess.run([*command, "--exit-if-locked"], env=env, capture_output=True, text=True, timeout=60)
        with committed_app.app_context():
            beat = db.session.get(SchedulerHeartbeat, 1)
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=60) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stdout.close()  # type: ignore[union-attr]

    assert second.returncode == EXIT_LOCKED
    assert f"another scheduler holds the lock (holder: {beat.holder})" in second.stdout  # type: ignore[union-attr]
    assert beat is not None
    assert beat.pid == first.pid
    lock = SingleSchedulerLock.for_app(committed_app)
    assert lock.acquire() is True  # released on the way out
    lock.release()


# --- the heartbeat and /healthz --------------------------------------------------------------------------------------


def test_healthz_reports_a_recent_heartbeat_as_healthy_and_a_stale_one_as_not(committed_app: Flask) -> None:
    clock = FakeClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    committed_app.config.update(MARAC_CLOCK=clock, MARAC_SCHEDULER_BEAT_SECONDS=30)
    client = committed_app.test_client()
    assert client.get("/healthz").json["scheduler"] == NO_BEAT

    write_heartbeat(committed_app, started_at=clock())
    clock.advance(seconds=45)
    recent = client.get("/healthz")
    clock.advance(seconds=60)  # 105 s since the beat: more than three beats missed
    stale = client.get("/healthz")

    assert (recent.status_code, recent.json["scheduler"]) == (
        200,
        {"last_beat": "2026-11-25T09:00:00+00:00", "age_seconds": 45.0, "healthy": True},
    )
    assert (stale.status_code, stale.json["status"]) == (200, "ok")  # the web tier stays healthy
    assert stale.json["scheduler"] == {"last_beat": "2026-11-25T09:00:00+00:00", "age_seconds": 105.0, "healthy": False}


def test_the_heartbeat_is_one_row_updated_by_each_beat(committed_app: Flask) -> None:
    clock = FakeClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    committed_app.config["MARAC_CLOCK"] = clock
    started = clock()
    write_heartbeat(committed_app, started_at=started)
    clock.advance(seconds=30)
    write_heartbeat(committed_app, started_at=started)

    with committed_app.app_context():
        beats = db.session.scalars(select(SchedulerHeartbeat)).all()
        status = heartbeat_status(clock())
    assert [(b.pid, b.started_at, b.beat_at) for b in beats] == [(os.getpid(), started, clock())]
    assert beats[0].holder.endswith(f":{os.getpid()}")
    assert status == {"last_beat": clock().isoformat(), "age_seconds": 0.0, "healthy": True}


# --- the web tier never runs jobs ------------------------------------------------------------------------------------


def test_create_app_and_serve_never_start_a_scheduler(
    committed_app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []
    original = BaseScheduler.__init__

    def record(self: BaseScheduler, *args: Any, **kwargs: Any) -> None:
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(BaseScheduler, "__init__", record)
    monkeypatch.setattr(waitress, "serve", lambda *args, **kwargs: None)
    app = create_app({**TEST_SETTINGS, "MARAC_INSTANCE_PATH": str(tmp_path)})
    app.extensions["marac_engine"].dispose()

    served = committed_app.test_cli_runner().invoke(args=["serve", "--port", "8099"])
    health = committed_app.test_client().get("/healthz")

    assert (served.exit_code, health.status_code) == (0, 200)
    assert built == []


def test_demo_with_jobs_runs_the_jobs_in_process_under_the_same_lock(
    committed_app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    import marac.scheduler

    started: list[BaseScheduler | None] = []
    real_start = marac.scheduler.start_in_process

    def start(app: Flask, echo: Any) -> BaseScheduler | None:
        started.append(real_start(app, echo=echo))
        return started[-1]

    while_serving: list[tuple[bool, bool]] = []

    def serve(*_args: Any, **_kwargs: Any) -> None:
        with committed_app.app_context():
            beat = db.session.get(SchedulerHeartbeat, 1)
        while_serving.append((SingleSchedulerLock.for_app(committed_app).acquire(), beat is not None))

    monkeypatch.setattr(marac.scheduler, "start_in_process", start)
    monkeypatch.setattr(waitress, "serve", serve)
    result = committed_app.test_cli_runner().invoke(args=["demo", "--with-jobs", "--port", "5097"])
    scheduler = started[0]
    assert scheduler is not None
    jobs = {job.id for job in scheduler.get_jobs()}
    scheduler.shutdown()

    assert result.exit_code == 0, result.output
    assert while_serving == [(False, True)]  # another scheduler could not start; the demo had beaten
    assert {"meetings-generate", "scheduler-heartbeat"} <= jobs
    lock = SingleSchedulerLock.for_app(committed_app)
    assert lock.acquire() is True  # released when the demo's scheduler shut down
    lock.release()
