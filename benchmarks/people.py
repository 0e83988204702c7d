"""The people benchmark: generate persons, then time candidate lookups against a plaintext index of the same values.

Each probe is looked up twice, alternating which goes first so noise falls on both alike:

* encrypted: the real `find_candidates` (digests -> person_terms -> scoring), then the top candidates loaded and
  their names decrypted, as the matching page does;
* plaintext: the same queries on `bench_plain_terms` (values IN (...) ranked by summed evidence per person, then the
  top persons' rows -> `score_rows` -> the same loading).

The plaintext twin copies the shape of `find_candidates`' index queries; if that function changes shape, the
"same candidates both ways" figure drops below 100% and a warning says the twin needs updating.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from sqlalchemy import case, func, select, text

from benchmarks.databases import BenchDatabase, bench_database
from benchmarks.generate import Generated, generate
from benchmarks.loading import PLAIN
from benchmarks.report import Report, ms, percentile
from benchmarks.synthetic import Pools, build_pools, probe, unknown
from marac import db
from marac.people.matching import WEIGHTS, Candidate, Identifiers, score_rows
from marac.people.services import find_candidates, persons_by_ids

#: Lookups done first and not counted (connections, caches, query compilation).
WARM_UP = 50
LOOKUP_TARGET = 0.020
RATIO_TARGET = 2.0
#: Share of probes for people who are not in the database.
UNKNOWN_SHARE = 0.2


@dataclass
class Probe:
    """A search: what changed from a stored person (or "unknown"), who it should find, and the identifiers."""

    kind: str
    expected: int | None
    ids: Identifiers


@dataclass
class Timings:
    """Seconds per lookup, and how well the lookups found the person each probe was made from."""

    encrypted: list[float] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)
    found: int = 0
    first: int = 0
    known: int = 0
    unknown_linkable: int = 0
    unknown: int = 0
    agree: int = 0
    rows: list[int] = field(default_factory=list)


def make_probes(generated: Generated, pools: Pools, count: int, seed: int) -> list[Probe]:
    """`count` probes: stored persons with one thing changed, and some people who are not stored."""
    rng = random.Random(seed)
    known = rng.sample(generated.samples, min(len(generated.samples), round(count * (1 - UNKNOWN_SHARE))))
    probes = [Probe(k, pid, d.identifiers()) for pid, d in known for k, d in [probe(rng, pools, d)]]
    while len(probes) < count:
        kind, details = unknown(rng, pools)
        probes.append(Probe(kind, None, details.identifiers()))
    rng.shuffle(probes)
    return probes


def _show(found: list[Candidate]) -> list[int]:
    """Load the top candidates and decrypt their names, as the page does; their ids in order."""
    people = persons_by_ids([c.person_id for c in found])
    names = [people[c.person_id].display_name for c in found]
    assert len(names) == len(found)
    return [c.person_id for c in found]


#: A lookup's candidate ids and candidates.
Result = tuple[list[int], list[Candidate]]
Lookup = Callable[[Flask, Identifiers], Result]
#: Candidates shown, as `find_candidates` defaults to.
LIMIT = 10


def encrypted_lookup(app: Flask, ids: Identifiers) -> Result:
    """The real lookup in a fresh app context (as a request has)."""
    with app.app_context():
        found = find_candidates(None, ids, limit=LIMIT, audit_search=False)
        return _show(found), found


def plain_lookup(app: Flask, ids: Identifiers) -> Result:
    """The same queries on plaintext values: persons ranked by summed evidence in the database, then their rows."""
    with app.app_context():
        values = [value for _name, value in ids.values()]
        weight = case(WEIGHTS, value=PLAIN.c.field, else_=0)
        ranked = select(PLAIN.c.person_id).where(PLAIN.c.value.in_(values)).group_by(PLAIN.c.person_id)
        ranked = ranked.order_by(func.sum(weight).desc(), PLAIN.c.person_id).limit(LIMIT * 3)
        top = list(db.session.scalars(ranked))
        query = select(PLAIN.c.person_id, PLAIN.c.field).where(PLAIN.c.value.in_(values), PLAIN.c.person_id.in_(top))
        found = score_rows((r[0], r[1]) for r in db.session.execute(query)) if top else []
        return _show(found[:LIMIT]), found[:LIMIT]


def matching_rows(app: Flask, ids: Identifiers) -> int:
    """How many index rows agree with the probe (untimed: says how crowded the lookups are)."""
    with app.app_context():
        values = [value for _name, value in ids.values()]
        return int(db.session.scalar(select(func.count()).where(PLAIN.c.value.in_(values))) or 0)


def time_lookups(app: Flask, probes: list[Probe]) -> Timings:
    """Both lookups for every probe (after a warm-up), alternating which goes first."""
    for item in probes[:WARM_UP]:
        encrypted_lookup(app, item.ids)
        plain_lookup(app, item.ids)
    timings = Timings()
    for index, item in enumerate(probes[WARM_UP:]):
        order: list[tuple[Lookup, list[float]]] = [(encrypted_lookup, timings.encrypted), (plain_lookup, timings.plain)]
        results = []
        for lookup, into in order if index % 2 == 0 else order[::-1]:
            began = time.perf_counter()
            results.append(lookup(app, item.ids))
            into.append(time.perf_counter() - began)
        encrypted, plain = results if index % 2 == 0 else results[::-1]
        _score(timings, item, encrypted[1], encrypted[0] == plain[0])
        timings.rows.append(matching_rows(app, item.ids))
    return timings


def _score(timings: Timings, item: Probe, found: list[Candidate], agree: bool) -> None:
    timings.agree += agree
    if item.expected is None:
        timings.unknown += 1
        timings.unknown_linkable += any(c.is_linkable for c in found)
        return
    timings.known += 1
    ids = [c.person_id for c in found]
    timings.found += item.expected in ids
    timings.first += bool(ids) and ids[0] == item.expected


def database_size(bench: BenchDatabase) -> str:
    """The database's size on disk."""
    if bench.kind == "sqlite":
        size = sum(p.stat().st_size for p in Path(bench.folder).glob("bench.db*"))
    else:
        with bench.app.app_context():
            size = db.session.scalar(text("SELECT pg_database_size(current_database())"))
    return f"{size / 2**30:.2f} GiB"


