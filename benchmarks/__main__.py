"""Run the benchmarks and print their figures: `python -m benchmarks [name ...] [options]` (`--help` lists them)."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from argon2 import PasswordHasher, Type

from benchmarks.databases import postgres_reachable, postgres_url
from benchmarks.generate import default_workers
from benchmarks.report import Report
from marac.config import load_settings

BENCHMARKS = (
    "argon2",
    "audit",
    "people",
    "rotation",
    "referrals",
    "pdf",
    "scheduler",
    "outbox",
    "encompass-due",
    "encompass-night",
)


def argon2_cost() -> None:
    """Time per hash and per verification at the configured argon2id cost."""
    with tempfile.TemporaryDirectory(prefix="marac-bench-") as tmp:
        settings = load_settings({"MARAC_INSTANCE_PATH": tmp})
    t, m, p = (settings[k] for k in ("MARAC_ARGON2_TIME_COST", "MARAC_ARGON2_MEMORY_KIB", "MARAC_ARGON2_PARALLELISM"))
    hasher = PasswordHasher(time_cost=t, memory_cost=m, parallelism=p, type=Type.ID)
    stored = hasher.hash("warm-up password")
    hashes, verifies = [], []
    for _ in range(20):
        start = time.perf_counter()
        stored = hasher.hash("correct horse battery staple")
        hashes.append(time.perf_counter() - start)
        start = time.perf_counter()
        hasher.verify(stored, "correct horse battery staple")
        verifies.append(time.perf_counter() - start)
    print(
        f"argon2id time_cost={t} memory={m // 1024} MiB parallelism={p}: "
        f"hash p50 {statistics.median(hashes) * 1000:.0f} ms, verify p50 {statistics.median(verifies) * 1000:.0f} ms"
    )


def audit_append() -> None:
    """Audit events appended and committed one per transaction (the chain serialises writers)."""
    from marac import audit, create_app, db
    from marac.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="marac-bench-") as folder:
        tmp = Path(folder)
        app = create_app({"MARAC_INSTANCE_PATH": str(tmp), "MARAC_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}"})
        with app.app_context():
            upgrade()
            count = 2000
            start = time.perf_counter()
            for index in range(count):
                audit.record("bench.event", object_type="bench", object_id=str(index))
                db.session.commit()
            elapsed = time.perf_counter() - start
            start = time.perf_counter()
            checked, problem = audit.verify_chain()
            verify_elapsed = time.perf_counter() - start
        app.extensions["marac_engine"].dispose()
    print(
        f"audit append (SQLite, one commit each): {count / elapsed:.0f} events/s; "
        f"verify {checked / verify_elapsed:.0f} events/s, intact={problem is None}"
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Which benchmarks to run, on which databases, at what size."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)} (default: all)")
    parser.add_argument("--persons", type=int, default=1_000_000, help="persons for the people benchmark")
    parser.add_argument("--rotation-persons", type=int, default=20_000, help="persons for the rotation benchmark")
    parser.add_argument("--cases", type=int, default=100_000, help="cases for the referrals benchmark")
    parser.add_argument("--referrals", type=int, default=100, help="referrals walked through the pages (timed)")
    parser.add_argument("--evaluations", type=int, default=500, help="criteria evaluations timed")
    parser.add_argument("--lookups", type=int, default=500, help="candidate lookups timed (after a warm-up)")
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres", "both"),
        default="both",
        help="database(s); PostgreSQL at MARAC_BENCH_POSTGRES_URL or the local default",
    )
    parser.add_argument("--workers", type=int, default=default_workers(), help="processes sealing rows")
    parser.add_argument("--seed", type=int, default=20240601, help="seed for the synthetic data")
    parser.add_argument("--seconds", type=int, default=60, help="seconds two schedulers run side by side (scheduler)")
    parser.add_argument("--keep", action="store_true", help="keep the generated databases (paths are printed)")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark {', '.join(sorted(unknown))}: choose from {', '.join(BENCHMARKS)}")
    return args


def databases(choice: str) -> list[str]:
    """The databases to run on; PostgreSQL is skipped (with a note) under "both" when it is not reachable."""
    kinds = ["sqlite", "postgres"] if choice == "both" else [choice]
    if "postgres" in kinds and not postgres_reachable(postgres_url()):
        if choice == "postgres":
            raise SystemExit(f"PostgreSQL is not reachable at {postgres_url()}")
        print(f"PostgreSQL not reachable at {postgres_url()}: skipped the PostgreSQL runs")
        kinds.remove("postgres")
    return kinds


def main(argv: list[str]) -> int:
    """Run the chosen benchmarks; exit status 1 when a target was missed."""
    from benchmarks.key_rotation import run_rotation
    from benchmarks.outbox import run_outbox
    from benchmarks.pdf import run_pdf
    from benchmarks.people import run_people
    from benchmarks.referrals import run_referrals
    from benchmarks.scheduler import run_scheduler_bench

    args = parse_args(argv)
    names = args.names or list(BENCHMARKS)
    report = Report()
    if "argon2" in names:
        argon2_cost()
    if "audit" in names:
        audit_append()
    if "pdf" in names:
        run_pdf(report, keep=args.keep)
    if "encompass-due" in names:
        from benchmarks.encompass_due import run_encompass_due

        run_encompass_due(report, seed=args.seed)
    per_database = {"people", "rotation", "referrals", "scheduler", "outbox", "encompass-night"}
    kinds = databases(args.db) if per_database & set(names) else []
    for kind in kinds:
        if "people" in names:
            run_people(
                report,
                kind,
                persons=args.persons,
                lookups=args.lookups,
                workers=args.workers,
                seed=args.seed,
                keep=args.keep,
            )
        if "rotation" in names:
            run_rotation(
                report, kind, persons=args.rotation_persons, workers=args.workers, seed=args.seed, keep=args.keep
            )
        if "referrals" in names:
            run_referrals(
                report,
                kind,
                cases=args.cases,
                referrals=args.referrals,
                evaluations=args.evaluations,
                workers=args.workers,
                seed=args.seed,
                keep=args.keep,
            )
        if "scheduler" in names:
            run_scheduler_bench(report, kind, seconds=args.seconds, keep=args.keep)
        if "outbox" in names:
            run_outbox(report, kind, keep=args.keep)
        if "encompass-night" in names:
            from benchmarks.encompass_night import run_encompass_night

            run_encompass_night(report, kind, seed=args.seed, keep=args.keep)
    return report.summary()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
