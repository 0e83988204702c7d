"""Term calendars: a setting's holidays and training days, added one at a time or imported from a CSV file that a
local authority publishes for its maintained schools (every row valid, or nothing imported; re-importing the same
rows adds nothing)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select

from marac import audit, db
from marac.encompass.models import ClosureKind, EducationSetting, SettingClosure
from marac.encompass.services.settings import SettingError, academic_year

MAX_BYTES = 1024 * 1024
MAX_ROWS = 2000
MAX_LABEL = 80
#: How far from today a closure may be (either way).
WINDOW = timedelta(days=730)
COLUMNS = ["kind", "starts_on", "ends_on", "label"]
DATE_PATTERN = re.compile(r"(?P<y1>\d{4})-(?P<m1>\d{2})-(?P<d1>\d{2})|(?P<d2>\d{1,2})/(?P<m2>\d{1,2})/(?P<y2>\d{4})")
KIND_LABELS = {ClosureKind.HOLIDAY.value: "Holiday", ClosureKind.TRAINING_DAY.value: "Training day"}


#: The longest holiday (a summer holiday is 6 to 7 weeks; a typo spanning a year would stop every due time).
MAX_CLOSURE_DAYS = 70


@dataclass(frozen=True)
class ClosureRow:
    """A valid closure: kind, first and last day closed, label."""

    kind: str
    starts_on: date
    ends_on: date
    label: str | None


class CalendarFileError(ValueError):
    """The file as a whole cannot be read (encoding, size, header)."""


def closures_between(setting: EducationSetting, start: date, end: date) -> list[SettingClosure]:
    """The setting's closures overlapping start..end, in date order."""
    query = select(SettingClosure).where(
        SettingClosure.setting_id == setting.id, SettingClosure.starts_on <= end, SettingClosure.ends_on >= start
    )
    return list(db.session.scalars(query.order_by(SettingClosure.starts_on, SettingClosure.id)))


def calendar_years(today: date) -> tuple[date, date]:
    """From the start of this academic year to the end of the next one."""
    start, end = academic_year(today)
    return start, end.replace(year=end.year + 1)


def check_closure(
    kind: str, starts_on: date | None, ends_on: date | None, label: str | None, today: date
) -> ClosureRow:
    """A closure, or a SettingError naming what is wrong (the field is the CSV column)."""
    if kind not in KIND_LABELS:
        raise SettingError("kind must be holiday or training_day", "kind")
    if starts_on is None:
        raise SettingError("starts_on is missing", "starts_on")
    if kind == ClosureKind.TRAINING_DAY.value:
        ends_on = ends_on or starts_on
        if ends_on != starts_on:
            raise SettingError("a training day ends on the day it starts", "ends_on")
    if ends_on is None:
        raise SettingError("ends_on is missing", "ends_on")
    if ends_on < starts_on:
        raise SettingError("ends_on is before starts_on", "ends_on")
    if (ends_on - starts_on).days + 1 > MAX_CLOSURE_DAYS:
        raise SettingError(f"a holiday is at most {MAX_CLOSURE_DAYS // 7} weeks long", "ends_on")
    if starts_on < today - WINDOW or ends_on > today + WINDOW:
        raise SettingError("dates must be within 2 years of today", "starts_on")
    label = " ".join((label or "").split()) or None
    if label and len(label) > MAX_LABEL:
        raise SettingError(f"label must be {MAX_LABEL} characters or fewer", "label")
    return ClosureRow(kind, starts_on, ends_on, label)


def _key(row: ClosureRow | SettingClosure) -> tuple[str, date, date]:
    return (row.kind, row.starts_on, row.ends_on)


