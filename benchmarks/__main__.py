"""Run every benchmark and print its figures."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from argon2 import PasswordHasher, Type

from marac.config import load_settings


def argon2_cost() -> None:
    """Time per hash and per verification at the configured argon2id cost."""
    settings = load_settings({"MARAC_INSTANCE_PATH": tempfile.mkdtemp()})
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

    tmp = Path(tempfile.mkdtemp())
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
    print(
        f"audit append (SQLite, one commit each): {count / elapsed:.0f} events/s; "
        f"verify {checked / verify_elapsed:.0f} events/s, intact={problem is None}"
    )


if __name__ == "__main__":
    argon2_cost()
    audit_append()
