"""Filling a benchmark database with synthetic persons and their blind-index terms, across worker processes."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult, Pool

from benchmarks.databases import BenchDatabase
from benchmarks.loading import Loader
from benchmarks.report import Report
from benchmarks.sealing import Chunk, ChunkSpec, RawKeys, init_worker, make_chunk, raw_keys
from benchmarks.synthetic import Pools
from marac import db as marac_db
from marac.people.services import PersonDetails

#: Persons per worker task and per SQLite transaction.
CHUNK = 10_000
#: Persons kept in plaintext (with their ids) for building probes.
SAMPLES = 2_000


@dataclass
class Generated:
    """What was written and how long it took."""

    persons: int = 0
    terms: int = 0
    elapsed: float = 0.0
    plain_elapsed: float = 0.0
    finish_elapsed: float = 0.0
    samples: list[tuple[int, PersonDetails]] = field(default_factory=list)


def default_workers() -> int:
    """One worker per core."""
    return max(1, os.cpu_count() or 1)


def specs(count: int, seed: int, sqlite: bool) -> list[ChunkSpec]:
    """Chunks covering person ids 1..count, each with its own seed."""
    every = max(1, count // SAMPLES)
    return [
        ChunkSpec(
            first_id=first,
            count=min(CHUNK, count - first + 1),
            seed=seed * 100_003 + first,
            sqlite=sqlite,
            sample_every=every,
        )
        for first in range(1, count + 1, CHUNK)
    ]


def _chunks(pool: Pool | None, window: int, todo: list[ChunkSpec], pools: Pools, keys: RawKeys) -> Iterator[Chunk]:
    """Chunks in order, at most a few ahead of the writer so memory stays flat."""
    if pool is None:
        init_worker(pools, keys)
        yield from map(make_chunk, todo)
        return
    pending: deque[AsyncResult[Chunk]] = deque()
    waiting = iter(todo)
    for spec in waiting:
        pending.append(pool.apply_async(make_chunk, (spec,)))
        if len(pending) >= window:
            break
    while pending:
        chunk = pending.popleft().get()
        following = next(waiting, None)
        if following is not None:
            pending.append(pool.apply_async(make_chunk, (following,)))
        yield chunk


def generate(
    bench: BenchDatabase, count: int, report: Report, *, pools: Pools, workers: int, seed: int, plain: bool
) -> Generated:
    """Write `count` persons with terms (and, when `plain`, the plaintext comparison rows) to `bench`."""
    with bench.app.app_context():
        keys = raw_keys(marac_db.session, bench.master)
    loader = Loader(bench.url)
    loader.start()
    result = Generated()
    pool = multiprocessing.get_context("spawn").Pool(workers, init_worker, (pools, keys)) if workers > 1 else None
    start = time.perf_counter()
    try:
        for chunk in _chunks(pool, 3 * workers, specs(count, seed, bench.kind == "sqlite"), pools, keys):
            _write(loader, chunk, result, plain)
            if result.persons % (count // 10 or 1) < CHUNK or result.persons == count:
                rate = result.persons / (time.perf_counter() - start)
                report.progress(f"{result.persons:,} persons, {result.terms:,} terms ({rate:,.0f} persons/s)")
        began = time.perf_counter()
        loader.finish()
        result.finish_elapsed = time.perf_counter() - began
        result.elapsed = time.perf_counter() - start - result.plain_elapsed
        if plain:
            began = time.perf_counter()
            loader.finish_plain()
            result.plain_elapsed += time.perf_counter() - began
    finally:
        if pool is not None:
            pool.terminate()
        loader.close()
    return result


def _write(loader: Loader, chunk: Chunk, result: Generated, plain: bool) -> None:
    loader.write(chunk)
    result.persons += len(chunk.persons)
    result.terms += len(chunk.terms)
    result.samples.extend(chunk.samples)
    if plain:
        began = time.perf_counter()
        loader.write_plain(chunk.plain)
        result.plain_elapsed += time.perf_counter() - began
