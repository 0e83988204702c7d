"""The Operation Encompass night benchmark: a night's national volume recorded and through the outbox.

Built first (not timed): 20,000 settings in 20 local authorities across the three nations, each with a briefed key
adult and a term calendar (six holidays and five training days), on a SQLite or PostgreSQL database built by the real
migrations.
Timed: 5,000 incidents with 8,000 children (3,000 incidents with two children, 2,000 with one) recorded through
`record_incidents` in batches of 50 with one commit each, as a police system's feed arrives: each incident checked,
each child matched through the blind indexes and given a person record, a due time from the setting's calendar,
outbox rows and notification-centre entries, audit; settings and calendars are read once per batch. Then the outbox
is relayed with the file backend by `relay_once` until nothing is pending.
Target: intake and relay together under 60 s.
"""

from __future__ import annotations

import random
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from faker import Faker
from sqlalchemy import func, insert, select

from benchmarks.databases import bench_database
from benchmarks.encompass_due import DAY_STARTS, NATIONS, term_calendar
from benchmarks.report import Report
from marac import db
from marac.access import Role, acting_offline
from marac.auth.accounts import create_user
from marac.auth.models import User, UserRole
from marac.encompass.models import EducationSetting, EncompassAuthority, KeyAdult, SettingClosure
from marac.encompass.services.intake import BY_URN, ChildInput, IncidentInput
from marac.encompass.services.recording import record_incidents
from marac.notify.backends import FileBackend
from marac.notify.models import OutboxMessage
from marac.notify.relay import relay_once
from marac.orgs.models import Agency, AgencyKind
from marac.orgs.services import save_agency, save_area

SETTINGS = 20_000
INCIDENTS = 5_000
CHILDREN = 8_000
AUTHORITIES = 20
TARGET_SECONDS = 60.0
COMMIT_EVERY = 50
#: The night: incidents from 18:00 on Tuesday 24 November 2026 to 05:59 on Wednesday; "now" is 06:00.
NIGHT_START = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def _bulk(model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 5000):
        db.session.execute(insert(model), rows[start : start + 5000])


def build_settings(rng: random.Random) -> tuple[Any, list[str]]:
    """Authorities, settings with a briefed key adult each and their term calendars; an officer. (officer, urns)"""
    area = save_area(None, name="Bench MARAC")
    police = save_agency(None, name="Bench Police", kind=AgencyKind.POLICE.value, areas=[area])
    authorities = [
        save_agency(None, name=f"Bench Council {n}", kind=AgencyKind.LOCAL_AUTHORITY.value, areas=[area])
        for n in range(AUTHORITIES)
    ]
    db.session.add_all(EncompassAuthority(local_authority_id=a.id) for a in authorities)
    _bulk(Agency, [
        {"name": f"Bench School {n}", "kind": AgencyKind.EDUCATION.value, "is_active": True} for n in range(SETTINGS)
    ])  # fmt: skip  # each setting's own agency: its key adults work there
    school_ids = list(
        db.session.scalars(select(Agency.id).where(Agency.name.like("Bench School %")).order_by(Agency.id))
    )
    officer, _ = create_user(
        None,
        email="officer@bench.example",
        display_name="Bench Officer",
        agency=police,
        roles=[Role.REFERRER.value],
        areas=[area],
        now=NOW,
        password=f"bench-{rng.random()}-password",
    )
    nations = [n for n, _ in NATIONS]
    weights = [w for _, w in NATIONS]
    urns = [str(100000 + n) for n in range(SETTINGS)]
    _bulk(EducationSetting, [
        {"urn": urn, "name": f"Bench School {n}", "local_authority_id": authorities[n % AUTHORITIES].id,
         "agency_id": school_ids[n], "nation": rng.choices(nations, weights)[0].value,
         "day_start": rng.choice(DAY_STARTS), "is_active": True}
        for n, urn in enumerate(urns)
    ])  # fmt: skip
    setting_ids = list(db.session.scalars(select(EducationSetting.id).order_by(EducationSetting.id)))
    _bulk(User, [
        {"email": f"key{n}@bench.example", "display_name": f"Key Adult {n}", "agency_id": school_ids[n],
         "password_hash": "!", "must_change_password": False}
        for n in range(SETTINGS)
    ])  # fmt: skip
    user_ids = list(db.session.scalars(select(User.id).where(User.email.like("key%@bench.example")).order_by(User.id)))
    _bulk(UserRole, [{"user_id": u, "role": Role.KEY_ADULT.value} for u in user_ids])
    _bulk(KeyAdult, [
        {"setting_id": s, "user_id": u, "rank": 1, "briefed_on": date(2026, 9, 1)}
        for s, u in zip(setting_ids, user_ids, strict=True)
    ])  # fmt: skip
    closures = []
    for setting_id in setting_ids:
        calendar = term_calendar(rng)
        closures += [
            {"setting_id": setting_id, "kind": "holiday", "starts_on": a, "ends_on": b} for a, b in calendar.holidays
        ]
        closures += [{"setting_id": setting_id, "kind": "training_day", "starts_on": d, "ends_on": d}
                     for d in calendar.training_days]  # fmt: skip
    _bulk(SettingClosure, closures)
    db.session.commit()
    return officer, urns


