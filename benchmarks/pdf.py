"""The PDF benchmark: the agenda PDF of a meeting with 20 and with 40 cases, against plain text of as many pages.

A throwaway SQLite database is built by the real migrations and seeded through the real services: one area, its
member agencies, a coordinator, accepted cases (synthetic people, Faker en_GB) and two published meetings with 20
and 40 cases listed. Each size is then rendered by `agenda_pdf` in a fresh child process (so the peak memory,
`ru_maxrss`, is that of rendering alone): best of 3, pages counted with pdfinfo, and the same number of pages of
plain paragraphs rendered through the same base template and stylesheet for the ratio.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import time as clock_time
from datetime import timedelta
from typing import Any

from faker import Faker
from flask import Flask
from sqlalchemy import select

from benchmarks.databases import bench_database
from benchmarks.report import Report
from marac import create_app, db
from marac.access import Role, acting_offline
from marac.auth.accounts import create_user
from marac.auth.models import User
from marac.cases.models import PartyRole, Referral
from marac.cases.services import add_party, open_case
from marac.meetings.models import Meeting
from marac.orgs.models import Agency, AgencyKind, Area
from marac.orgs.services import save_agency, save_area
from marac.people.models import PersonKind, Relationship
from marac.people.services import PersonDetails, record_person

SIZES = (20, 40)
#: Seconds each agenda may take (best of 3), by cases listed.
TIME_TARGETS = {20: 2.0, 40: 4.0}
MEMORY_TARGET_MB = 300
RATIO_TARGET = 1.5
RUNS = 7
AGENCIES = (
    ("Benchvale Police", AgencyKind.POLICE),
    ("Benchvale IDVA Service", AgencyKind.IDVA_SERVICE),
    ("Benchvale Health NHS Trust", AgencyKind.HEALTH),
    ("Benchvale Homes", AgencyKind.HOUSING),
    ("Benchvale Children's Services", AgencyKind.CHILDRENS_SOCIAL_CARE),
    ("Benchvale Council MARAC Team", AgencyKind.LOCAL_AUTHORITY),
)
PARAGRAPH = (
    "Agencies shared what they hold about the household before the meeting, and the chair summarised the risks "
    "that were identified, the victim's own view of her safety, and the actions that partners agreed to take. "
)
#: Settings a child process needs to open the parent's database (passed in the environment, never on argv).
CHILD_SETTINGS = ("MARAC_DATABASE_URL", "MARAC_MASTER_KEY", "SECRET_KEY", "MARAC_AUDIT_KEY")


@dataclass
class Figures:
    """One size's results from its child process."""

    cases: int
    pages: int
    seconds: float
    render_seconds: float
    plain_seconds: float
    peak_mb: float

    @property
    def ratio(self) -> float:
        """The whole agenda download (database, access checks, template, PDF, audit) over plain text, as many pages."""
        return self.seconds / self.plain_seconds

    @property
    def render_ratio(self) -> float:
        """WeasyPrint alone: the agenda's HTML to PDF over plain text of as many pages."""
        return self.render_seconds / self.plain_seconds


# --- seeding (parent) -----------------------------------------------------------------------------------------------


def _details(fake: Faker, gender: str) -> PersonDetails:
    return PersonDetails(
        given_name=fake.first_name_female() if gender == "Female" else fake.first_name_male(),
        family_name=fake.last_name(),
        date_of_birth=fake.date_of_birth(minimum_age=18, maximum_age=70),
        gender=gender,
        phones=[f"+4477009{fake.random_number(digits=5, fix_len=True)}"],
        email=fake.unique.email(),
        address=fake.street_address(),
        postcode=fake.postcode().replace(" ", ""),
        language="English",
    )


def _accepted_case(fake: Faker, area: Area, agency: Agency) -> Any:
    victim = record_person(None, PersonKind.VICTIM, _details(fake, "Female"))
    perpetrator = record_person(None, PersonKind.PERPETRATOR, _details(fake, "Male"))
    case = open_case(None, area=area, victim=victim, referring_agency=agency, referred_on=db.london_today())
    add_party(None, case, perpetrator, PartyRole.PERPETRATOR, Relationship.EX_PARTNER)
    db.session.add(Referral(case_id=case.id, decision="accepted", decided_at=db.utcnow(), submitted_at=db.utcnow()))
    return case