def add_closures(actor: Any, settings: list[EducationSetting], rows: list[ClosureRow], source: str) -> int:
    """Add the rows to each setting, skipping any the setting already has (same kind and dates): returns how many
    were added. Audited per setting with counts only."""
    ids = [s.id for s in settings]
    existing: dict[int, set[tuple[str, date, date]]] = {i: set() for i in ids}
    for closure in db.session.scalars(select(SettingClosure).where(SettingClosure.setting_id.in_(ids))):
        existing[closure.setting_id].add(_key(closure))
    added = 0
    for setting in settings:
        new = 0
        for row in rows:
            if _key(row) in existing[setting.id]:
                continue
            existing[setting.id].add(_key(row))
            db.session.add(
                SettingClosure(
                    setting_id=setting.id, kind=row.kind, starts_on=row.starts_on, ends_on=row.ends_on, label=row.label
                )
            )
            new += 1
        audit.record(
            "encompass.calendar_import" if source == "import" else "encompass.closure_add",
            actor=actor,
            object_type="education_setting",
            object_id=setting.public_id,
            details={"rows": len(rows), "added": new},
        )
        added += new
    db.session.flush()
    return added


def remove_closure(actor: Any, setting: EducationSetting, closure_id: int) -> bool:
    """Remove one of the setting's closures; False when it has no such closure."""
    closure = db.session.get(SettingClosure, closure_id)
    if closure is None or closure.setting_id != setting.id:
        return False
    db.session.delete(closure)
    db.session.flush()
    audit.record(
        "encompass.closure_remove",
        actor=actor,
        object_type="education_setting",
        object_id=setting.public_id,
        details={"kind": closure.kind},
    )
    return True


def _parse_date(value: str) -> date | None:
    """A date written YYYY-MM-DD or DD/MM/YYYY, or None."""
    match = DATE_PATTERN.fullmatch(value.strip())
    if match is None:
        return None
    year, month, day = (
        (match["y1"], match["m1"], match["d1"]) if match["y1"] else (match["y2"], match["m2"], match["d2"])
    )
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def _decode(data: bytes) -> list[list[str]]:
    if len(data) > MAX_BYTES:
        raise CalendarFileError("The file must be 1 MB or smaller")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CalendarFileError("The file must be a CSV file saved as UTF-8") from None
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise CalendarFileError("The file could not be read as CSV") from None


def _row(cells: list[str], today: date) -> ClosureRow:
    cells = [*(c.strip() for c in cells), "", "", "", ""]
    kind, start_text, end_text, label = cells[:4]
    starts_on = _parse_date(start_text) if start_text else None
    if start_text and starts_on is None:
        raise SettingError("starts_on must be a date like 2026-10-26 or 26/10/2026")
    ends_on = _parse_date(end_text) if end_text else None
    if end_text and ends_on is None:
        raise SettingError("ends_on must be a date like 2026-10-30 or 30/10/2026")
    return check_closure(kind.lower(), starts_on, ends_on, label, today)


def parse_calendar(data: bytes, today: date) -> tuple[list[ClosureRow], list[str]]:
    """Rows from a term-calendar CSV (header `kind,starts_on,ends_on,label`) and per-row errors ("Row 4: ...",
    counting the header as row 1). Raises CalendarFileError when the file as a whole is unusable."""
    lines = _decode(data)
    if not lines or [c.strip().lower() for c in lines[0]] != COLUMNS:
        raise CalendarFileError("The first row must be the header: kind,starts_on,ends_on,label")
    body = [(number, cells) for number, cells in enumerate(lines[1:], start=2) if any(c.strip() for c in cells)]
    if not body:
        raise CalendarFileError("The file has no rows after the header")
    if len(body) > MAX_ROWS:
        raise CalendarFileError(f"The file must have {MAX_ROWS:,} rows or fewer")
    rows: list[ClosureRow] = []
    errors: list[str] = []
    for number, cells in body:
        if len(cells) > len(COLUMNS):
            errors.append(f"Row {number}: has more than {len(COLUMNS)} columns")
            continue
        try:
            rows.append(_row(cells, today))
        except SettingError as exc:
            errors.append(f"Row {number}: {exc}")
    return rows, errors


def authority_settings(setting: EducationSetting) -> list[EducationSetting]:
    """Every active setting of the same local authority (the setting itself included), by name."""
    query = select(EducationSetting).where(
        EducationSetting.local_authority_id == setting.local_authority_id, EducationSetting.is_active.is_(True)
    )
    found = list(db.session.scalars(query.order_by(EducationSetting.name)))
    return found if setting in found else [setting, *found]