def make_incidents(rng: random.Random, urns: list[str]) -> list[IncidentInput]:
    """INCIDENTS incidents over the night, CHILDREN children at random settings."""
    fake = Faker("en_GB")
    fake.seed_instance(rng.random())
    incidents = []
    for n in range(INCIDENTS):
        at = NIGHT_START + timedelta(seconds=rng.randrange(12 * 3600))
        local = at.astimezone(UTC)  # November: London is on UTC
        children = [
            ChildInput(
                given_name=fake.first_name(),
                family_name=fake.last_name(),
                date_of_birth=date(2010, 1, 1) + timedelta(days=rng.randrange(4000)),
                setting_choice=BY_URN,
                urn=rng.choice(urns),
                present=rng.random() < 0.6,
                location="At home",
                spoken_to=rng.random() < 0.3,
            )
            for _ in range(2 if n < CHILDREN - INCIDENTS else 1)
        ]
        incidents.append(
            IncidentInput(
                police_reference=f"BN/{n:06d}/26",
                occurred_on=local.date(),
                occurred_time=clock_time(local.hour, local.minute).strftime("%H:%M"),
                place="Bench Street",
                circumstances="Synthetic incident for the benchmark",
                children=children,
            )
        )
    return incidents


def run_encompass_night(report: Report, kind: str, *, seed: int, keep: bool = False) -> None:
    """Record a night's incidents and relay the outbox on `kind` (sqlite or postgres); print the figures against the
    60 s target."""
    report.heading(
        f"Operation Encompass night ({kind}): {INCIDENTS:,} incidents, {CHILDREN:,} children, {SETTINGS:,} settings"
    )
    rng = random.Random(seed)
    with bench_database(kind, keep=keep) as bench, bench.app.app_context():
        bench.app.config["MARAC_CLOCK"] = lambda: NOW
        start = time.perf_counter()
        officer, urns = build_settings(rng)
        incidents = make_incidents(rng, urns)
        report.figure("settings, key adults and calendars built (not timed)", f"{time.perf_counter() - start:.1f} s")
        start = time.perf_counter()
        with acting_offline([officer]):
            for first in range(0, len(incidents), COMMIT_EVERY):
                record_incidents(officer, incidents[first : first + COMMIT_EVERY])
                db.session.commit()
                if (first + COMMIT_EVERY) % 1000 == 0:
                    report.progress(f"{first + COMMIT_EVERY:,} incidents in {time.perf_counter() - start:.1f} s")
        db.session.commit()
        intake = time.perf_counter() - start
        queued = db.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
        with tempfile.TemporaryDirectory(prefix="marac-bench-outbox-") as folder:
            backend = FileBackend(Path(folder))
            start, sent = time.perf_counter(), 0
            while (result := relay_once(100, backend)).claimed:
                sent += result.sent
            relay = time.perf_counter() - start
            files = len(list(Path(folder).glob("*.eml")))
    total = intake + relay
    report.figure(
        "intake (checks, matching, due times, outbox rows)",
        f"{intake:.1f} s ({intake / CHILDREN * 1000:.2f} ms per child)",
    )
    report.figure("relay (file backend)", f"{relay:.1f} s, {sent:,} of {queued:,} messages sent, {files:,} files")
    report.target(
        f"night through the outbox ({kind})",
        f"{total:.1f} s",
        f"< {TARGET_SECONDS:.0f} s",
        total < TARGET_SECONDS and sent == queued == CHILDREN,
    )