def seed(app: Flask, sizes: tuple[int, ...]) -> dict[str, Any]:
    """An area, its agencies, a coordinator and one published meeting per size; returns their ids."""
    from marac.meetings.services import add_meeting, allocate, local_to_utc, publish_agenda

    fake = Faker("en_GB")
    fake.seed_instance(20240601)
    app.config.update(MARAC_ARGON2_TIME_COST=1, MARAC_ARGON2_MEMORY_KIB=1024, MARAC_ARGON2_PARALLELISM=1)
    with app.app_context():
        area = save_area(None, name="Benchvale MARAC")
        agencies = [save_agency(None, name=name, kind=kind.value, areas=[area]) for name, kind in AGENCIES]
        coordinator, _ = create_user(
            None,
            email="coordinator@benchvale.example",
            display_name="Bench Coordinator",
            agency=agencies[-1],
            roles=[Role.COORDINATOR.value],
            areas=[area],
            now=db.utcnow(),
            password="correct horse battery staple",  # noqa: S106 (synthetic benchmark account)
        )
        coordinator.must_change_password = False
        meetings = {}
        with acting_offline([coordinator]):
            for week, size in enumerate(sizes, start=1):
                cases = [_accepted_case(fake, area, agencies[n % 3]) for n in range(size)]
                day = db.london_today() + timedelta(days=7 * week)
                starts = local_to_utc(day, clock_time(9, 30))
                meeting = add_meeting(
                    coordinator, area, starts, length_minutes=480, venue="Benchvale Civic Centre", call_details=""
                )
                for case in cases:
                    allocate(coordinator, meeting, case, minutes=10)
                publish_agenda(coordinator, meeting)
                meetings[str(size)] = meeting.public_id
        db.session.commit()
        return {"coordinator": coordinator.public_id, "meetings": meetings}


# --- measuring (child) ----------------------------------------------------------------------------------------------


def _pages(content: bytes) -> int:
    """Pages in a PDF, as pdfinfo (poppler-utils) counts them."""
    pdfinfo = shutil.which("pdfinfo") or "pdfinfo"
    info = subprocess.run([pdfinfo, "-"], input=content, capture_output=True, check=True).stdout.decode()  # noqa: S603
    return next(int(line.split()[1]) for line in info.splitlines() if line.startswith("Pages:"))


def _plain_html(paragraphs: int, coordinator: User) -> str:
    from flask import render_template

    return render_template(
        "pdf/base.html",
        title="Plain text",
        meeting_reference="M000000-0",
        area_name="Benchvale MARAC",
        generated_by=coordinator.display_name,
        generated_agency=coordinator.agency.name,
        generated_at=db.utcnow(),
        paragraphs=[f"{n}. {PARAGRAPH * 2}" for n in range(paragraphs)],
    )


def _plain_paragraphs(pages: int, coordinator: User) -> int:
    """The most plain paragraphs that still fill exactly `pages` pages (full pages, not a nearly empty last one)."""
    from weasyprint import HTML

    from marac.pdf import BASE_URL, LockedDownFetcher

    def count(n: int) -> int:
        return len(
            HTML(string=_plain_html(n, coordinator), base_url=BASE_URL, url_fetcher=LockedDownFetcher()).render().pages
        )

    low, high = 1, 30 * pages
    while low < high:
        middle = (low + high + 1) // 2
        if count(middle) <= pages:
            low = middle
        else:
            high = middle - 1
    return low


def _timed(render: Any) -> tuple[float, bytes]:
    start = time.perf_counter()
    content = render()
    elapsed = time.perf_counter() - start
    db.session.rollback()  # leave no audit records behind between runs
    return elapsed, content


def _best_of(*renders: Any) -> list[tuple[float, bytes]]:
    """Best of `RUNS` for each render, taken in turns (so a busy moment on the machine hits them alike), after one
    uncounted warm-up of each (fonts loaded, templates compiled, statements cached)."""
    for render in renders:
        _timed(render)
    runs = [[_timed(render) for render in renders] for _ in range(RUNS)]
    return [min((run[n] for run in runs), key=lambda timed: timed[0]) for n in range(len(renders))]


def _agenda_html(coordinator: User, meeting: Meeting) -> str:
    """The agenda's HTML exactly as `agenda_pdf` renders it (to time WeasyPrint on its own)."""
    from flask import render_template

    from marac.meetings import pdf as papers

    captured: list[str] = []
    original = papers.render_pdf

    def capture(template_name: str, **context: Any) -> bytes:
        captured.append(render_template(template_name, **context))
        return original(template_name, **context)

    papers.render_pdf = capture
    try:
        papers.agenda_pdf(coordinator, meeting)
    finally:
        papers.render_pdf = original
        db.session.rollback()
    return captured[0]