def report_generation(report: Report, generated: Generated, bench: BenchDatabase) -> None:
    """Rows per second and elapsed time of the generator, against the 10-minute target."""
    report.figure("persons written", f"{generated.persons:,} with {generated.terms:,} blind-index terms")
    report.figure(
        "rate",
        f"{generated.persons / generated.elapsed:,.0f} persons/s, "
        f"{(generated.persons + generated.terms) / generated.elapsed:,.0f} rows/s (persons + terms)",
    )
    minutes = generated.elapsed / 60
    report.target(
        f"{bench.kind}: generate {generated.persons:,} persons with terms",
        f"{generated.elapsed:.0f} s ({minutes:.1f} min)",
        "< 10 min",
        minutes < 10,
    )
    report.figure(
        "of which rebuilding the term indexes (and on PostgreSQL vacuum/analyse)", f"{generated.finish_elapsed:.0f} s"
    )
    report.figure("plaintext comparison table (benchmark only, not counted)", f"{generated.plain_elapsed:.0f} s")
    report.figure("database size", database_size(bench))


def report_lookups(report: Report, kind: str, timings: Timings) -> None:
    """p50/p95 of the real lookup, the plaintext comparison, and how well the probes found their person."""
    enc50, enc95 = percentile(timings.encrypted, 50), percentile(timings.encrypted, 95)
    pl50, pl95 = percentile(timings.plain, 50), percentile(timings.plain, 95)
    count = len(timings.encrypted)
    report.target(f"{kind}: candidate lookup p50 ({count} lookups)", ms(enc50), "< 20 ms", enc50 < LOOKUP_TARGET)
    report.target(f"{kind}: candidate lookup p95 ({count} lookups)", ms(enc95), "< 20 ms", enc95 < LOOKUP_TARGET)
    report.figure("plaintext-index lookup p50 / p95", f"{ms(pl50)} / {ms(pl95)}")
    report.target(f"{kind}: encrypted/plaintext ratio at p50", f"{enc50 / pl50:.2f}x", "<= 2x", enc50 / pl50 <= 2)
    report.figure("encrypted/plaintext ratio at p95", f"{enc95 / pl95:.2f}x")
    rows = [float(r) for r in timings.rows]
    report.figure(
        "index rows agreeing with a probe p50 / p95 / max",
        f"{percentile(rows, 50):.0f} / {percentile(rows, 95):.0f} / {max(rows):.0f}",
    )
    report.figure(
        "probes that found their person",
        f"{timings.found}/{timings.known} "
        f"(first: {timings.first}); unknown people with a linkable candidate: "
        f"{timings.unknown_linkable}/{timings.unknown}; same candidates both ways: {timings.agree}/{count}",
    )
    if timings.agree < count:
        print("  WARNING: the plaintext twin no longer finds what find_candidates finds: update plain_lookup")


def run_people(report: Report, kind: str, *, persons: int, lookups: int, workers: int, seed: int, keep: bool) -> None:
    """Generate `persons` on a fresh `kind` database, then time `lookups` candidate lookups on it."""
    report.heading(f"People at scale on {kind}: {persons:,} persons, {lookups} lookups, {workers} worker(s)")
    pools = build_pools(seed)
    with bench_database(kind, keep=keep) as bench:
        generated = generate(bench, persons, report, pools=pools, workers=workers, seed=seed, plain=True)
        report_generation(report, generated, bench)
        probes = make_probes(generated, pools, lookups + WARM_UP, seed + 1)
        report.progress(f"timing {len(probes)} lookups ({WARM_UP} warm-up)")
        report_lookups(report, kind, time_lookups(bench.app, probes))
