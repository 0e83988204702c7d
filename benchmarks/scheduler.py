"""The scheduler benchmark: two schedulers side by side, each job runs once per trigger.

A throwaway database is built by the real migrations. Two child processes each call `run_scheduler` (as
`marac scheduler` does) on it with one extra, benchmark-only job that fires every 2 seconds (cron `second=*/2`,
Europe/London) and appends its trigger time and process id to a file. Only the scheduler holding the lock (a file
lock on SQLite, an advisory lock on PostgreSQL) runs jobs; the other waits. After the side-by-side phase the holder
is stopped with SIGTERM and the waiter must take over. Counted from the file: runs, duplicated trigger times (any is
a failure) and trigger times missed, while both ran and across the hand-over.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from benchmarks.databases import bench_database
from benchmarks.report import Report
from marac.scheduler import JobSpec

TICK_SECONDS = 2
HANDOVER_SECONDS = 12
#: Trigger times the hand-over may miss: the waiter polls the lock every second, then starts its scheduler.
HANDOVER_MISSED_TARGET = 2
BENCH_JOB = JobSpec(
    "bench-tick",
    "benchmarks.scheduler:tick",
    "cron",
    {"second": f"*/{TICK_SECONDS}"},
    misfire_grace_time=1,
    description="Benchmark only: record the trigger time.",
)


def tick() -> None:
    """The benchmark job: append this run's trigger time (the even second it fired on) and our pid."""
    trigger = math.floor(time.time() / TICK_SECONDS) * TICK_SECONDS
    fd = os.open(os.environ["MARAC_SCHEDULER_BENCH_FILE"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{trigger} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def child() -> int:
    """A scheduler process: the app from the environment, waiting for the lock for as long as it takes."""
    from marac import create_app
    from marac.scheduler import run_scheduler

    return run_scheduler(create_app(), exit_if_locked=False, wait_seconds=None, extra_jobs=[BENCH_JOB])


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "benchmarks.scheduler", "--child"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def _runs(path: Path) -> list[tuple[int, int]]:
    if not path.exists():
        return []
    return [(int(t), int(p)) for t, p in (line.split() for line in path.read_text().splitlines() if line.strip())]


def _missed(triggers: set[int], start: int, end: int) -> int:
    return sum(1 for t in range(start, end + 1, TICK_SECONDS) if t not in triggers)


def run_scheduler_bench(report: Report, kind: str, *, seconds: int, keep: bool = False) -> None:
    """Two schedulers side by side for `seconds`, then a hand-over; every trigger time must be run exactly once."""
    report.heading(f"Scheduler: two processes side by side for {seconds} s, then a hand-over ({kind})")
    with bench_database(kind, keep=keep) as bench:
        runs_file = bench.folder / "runs.log"
        config = bench.app.config
        env = {
            **os.environ,
            "MARAC_ENV": "test",
            "MARAC_DATABASE_URL": config["MARAC_DATABASE_URL"],
            "MARAC_INSTANCE_PATH": str(bench.folder),
            "MARAC_MASTER_KEY": config["MARAC_MASTER_KEY"],
            "MARAC_SECRET_KEY": config["SECRET_KEY"],
            "MARAC_AUDIT_KEY": config["MARAC_AUDIT_KEY"],
            "MARAC_LOG_LEVEL": "WARNING",
            "MARAC_SCHEDULER_BEAT_SECONDS": "2",
            "MARAC_SCHEDULER_BENCH_FILE": str(runs_file),
            "PYTHONUNBUFFERED": "1",
        }
        processes = [_start(env, bench.folder / f"child-{n}.log") for n in (1, 2)]
        try:
            time.sleep(seconds)
            side_by_side = _runs(runs_file)
            holders = {pid for _, pid in side_by_side}
            holder = next((p for p in processes if p.pid in holders), None)
            report.progress(f"stopping the holder (pid {holder.pid if holder else '?'}); the other should take over")
            handover_at = time.time()
            holder_status = _stop(holder) if holder else None
            time.sleep(HANDOVER_SECONDS)
            everything = _runs(runs_file)
        finally:
            statuses = [_stop(p) for p in processes]
        _figures(report, side_by_side, everything, handover_at, holder_status, statuses)


def _figures(
    report: Report,
    side_by_side: list[tuple[int, int]],
    everything: list[tuple[int, int]],
    handover_at: float,
    holder_status: int | None,
    statuses: list[int],
) -> None:
    counts = Counter(t for t, _ in everything)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    before = {t for t, _ in side_by_side}
    after = {t for t, _ in everything} - before
    missed_before = _missed(before, min(before), max(before)) if before else -1
    gap_start = max(before) + TICK_SECONDS if before else 0
    missed_handover = _missed(after, gap_start, max(after)) if after else -1
    runners = {pid for _, pid in side_by_side}
    report.figure("runs while both ran", f"{len(side_by_side)} by {len(runners)} process(es)")
    report.target("duplicated trigger times", str(duplicates), "0", duplicates == 0)
    report.target("trigger times missed while both ran", str(missed_before), "0", missed_before == 0)
    report.target(
        "trigger times missed across the hand-over",
        str(missed_handover),
        f"<= {HANDOVER_MISSED_TARGET}",
        0 <= missed_handover <= HANDOVER_MISSED_TARGET,
    )
    took_over = {pid for t, pid in everything if t >= handover_at} - runners
    report.target("the waiting scheduler took over", "yes" if took_over else "no", "yes", bool(took_over))
    report.figure("exit statuses (stopped holder; both at the end)", f"{holder_status}; {statuses}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        sys.exit(child())
    sys.exit("usage: python -m benchmarks scheduler [--seconds N] (this module's --child is for the benchmark)")