def measure(size: int, ids: dict[str, Any]) -> dict[str, Any]:
    """Render one size's agenda (best of 3), its HTML alone, and as many pages of plain text; in a fresh process."""
    from marac.meetings.pdf import agenda_pdf
    from marac.pdf import html_to_pdf

    settings = {key: os.environ[key] for key in CHILD_SETTINGS}
    app = create_app(settings | {"MARAC_ENV": "test", "MARAC_LOG_LEVEL": "WARNING"})
    with app.app_context():
        coordinator = db.session.scalar(select(User).where(User.public_id == ids["coordinator"]))
        meeting = db.session.scalar(select(Meeting).where(Meeting.public_id == ids["meetings"][str(size)]))
        assert coordinator is not None
        assert meeting is not None
        with acting_offline([coordinator]):
            agenda_html = _agenda_html(coordinator, meeting)
            pages = _pages(html_to_pdf(agenda_html))
            plain_html = _plain_html(_plain_paragraphs(pages, coordinator), coordinator)
            (seconds, content), (render_seconds, _), (plain_seconds, plain) = _best_of(
                lambda: agenda_pdf(coordinator, meeting),
                lambda: html_to_pdf(agenda_html),
                lambda: html_to_pdf(plain_html),
            )
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert _pages(content) == _pages(plain) == pages
    return {
        "cases": size,
        "pages": pages,
        "seconds": seconds,
        "render_seconds": render_seconds,
        "plain_seconds": plain_seconds,
        "peak_mb": peak_kb / 1024,
    }


def _child(size: int, ids: dict[str, Any], app: Flask) -> Figures:
    env = {**os.environ, **{key: str(app.config[key]) for key in CHILD_SETTINGS}}
    env["MARAC_INSTANCE_PATH"] = str(app.instance_path)
    command = [sys.executable, "-m", "benchmarks.pdf", str(size), json.dumps(ids)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 (our own module)
    if result.returncode != 0:
        raise RuntimeError(f"the {size}-case PDF run failed:\n{result.stderr[-3000:]}")
    return Figures(**json.loads(result.stdout.strip().splitlines()[-1]))


def run_pdf(report: Report, *, sizes: tuple[int, ...] = SIZES, keep: bool = False) -> None:
    """Seed the meetings, measure each size in its own process, print the table and check the targets."""
    report.heading(f"Agenda PDF (WeasyPrint) for {', '.join(map(str, sizes))} cases, SQLite, best of {RUNS}")
    with bench_database("sqlite", keep=keep) as bench:
        report.progress(f"seeding {sum(sizes)} cases")
        ids = seed(bench.app, sizes)
        results = []
        for size in sizes:
            report.progress(f"rendering the {size}-case agenda in a fresh process")
            results.append(_child(size, ids, bench.app))
    print("\n  cases  pages  seconds  plain text (same pages)  ratio  HTML->PDF alone  ratio  peak MB")
    for f in results:
        row = f"{f.cases:>5}  {f.pages:>5}  {f.seconds:>7.2f}  {f.plain_seconds:>23.2f}  {f.ratio:>4.2f}x"
        print(f"  {row}  {f.render_seconds:>15.2f}  {f.render_ratio:>4.2f}x  {f.peak_mb:>7.0f}")
    print()
    for f in results:
        limit = TIME_TARGETS.get(f.cases, 0.1 * f.cases)
        report.target(
            f"agenda PDF, {f.cases} cases ({f.pages} pages)", f"{f.seconds:.2f} s", f"< {limit:g} s", f.seconds < limit
        )
        report.target(
            f"agenda PDF, {f.cases} cases: ratio to plain text of {f.pages} pages",
            f"{f.ratio:.2f}x",
            f"<= {RATIO_TARGET}x",
            f.ratio <= RATIO_TARGET,
        )
        report.target(
            f"agenda PDF, {f.cases} cases: peak memory of the rendering process",
            f"{f.peak_mb:.0f} MB",
            f"< {MEMORY_TARGET_MB} MB",
            f.peak_mb < MEMORY_TARGET_MB,
        )


def main(argv: list[str]) -> int:
    """Child entry point: `python -m benchmarks.pdf SIZE IDS_JSON` prints one JSON line of figures."""
    print(json.dumps(measure(int(argv[0]), json.loads(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
