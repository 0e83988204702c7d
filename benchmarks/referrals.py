"""The referrals benchmark: at scale (100,000 cases by default), time every referral step through the real pages and
the MARAC criteria evaluation.

The database holds generated persons (victim and perpetrator of each case, sealed with blind-index terms, by the
people generator), then cases in three areas with their parties, ~1.5 incidents each, a referral each and a
completed risk assessment for most (Core inserts; the sealed columns filled are sealed with the real Keyring).
Demo-style accounts (police referrer and supervisor, coordinator, IDVA) are made by `create_user` with a cheap
argon2 cost and an enrolled authenticator, and sign in through /sign-in and /sign-in/code like a user.

Each timed step is one real request through the Flask test client (routing, access checks, audit writes, templates);
the GET that shows a form is timed as its own step, and its CSRF token is used for the POST that follows.
"""

from __future__ import annotations

import contextvars
import cProfile
import io
import json
import pstats
import random
import re
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyotp
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Table, event, insert, select, text

from benchmarks.databases import BenchDatabase, bench_database
from benchmarks.generate import generate
from benchmarks.report import Report, ms, percentile
from benchmarks.sealing import RawKeys, raw_keys
from benchmarks.synthetic import Pools, build_pools, person
from marac import db
from marac.access import Role
from marac.auth.accounts import create_user
from marac.cases.criteria import evaluate
from marac.cases.models import Case, CaseParty, Incident, Questionnaire, Referral, RiskAssessment
from marac.cases.questionnaires import questions_of
from marac.crypto import TEXT, AadParts, Keyring
from marac.orgs.models import AgencyKind
from marac.orgs.services import save_agency, save_area

STEP_TARGET = 0.150
CRITERIA_TARGET = 0.020
#: Referrals walked first and not counted (connections, caches, template compilation).
WARM_UP = 5
EVALUATE_WARM_UP = 50
#: Steps whose p95 reaches this share of the target are profiled after the walk.
PROFILE_FROM = 0.5
PASSWORD = "correct horse battery staple"  # noqa: S105 (synthetic benchmark accounts)
AREAS = ("Benchvale North MARAC", "Benchvale South MARAC", "Benchvale East MARAC")
AGENCIES = (
    ("Benchvale Police", AgencyKind.POLICE, 60),
    ("Benchvale IDVA Service", AgencyKind.IDVA_SERVICE, 15),
    ("Benchvale Health NHS Trust", AgencyKind.HEALTH, 10),
    ("Benchvale Children's Services", AgencyKind.CHILDRENS_SOCIAL_CARE, 8),
    ("Benchvale Council MARAC Team", AgencyKind.LOCAL_AUTHORITY, 7),
)
#: Status of a generated case (weights): mostly open or closed, a few still with the supervisor or coordinator.
STATUSES = (
    ("closed", 780),
    ("open", 170),
    ("below_threshold", 30),
    ("duplicate", 5),
    ("draft", 10),
    ("awaiting_sign_off", 1),
    ("awaiting_decision", 1),
    ("returned", 1),
)
#: Share of cases that are a repeat referral of an earlier case's victim and perpetrator.
REPEAT_SHARE = 0.12
ASSESSED_SHARE = 0.85
INCIDENTS_PER_CASE = (0, 1, 1, 2, 2, 3)
BATCH = 10_000
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
SELECTS = {"gender": "", "ethnicity": "", "disability": "", "sexual_orientation": ""}
REASON = "The victim fears for her life after threats made at the school gate last week."


class Clock:
    """The app's injectable clock (MARAC_CLOCK): moved on by the benchmark, never slept on."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.current += timedelta(seconds=seconds)


class Client(FlaskClient):
    """Each request in a fresh context, as a server runs it (nothing leaks between the benchmark and requests)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return contextvars.Context().run(super().open, *args, **kwargs)


@dataclass
class Account:
    """A signed-in browser for one user."""

    email: str
    secret: str
    client: Client
    token: str = ""


