"""Bulk writes of generated rows: SQLite by executemany (one transaction per batch), PostgreSQL by binary COPY.

The blind-index table's indexes are dropped before the load and rebuilt from the model's own definitions after
it, as any bulk import would do; the rebuild is part of the timed generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text

from benchmarks.sealing import PERSON_COLUMNS, PLAIN_COLUMNS, TERM_COLUMNS, Chunk
from marac.db import Base, make_engine
from marac.people.models import Person, PersonTerm

#: Benchmark-only table: the same normalised values as person_terms, in plaintext, for the comparison lookup.
PLAIN = Table(
    "bench_plain_terms",
    MetaData(),
    Column("person_id", Integer, nullable=False),
    Column("field", String(20), nullable=False),
    Column("value", Text, nullable=False),
)
TERM_INDEXES = tuple(Base.metadata.tables[PersonTerm.__tablename__].indexes)
COLUMNS = {Person.__tablename__: PERSON_COLUMNS, PersonTerm.__tablename__: TERM_COLUMNS, PLAIN.name: PLAIN_COLUMNS}
POSTGRES_TYPES = {
    Person.__tablename__: ["int4", "text", "text", "text", "timestamptz", "timestamptz"]
    + ["bytea"] * (len(PERSON_COLUMNS) - 6),
    PersonTerm.__tablename__: ["int4", "text", "int4", "bytea"],
    PLAIN.name: ["int4", "text", "text"],
}


def _insert_sql(table: str, columns: Sequence[str]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608


class Loader:
    """Writes chunks to one database through a loading engine of its own (so its settings stay out of lookups)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self.is_sqlite = url.startswith("sqlite")

    def start(self) -> None:
        """Drop the term indexes and create the plaintext comparison table (its index comes after the load)."""
        with self.engine.begin() as conn:
            for index in TERM_INDEXES:
                index.drop(conn)
            PLAIN.create(conn)

    def write(self, chunk: Chunk) -> None:
        """Persons and their terms, in one transaction."""
        self._write({Person.__tablename__: chunk.persons, PersonTerm.__tablename__: chunk.terms})

    def write_plain(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of the plaintext comparison table."""
        self._write({PLAIN.name: rows})

    def _write(self, tables: dict[str, list[tuple[Any, ...]]]) -> None:
        with self.engine.begin() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB for this loading connection only
                for table, rows in tables.items():
                    conn.exec_driver_sql(_insert_sql(table, COLUMNS[table]), rows)
                return
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cursor:
                for table, rows in tables.items():
                    sql = f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN (FORMAT BINARY)"
                    with cursor.copy(sql) as copy:
                        copy.set_types(POSTGRES_TYPES[table])
                        for row in rows:
                            copy.write_row(row)

    def finish(self) -> None:
        """Rebuild the term indexes; on PostgreSQL also move the id sequence on and vacuum and analyse."""
        with self.engine.begin() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("PRAGMA cache_size=-262144")
            for index in TERM_INDEXES:
                index.create(conn)
            if not self.is_sqlite:
                conn.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('persons', 'id'), (SELECT max(id) FROM persons))"
                )
        if not self.is_sqlite:
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE persons")
                conn.exec_driver_sql("VACUUM ANALYZE person_terms")

    def finish_plain(self) -> None:
        """Index the plaintext comparison table."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("CREATE INDEX ix_bench_plain_terms_value ON bench_plain_terms (value)")
            if not self.is_sqlite:
                conn.exec_driver_sql("ANALYZE bench_plain_terms")

    def close(self) -> None:
        """Release the loading engine."""
        self.engine.dispose()
