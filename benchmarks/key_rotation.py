"""The key rotation benchmark: sealed values re-encrypted per second by the real `rotate_keys` on generated persons."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from benchmarks.databases import bench_database
from benchmarks.generate import generate
from benchmarks.report import Report
from benchmarks.synthetic import build_pools
from marac import db
from marac.crypto import PURPOSE_FIELD, PURPOSE_INDEX
from marac.people.models import PersonTerm

FIELDS_TARGET = 5_000


def run_rotation(report: Report, kind: str, *, persons: int, workers: int, seed: int, keep: bool) -> None:
    """Generate `persons`, then rotate the field key (target) and the index key (figure only), timing each."""
    from marac.rotation import rotate_keys

    report.heading(f"Key rotation on {kind}: {persons:,} persons")
    with bench_database(kind, keep=keep) as bench:
        generate(bench, persons, report, pools=build_pools(seed), workers=workers, seed=seed, plain=False)
        with bench.app.app_context():
            began = time.perf_counter()
            rotation = rotate_keys(db.session, PURPOSE_FIELD, batch_size=1000)
            elapsed = time.perf_counter() - began
            rate = rotation.done_count / elapsed
            report.target(
                f"{kind}: field key rotation ({persons:,} persons, {rotation.done_count:,} values in {elapsed:.1f} s)",
                f"{rate:,.0f} fields/s",
                f">= {FIELDS_TARGET:,} fields/s",
                rate >= FIELDS_TARGET,
            )
        with bench.app.app_context():
            began = time.perf_counter()
            rotation = rotate_keys(db.session, PURPOSE_INDEX, batch_size=1000)
            elapsed = time.perf_counter() - began
            terms = db.session.scalar(select(func.count()).select_from(PersonTerm))
            report.figure(
                "index key rotation (terms rebuilt, no target)",
                f"{rotation.done_count:,} terms for {persons:,} persons in {elapsed:.1f} s: "
                f"{rotation.done_count / elapsed:,.0f} terms/s ({terms:,} terms after)",
            )