@dataclass
class World:
    """What the generated database holds that the timed walk needs."""

    area_id: str
    idva_id: str
    cases: int = 0
    persons: int = 0
    incidents: int = 0
    assessments: int = 0
    case_ids: list[int] = field(default_factory=list)
    elapsed: float = 0.0


# --- generation ----------------------------------------------------------------------------------------------------


def _seal(ring: Keyring, version: int, table: str, column: str, public_id: str, value: str) -> bytes:
    return ring.seal(TEXT.encode(value), AadParts(table, column, public_id), version)


def _weighted(rng: random.Random, table: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


@dataclass
class Rows:
    """Rows of one batch of cases, per table."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    parties: list[dict[str, Any]] = field(default_factory=list)
    incidents: list[dict[str, Any]] = field(default_factory=list)
    referrals: list[dict[str, Any]] = field(default_factory=list)
    assessments: list[dict[str, Any]] = field(default_factory=list)

    def tables(self) -> list[tuple[Table, list[dict[str, Any]]]]:
        """(table, rows) in foreign-key order."""
        return [
            (Case.__table__, self.cases),  # type: ignore[list-item]
            (CaseParty.__table__, self.parties),  # type: ignore[list-item]
            (Incident.__table__, self.incidents),  # type: ignore[list-item]
            (Referral.__table__, self.referrals),  # type: ignore[list-item]
            (RiskAssessment.__table__, self.assessments),  # type: ignore[list-item]
        ]


@dataclass
class Context:
    """What every generated case is made from."""

    rng: random.Random
    ring: Keyring
    keys: RawKeys
    areas: list[int]
    agencies: list[tuple[int, int]]
    questionnaire: int
    question_keys: list[str]
    today: date
    counters: dict[str, int] = field(default_factory=lambda: {"incident": 0, "assessment": 0})


def _case_rows(ctx: Context, rows: Rows, case_id: int, victim: int, perpetrator: int) -> None:
    rng, now = ctx.rng, datetime.now(UTC)
    referred_on = ctx.today - timedelta(days=rng.randrange(5 * 365))
    status = _weighted(rng, STATUSES)
    if status in ("draft", "awaiting_sign_off", "awaiting_decision", "returned"):
        referred_on = ctx.today - timedelta(days=rng.randrange(10))
    elif status == "open" and rng.random() < 0.7:
        referred_on = ctx.today - timedelta(days=rng.randrange(180))
    created = datetime.combine(referred_on, datetime.min.time(), UTC) + timedelta(seconds=rng.randrange(86400))
    agency = rng.choices([a for a, _ in ctx.agencies], weights=[w for _, w in ctx.agencies])[0]
    public_id = str(uuid.uuid4())
    rows.cases.append(
        {
            "id": case_id,
            "public_id": public_id,
            "reference": f"BM-{case_id:08d}",
            "area_id": rng.choice(ctx.areas),
            "referring_agency_id": agency,
            "referred_by_id": None,
            "assigned_idva_id": None,
            "victim_id": victim,
            "referred_on": referred_on,
            "status": status,
            "created_at": created,
        }
    )
    rows.parties.append(
        {
            "case_id": case_id,
            "person_id": victim,
            "role": "victim",
            "relationship_to_victim": None,
            "is_same_household": False,
            "created_at": now,
        }
    )
    rows.parties.append(
        {
            "case_id": case_id,
            "person_id": perpetrator,
            "role": "perpetrator",
            "relationship_to_victim": rng.choice(("partner", "ex_partner", "ex_partner", "family_member")),
            "is_same_household": rng.random() < 0.4,
            "created_at": now,
        }
    )
    for _ in range(rng.choice(INCIDENTS_PER_CASE)):
        ctx.counters["incident"] += 1
        incident_id = str(uuid.uuid4())
        rows.incidents.append(
            {
                "id": ctx.counters["incident"],
                "public_id": incident_id,
                "victim_id": victim,
                "perpetrator_id": perpetrator if rng.random() < 0.9 else None,
                "case_id": case_id if rng.random() < 0.6 else None,
                "agency_id": agency,
                "occurred_on": referred_on - timedelta(days=rng.randrange(365)),
                "created_at": created,
                "incident_type": "domestic_abuse",
                "children_present": rng.random() < 0.3,
                "police_reference_enc": _seal(
                    ctx.ring, ctx.keys.field_version, "incidents", "police_reference", incident_id, f"NV/{case_id}"
                ),
                "summary_enc": None,
            }
        )
    _referral_rows(ctx, rows, case_id, status, created)


def _referral_rows(ctx: Context, rows: Rows, case_id: int, status: str, created: datetime) -> None:
    rng = ctx.rng
    submitted = None if status in ("draft", "returned") else created + timedelta(hours=rng.randrange(1, 48))
    signed = submitted + timedelta(hours=rng.randrange(1, 24)) if submitted and status != "awaiting_sign_off" else None
    decided = signed + timedelta(hours=rng.randrange(1, 72)) if signed and status != "awaiting_decision" else None
    decision = {"closed": "accepted", "open": "accepted", "below_threshold": "below_threshold"}.get(status)
    score = None
    if rng.random() < ASSESSED_SHARE or status not in ("draft", "returned"):
        ctx.counters["assessment"] += 1
        assessment_id = str(uuid.uuid4())
        yes = rng.randrange(4, 22)
        answers = {
            key: "yes" if n < yes else rng.choice(("no", "not_known")) for n, key in enumerate(ctx.question_keys)
        }
        score = yes
        grade = "high" if yes >= 14 else "medium" if yes >= 10 else "standard"
        rows.assessments.append(
            {
                "id": ctx.counters["assessment"],
                "public_id": assessment_id,
                "case_id": case_id,
                "questionnaire_id": ctx.questionnaire,
                "assessed_by_id": None,
                "status": "complete",
                "score": score,
                "score_grade": grade,
                "grade": grade,
                "is_judgement_raised": False,
                "created_at": created,
                "completed_at": created + timedelta(minutes=30),
                "answers_enc": _seal(
                    ctx.ring,
                    ctx.keys.field_version,
                    "risk_assessments",
                    "answers",
                    assessment_id,
                    json.dumps(answers, sort_keys=True),
                ),
                "fears_enc": _seal(
                    ctx.ring,
                    ctx.keys.field_version,
                    "risk_assessments",
                    "fears",
                    assessment_id,
                    "That he will find her",
                ),
                "judgement_reasons_enc": None,
            }
        )
    rows.referrals.append(
        {
            "id": case_id,
            "public_id": str(uuid.uuid4()),
            "case_id": case_id,
            "step": "details",
            "criteria": "visible_high_risk" if score is not None and score >= 14 else "professional_judgement",
            "consent": "given",
            "is_safe_to_call": True,
            "submitted_at": submitted,
            "signed_off_at": signed,
            "decided_at": decided,
            "decision": decision,
        }
    )


def _batches(ctx: Context, count: int) -> Iterator[Rows]:
    """Cases 1..count: case i's victim and perpetrator are persons 2i-1 and 2i, or an earlier case's (a repeat)."""
    rows = Rows()
    for case_id in range(1, count + 1):
        earlier = ctx.rng.randrange(1, case_id) if case_id > 1 and ctx.rng.random() < REPEAT_SHARE else case_id
        _case_rows(ctx, rows, case_id, 2 * earlier - 1, 2 * earlier)
        if len(rows.cases) >= BATCH:
            yield rows
            rows = Rows()
    if rows.cases:
        yield rows


def _organisations(app: Flask) -> tuple[list[int], list[tuple[int, int]], int, list[str]]:
    with app.app_context():
        areas = [save_area(None, name=name) for name in AREAS]
        agencies = [
            (save_agency(None, name=name, kind=kind.value, areas=areas), weight) for name, kind, weight in AGENCIES
        ]
        questionnaire = db.session.scalar(
            select(Questionnaire).where(Questionnaire.key == "dash-ric", Questionnaire.is_active)
        )
        assert questionnaire is not None, "the migrations load the built-in questionnaires"
        db.session.commit()
        keys = [q["key"] for q in questions_of(questionnaire.definition)]
        return [a.id for a in areas], [(a.id, w) for a, w in agencies], questionnaire.id, keys


def generate_cases(bench: BenchDatabase, count: int, report: Report, *, pools: Pools, workers: int, seed: int) -> int:
    """Persons (2 per case) through the people generator, then the cases' rows by Core inserts; the incident count."""
    generate(bench, 2 * count, report, pools=pools, workers=workers, seed=seed, plain=False)
    areas, agencies, questionnaire, question_keys = _organisations(bench.app)
    with bench.app.app_context():
        keys = raw_keys(db.session, bench.master)
    ctx = Context(
        random.Random(seed + 7),
        keys.keyring(),
        keys,
        areas,
        agencies,
        questionnaire,
        question_keys,
        datetime.now(UTC).date(),
    )
    engine = bench.engine
    done = 0
    for rows in _batches(ctx, count):
        with engine.begin() as conn:
            for table, batch in rows.tables():
                if batch:
                    conn.execute(insert(table), batch)
        done += len(rows.cases)
        if done % (count // 5 or 1) < BATCH:
            report.progress(f"{done:,} cases, {ctx.counters['incident']:,} incidents")
    with engine.begin() as conn:
        if bench.kind == "postgres":
            for name in ("cases", "case_parties", "incidents", "referrals", "risk_assessments"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"  # noqa: S608
                )
        else:
            conn.exec_driver_sql("ANALYZE")
    if bench.kind == "postgres":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    return ctx.counters["incident"]


# --- accounts and signing in ---------------------------------------------------------------------------------------


def make_accounts(app: Flask) -> dict[str, tuple[str, str]]:
    """Demo-style accounts (email, TOTP secret): referrer and supervisor at the police, coordinator for the first
    area, and an IDVA."""
    made = {}
    with app.app_context():
        from marac.orgs.models import Agency, Area

        agencies = {a.name: a for a in db.session.scalars(select(Agency))}
        north = db.session.scalar(select(Area).where(Area.name == AREAS[0]))
        assert north is not None
        for login, role, agency, limit in (
            ("referrer", Role.REFERRER, "Benchvale Police", []),
            ("supervisor", Role.SUPERVISOR, "Benchvale Police", []),
            ("coordinator", Role.COORDINATOR, "Benchvale Council MARAC Team", [north]),
            ("idva", Role.IDVA, "Benchvale IDVA Service", []),
        ):
            user, _ = create_user(
                None,
                email=f"{login}@bench.marac.example",
                display_name=f"Bench {login.title()}",
                agency=agencies[agency],
                roles=[role.value],
                areas=limit,
                now=db.utcnow(),
                password=PASSWORD,
            )
            secret = pyotp.random_base32()
            user.totp_secret, user.mfa_enrolled_at = secret, db.utcnow()
            made[login] = (user.email, secret)
        db.session.commit()
    return made


def token_of(page: str) -> str:
    """The CSRF token of the form on a page."""
    match = CSRF.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def sign_in(app: Flask, clock: Clock, email: str, secret: str) -> Account:
    """A new browser signed in with password and a fresh authenticator code."""
    client = Client(app, app.response_class, use_cookies=True)
    clock.advance(31)  # codes are single-use: a new time step for every sign-in
    token = token_of(client.get("/sign-in").get_data(as_text=True))
    response = client.post("/sign-in", data={"csrf_token": token, "email": email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)[:1500]
    token = token_of(client.get("/sign-in/code").get_data(as_text=True))
    code = pyotp.TOTP(secret).at(clock())
    response = client.post("/sign-in/code", data={"csrf_token": token, "code": code})
    assert response.status_code == 302, response.get_data(as_text=True)[:1500]
    return Account(email, secret, client)


# --- the timed walk ------------------------------------------------------------------------------------------------


@dataclass
class Walk:
    """Seconds per request, by step name (in walking order)."""

    steps: dict[str, list[float]] = field(default_factory=dict)
    #: SQL statements each request ran, by step.
    queries: dict[str, list[int]] = field(default_factory=dict)
    #: Each timed GET's account and path, by step (a failed GET is profiled again afterwards).
    pages: dict[str, tuple[Account, str]] = field(default_factory=dict)
    counting: bool = False
    statements: list[str] = field(default_factory=list)

    def request(
        self, step: str, account: Account, clock: Clock, path: str, data: dict[str, Any] | None, want: int
    ) -> Any:
        """One timed GET (data None) or POST (with the account's CSRF token); checks the status; keeps the token."""
        clock.advance(2)
        self.statements.clear()
        began = time.perf_counter()
        if data is None:
            response = account.client.get(path)
        else:
            response = account.client.post(path, data={"csrf_token": account.token, **data})
        elapsed = time.perf_counter() - began
        if response.status_code != want:
            body = response.get_data(as_text=True)
            raise AssertionError(f"{step}: {path} answered {response.status_code}, not {want}: {body[-2500:]}")
        if data is None and want == 200:
            match = CSRF.search(response.get_data(as_text=True))
            if match:
                account.token = match.group(1) or match.group(2)
        if self.counting:
            self.steps.setdefault(step, []).append(elapsed)
            self.queries.setdefault(step, []).append(len(self.statements))
            if data is None:
                self.pages[step] = (account, path)
        return response


def victim_form(rng: random.Random, pools: Pools, area: str) -> dict[str, Any]:
    """The start page's fields for a synthetic adult victim."""
    address = f"{rng.randrange(1, 200)} {rng.choice(pools.streets)}, {rng.choice(pools.towns)}"
    code = f"{rng.choice(pools.outward)} {rng.randrange(10)}{''.join(rng.choices('ABDEFGHJLNPQRSTUWXYZ', k=2))}"
    details = person(rng, pools, rng.choice(pools.family), address, code)
    born = date(rng.randrange(1960, 2004), rng.randrange(1, 13), rng.randrange(1, 29))
    return {
        "area": area,
        "given_name": details.given_name,
        "family_name": details.family_name,
        "date_of_birth": [str(born.day), str(born.month), str(born.year)],
        "phones": "\n".join(details.phones),
        "postcode": code,
        "address": address,
        **SELECTS,
    }


def walk_one(
    walk: Walk, who: dict[str, Account], clock: Clock, world: World, form: dict[str, Any], keys: list[str]
) -> None:
    """One referral from start to the coordinator's decision, every page a timed request."""
    ref, sup, coord = who["referrer"], who["supervisor"], who["coordinator"]
    walk.request("start: GET /referrals/new", ref, clock, "/referrals/new", None, 200)
    started = walk.request("start: POST /referrals/new", ref, clock, "/referrals/new", form, 302)
    pid = started.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    walk.request("task list: GET /referrals/<pid>", ref, clock, f"/referrals/{pid}", None, 200)
    people = f"/cases/{pid}/people/new"
    walk.request("add perpetrator: GET /cases/<pid>/people/new", ref, clock, people, None, 200)
    perpetrator = {
        "role": "perpetrator",
        "relationship": "ex_partner",
        "given_name": "Robert",
        "family_name": "Abuserton",
    }
    walk.request("add perpetrator: POST /cases/<pid>/people/new", ref, clock, people, {**perpetrator, **SELECTS}, 302)
    path = f"/referrals/{pid}/assessment"
    walk.request("assessment: GET", ref, clock, path, None, 200)
    half = {f"q_{k}": "yes" if n % 2 == 0 else "no" for n, k in enumerate(keys[: len(keys) // 2])}
    walk.request("assessment: POST save", ref, clock, path, {**half, "save": "y"}, 302)
    walk.request("assessment: GET (saved answers)", ref, clock, path, None, 200)
    answers = {f"q_{k}": "yes" if n < 15 else "no" for n, k in enumerate(keys)}
    done = {**answers, "fears_text": "That he will find her", "complete": "y"}
    walk.request("assessment: POST complete", ref, clock, path, done, 302)
    path = f"/referrals/{pid}/details"
    walk.request("details: GET", ref, clock, path, None, 200)
    details = {"consent": "given", "is_safe_to_call": "yes", "safe_contact": "Mobile after 6pm", "unsafe_contacts": ""}
    walk.request("details: POST", ref, clock, path, {**details, "previous_marac": "", "judgement_reasons": ""}, 302)
    path = f"/referrals/{pid}/check"
    walk.request("check: GET", ref, clock, path, None, 200)
    walk.request("check: POST submit", ref, clock, path, {}, 302)
    walk.request("sign-off: GET /sign-off/<pid>", sup, clock, f"/sign-off/{pid}", None, 200)
    walk.request("sign-off: POST", sup, clock, f"/sign-off/{pid}", {"decision": "sign_off"}, 302)
    walk.request("queue: GET /queue", coord, clock, "/queue", None, 200)
    walk.request("decision: GET /queue/<pid>", coord, clock, f"/queue/{pid}", None, 200)
    decision = {"decision": "accepted", "idva": world.idva_id}
    walk.request("decision: POST /queue/<pid>", coord, clock, f"/queue/{pid}", decision, 302)


def time_walk(
    walk: Walk,
    app: Flask,
    clock: Clock,
    world: World,
    accounts: dict[str, tuple[str, str]],
    pools: Pools,
    count: int,
    seed: int,
) -> Walk:
    """Sign the three users in, then walk WARM_UP + `count` referrals."""
    who = {name: sign_in(app, clock, *accounts[name]) for name in ("referrer", "supervisor", "coordinator")}
    with app.app_context():
        questionnaire = db.session.scalar(select(Questionnaire).where(Questionnaire.key == "dash-ric"))
        assert questionnaire is not None
        keys = [q["key"] for q in questions_of(questionnaire.definition)]
    rng = random.Random(seed)
    for index in range(WARM_UP + count):
        walk.counting = index >= WARM_UP
        walk_one(walk, who, clock, world, victim_form(rng, pools, world.area_id), keys)
    return walk


def time_criteria(app: Flask, case_ids: list[int], count: int, seed: int) -> list[float]:
    """`evaluate(case)` on random generated cases, each in a fresh app context (as a request has)."""
    rng = random.Random(seed)
    picked = [rng.choice(case_ids) for _ in range(count + EVALUATE_WARM_UP)]
    timings = []
    for index, case_id in enumerate(picked):
        with app.app_context():
            case = db.session.get(Case, case_id)
            assert case is not None
            began = time.perf_counter()
            evaluate(case)
            elapsed = time.perf_counter() - began
        if index >= EVALUATE_WARM_UP:
            timings.append(elapsed)
    return timings


def _world(app: Flask, accounts: dict[str, tuple[str, str]]) -> World:
    from marac.auth.models import User
    from marac.orgs.models import Area

    with app.app_context():
        area = db.session.scalar(select(Area).where(Area.name == AREAS[0]))
        idva = db.session.scalar(select(User).where(User.email == accounts["idva"][0]))
        assert area is not None
        assert idva is not None
        world = World(area.public_id, idva.public_id)
        world.case_ids = list(db.session.scalars(select(Case.id)))
        waiting = db.session.execute(text("SELECT status, count(*) FROM cases GROUP BY status")).all()
        world.cases = len(world.case_ids)
    print("  cases by status: " + ", ".join(f"{s} {n:,}" for s, n in sorted(waiting)))
    return world


def report_walk(report: Report, kind: str, walk: Walk) -> list[str]:
    """p50/p95 per step against the 150 ms p95 target (with SQL statements per request); the steps that missed it or
    came near (to be profiled)."""
    missed = []
    for step, values in walk.steps.items():
        p50, p95 = percentile(values, 50), percentile(values, 95)
        queries = walk.queries[step]
        report.target(
            f"{kind}: {step} p95 (p50 {ms(p50)}, max {ms(max(values))}, n={len(values)}, "
            f"SQL statements p50 {statistics.median(queries):.0f} max {max(queries)})",
            ms(p95),
            "< 150 ms",
            p95 < STEP_TARGET,
        )
        if p95 >= PROFILE_FROM * STEP_TARGET:
            missed.append(step)
    return missed


def profile_page(walk: Walk, clock: Clock, step: str, count: int = 20) -> None:
    """A missed (or nearly missed) GET step requested again under cProfile: the SQL statements of one request
    (grouped, so an N+1 shows as one statement run many times) and the slowest marac functions by cumulative time."""
    account, path = walk.pages[step]
    walk.counting = False
    walk.request(step, account, clock, path, None, 200)
    grouped = Counter(" ".join(sql.split())[:150] for sql in walk.statements)
    print(f"\n  -- profile of {step} ({path}): {len(walk.statements)} SQL statements in one request, most repeated:")
    for sql, times in grouped.most_common(8):
        print(f"     {times:4d} x {sql}")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        walk.request(step, account, clock, path, None, 200)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(r"marac/", 18)
    print(f"  -- cProfile over {count} requests (cumulative, marac/ only):")
    print("\n".join("     " + line for line in out.getvalue().splitlines() if line.strip())[-4000:])


def run_referrals(
    report: Report,
    kind: str,
    *,
    cases: int,
    referrals: int,
    evaluations: int,
    workers: int,
    seed: int,
    keep: bool,
) -> None:
    """Generate `cases`, then walk `referrals` referrals through the pages and time `evaluations` criteria runs."""
    report.heading(f"Referrals at scale on {kind}: {cases:,} cases, {referrals} referrals walked, {workers} worker(s)")
    pools = build_pools(seed)
    with bench_database(kind, keep=keep) as bench:
        app = bench.app
        app.config.update(MARAC_ARGON2_TIME_COST=1, MARAC_ARGON2_MEMORY_KIB=1024, MARAC_ARGON2_PARALLELISM=1)
        clock = Clock(datetime.now(UTC))
        app.config["MARAC_CLOCK"] = clock
        began = time.perf_counter()
        incidents = generate_cases(bench, cases, report, pools=pools, workers=workers, seed=seed)
        accounts = make_accounts(app)
        elapsed = time.perf_counter() - began
        world = _world(app, accounts)
        report.figure(
            "generated",
            f"{world.cases:,} cases, {2 * cases:,} persons, {incidents:,} incidents in {elapsed:.0f} s",
        )
        report.progress(f"walking {WARM_UP} + {referrals} referrals")
        walk = Walk()
        event.listen(bench.engine, "before_cursor_execute", _counter(walk))
        time_walk(walk, app, clock, world, accounts, pools, referrals, seed + 3)
        missed = report_walk(report, kind, walk)
        timings = time_criteria(app, world.case_ids, evaluations, seed + 5)
        p50, p95 = percentile(timings, 50), percentile(timings, 95)
        report.target(
            f"{kind}: criteria evaluate(case) p95 (p50 {ms(p50)}, n={len(timings)})",
            ms(p95),
            "< 20 ms",
            p95 < CRITERIA_TARGET,
        )
        for step in missed:
            if step in walk.pages:
                profile_page(walk, clock, step)


def _counter(walk: Walk) -> Callable[..., None]:
    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        walk.statements.append(statement)

    return count
