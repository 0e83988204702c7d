"""Importing incidents from a police system's CSV file: one row per child, rows sharing a police reference form
one incident. Every row is checked and reported by its row number; all rows are imported, or none."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from marac import audit, db
from marac.access import can_record_incidents
from marac.encompass.services.intake import (
    ADDED,
    BY_URN,
    HOME_EDUCATED,
    MAX_CHILDREN,
    NOT_KNOWN,
    ChildInput,
    IncidentInput,
    Lookups,
    check_incident,
    lookups_for,
)
from marac.encompass.services.recording import store_incidents

MAX_BYTES = 2 * 1024 * 1024
MAX_ROWS = 5000
COLUMNS = (
    "police_reference",
    "incident_date",
    "incident_time",
    "place",
    "circumstances",
    "child_given_name",
    "child_family_name",
    "child_dob",
    "urn",
    "local_authority",
    "present",
    "location",
    "spoken_to",
    "child_said",
    "other_adult",
)
EXAMPLE = (
    "AB/12345/26",
    "2026-11-20",
    "18:30",
    "Street or area",
    "Short circumstances",
    "Given",
    "Family",
    "2015-06-04",
    "100001",
    "",
    "yes",
    "In the living room",
    "no",
    "",
    "",
)
YES, NO = {"yes", "y", "true", "1"}, {"no", "n", "false", "0"}


@dataclass
class RowResult:
    """One row's outcome: "added", "already recorded", "not imported" (another row was wrong) or "error"."""

    number: int
    status: str
    messages: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """What an import did: problems with the file itself, or one result per row."""

    file_errors: list[str] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)
    imported: bool = False

    def count(self, status: str) -> int:
        """How many rows ended with `status`."""
        return sum(r.status == status for r in self.rows)


def template_csv() -> str:
    """A CSV with the heading row and one made-up example row."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerow(EXAMPLE)
    return out.getvalue()


def read_rows(content: bytes) -> tuple[list[dict[str, str]], list[str]]:
    """The file's rows as dictionaries, or the reasons the file cannot be read at all."""
    if len(content) > MAX_BYTES:
        return [], ["The file must be 2 MB or smaller"]
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], ["The file must be saved as CSV UTF-8"]
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            return [], [f"The heading row is missing: {', '.join(missing)}"]
        rows: list[dict[str, str]] = []
        for row in reader:
            if len(rows) >= MAX_ROWS:
                return [], [f"The file has more than {MAX_ROWS:,} rows: split it into smaller files"]
            rows.append({c: (row.get(c) or "").strip() for c in COLUMNS})
    except csv.Error:
        return [], ["The file is not a readable CSV file"]
    if not rows:
        return [], ["The file has no rows below the heading row"]
    return rows, []


def _date(value: str) -> date | None:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, fmt).date()  # noqa: DTZ007 - a calendar date, no time
        except ValueError:
            continue
    return None


def _yes_no(value: str) -> bool | None:
    folded = value.casefold()
    return True if folded in YES else False if folded in NO else None


def child_from(row: dict[str, str], lookups: Lookups) -> tuple[ChildInput, list[str]]:
    """The child a row describes, and any problem only the row's raw text shows."""
    urn, problems = row["urn"], []
    choice = HOME_EDUCATED if urn.upper() == "EHE" else NOT_KNOWN if not urn else BY_URN
    names = {a.name.casefold(): a.id for a in lookups.authorities.values()}
    authority = names.get(row["local_authority"].casefold()) if row["local_authority"] else None
    if row["local_authority"] and authority is None:
        problems.append(
            f"local_authority: no local authority serving your areas is called {row['local_authority'][:80]}"
        )
    for name in ("present", "spoken_to"):
        if row[name] and _yes_no(row[name]) is None:
            problems.append(f"{name}: enter yes or no")
    if row["child_dob"] and _date(row["child_dob"]) is None:
        problems.append("child_dob: enter the date of birth like 2015-06-04")
    child = ChildInput(
        given_name=row["child_given_name"],
        family_name=row["child_family_name"],
        date_of_birth=_date(row["child_dob"]),
        setting_choice=choice,
        urn=urn if choice == BY_URN else "",
        local_authority_id=authority,
        present=_yes_no(row["present"]),
        location=row["location"],
        spoken_to=_yes_no(row["spoken_to"]),
        child_said=row["child_said"],
        other_adult=row["other_adult"],
    )
    return child, problems


def incident_from(row: dict[str, str], child: ChildInput) -> IncidentInput:
    """The incident a row describes, with the row's one child."""
    return IncidentInput(
        police_reference=row["police_reference"],
        occurred_on=_date(row["incident_date"]),
        occurred_time=row["incident_time"],
        place=row["place"],
        circumstances=row["circumstances"],
        children=[child],
    )


def _plain(message: str) -> str:
    """A checker's message without the child's position (a row holds one child)."""
    rest = message.removeprefix("Child 1: ")
    return rest[:1].upper() + rest[1:]


def check_rows(rows: list[dict[str, str]], lookups: Lookups) -> tuple[list[RowResult], dict[str, list[Any]]]:
    """Each row's problems, and the valid rows grouped into incidents by police reference."""
    now = db.utcnow()
    results, groups = [], defaultdict(list)
    first_of: dict[str, tuple[int, tuple[str, str]]] = {}
    for index, row in enumerate(rows):
        number = index + 2  # the heading is row 1
        child, problems = child_from(row, lookups)
        incident = incident_from(row, child)
        problems = [*problems, *(_plain(m) for _k, m in check_incident(incident, lookups, now))]
        reference, when = row["police_reference"], (row["incident_date"], row["incident_time"])
        first = first_of.setdefault(reference, (number, when))
        if first[1] != when:
            problems.append(f"The incident date and time differ from row {first[0]} with the same police reference")
        groups[reference].append((number, incident))
        if len(groups[reference]) > MAX_CHILDREN:
            problems.append(f"More than {MAX_CHILDREN} children share this police reference")
        results.append(RowResult(number, "error" if problems else "", problems))
    return results, groups


def import_incidents_csv(actor: Any, content: bytes) -> ImportReport:
    """Check every row and import them all, or none when any row is wrong; re-importing adds nothing twice."""
    if not can_record_incidents(actor):
        raise PermissionError("only police officers import Operation Encompass incidents")
    rows, file_errors = read_rows(content)
    if file_errors:
        return ImportReport(file_errors=file_errors)
    lookups = lookups_for(actor, [r["urn"] for r in rows if r["urn"].upper() != "EHE"], closures=True)
    results, groups = check_rows(rows, lookups)
    report = ImportReport(rows=results)
    if any(r.status == "error" for r in results):
        for r in results:
            r.status = r.status or "not imported"
        return report
    by_number = {r.number: r for r in results}
    merged = []
    for entries in groups.values():
        incident = entries[0][1]
        incident.children = [row_incident.children[0] for _n, row_incident in entries]
        merged.append(incident)
    # one batch: every reference's lock taken in one order before the audit chain's, as any other intake does
    outcomes = store_incidents(actor, merged, lookups, source="import")
    incidents = sum(outcome.is_new for outcome in outcomes)
    for entries, outcome in zip(groups.values(), outcomes, strict=True):
        for (number, _incident), child in zip(entries, outcome.children, strict=True):
            by_number[number].status = child.status
    report.imported = True
    audit.record(
        "encompass.import",
        actor=actor,
        object_type="encompass_import",
        details={
            "rows": len(results),
            "incidents_new": incidents,
            "added": report.count(ADDED),
            "already": len(results) - report.count(ADDED),
        },
    )
    return report
