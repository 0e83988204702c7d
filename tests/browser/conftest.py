"""Browser fixtures: the app served from a real, committed database and Debian chromium driven by Playwright."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright
from sqlalchemy import select
from werkzeug.serving import make_server

from marac import create_app, db
from tests.conftest import TEST_SETTINGS, create_test_database, migrated_engine

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: WCAG 2.2 AA and everything below it.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Account:
    """A demo account as written by `seed_demo`."""

    email: str
    password: str
    totp_secret: str
    role: str
    agency: str


class ShiftableClock:
    """The live server's clock: real time, moved forward by `offset` when a test needs a meeting to have happened.
    Authenticator codes follow it (see `enter_code`); a test that moves it puts it back."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def timestamp(self) -> float:
        """Seconds since the epoch on this clock."""
        return time.time() + self.offset.total_seconds()


#: The one clock of the session's live server.
SERVER_CLOCK = ShiftableClock()


@dataclass
class LiveServer:
    """The app served over HTTP on localhost from a committed database."""

    app: Flask
    url: str
    accounts: dict[str, Account]

    def account(self, role: str) -> Account:
        """The demo account for `role` (the first one when a role has several)."""
        return self.accounts[role]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A fresh database built by the migrations, seeded with the demo data and served in a thread."""
    tmp = tmp_path_factory.mktemp("browser")
    url, drop = create_test_database(tmp)
    migrated_engine(url).dispose()
    app = create_app(
        {**TEST_SETTINGS, "MARAC_INSTANCE_PATH": str(tmp), "MARAC_DATABASE_URL": url, "MARAC_CLOCK": SERVER_CLOCK}
    )
    accounts_file = tmp / "demo-accounts.json"
    with app.app_context():
        from marac.demo import seed_demo

        assert seed_demo(accounts_file)
    accounts: dict[str, Account] = {}
    for row in json.loads(accounts_file.read_text()):
        accounts.setdefault(row["role"], Account(**row))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="marac-live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}", accounts=accounts)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["marac_engine"].dispose()  # close pooled connections so the database can be dropped
        drop()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    """Playwright's driver for the whole session."""
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    """Debian's chromium, headless (Playwright cannot download its own browsers here)."""
    chromium = playwright_instance.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A new page in a fresh browser context (no cookies shared between tests)."""
    context = browser.new_context(base_url=live_server.url, locale="en-GB", timezone_id="Europe/London")
    context.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def axe() -> Axe:
    """axe-core, injected into pages by Playwright."""
    return Axe()


@pytest.fixture
def assert_accessible(axe: Axe) -> Callable[[Page], None]:
    """Fail with axe's report when the page has any WCAG 2.2 AA violation."""

    def check(tab: Page) -> None:
        results = axe.run(tab, options={"runOnly": {"type": "tag", "values": WCAG_TAGS}, "resultTypes": ["violations"]})
        assert results.violations_count == 0, f"{tab.url}\n{results.generate_report()}"

    return check


@pytest.fixture
def new_user(live_server: LiveServer) -> Callable[[str], Account]:
    """Create a committed account with a known password and no authenticator yet (it enrols at first sign-in)."""

    def make(email: str) -> Account:
        from marac.auth.accounts import create_user
        from marac.orgs.models import Agency

        with live_server.app.app_context():
            agency = db.session.scalars(select(Agency).where(Agency.name == "Northvale Police")).one()
            user, _ = create_user(
                None,
                email=email,
                display_name="Robin Enrolling",
                agency=agency,
                roles=["referrer"],
                areas=[],
                now=db.utcnow(),
                password=PASSWORD,
            )
            user.must_change_password = False
            agency_name = agency.name
            db.session.commit()
        return Account(email=email, password=PASSWORD, totp_secret="", role="referrer", agency=agency_name)

    return make


def enter_password(page: Page, account: Account) -> None:
    """Fill in and submit the first sign-in step."""
    page.goto("/sign-in")
    page.locator("#email").fill(account.email)
    page.locator("#password").fill(account.password)
    page.get_by_role("button", name="Continue").click()


#: The last time step whose code each authenticator secret used: codes are single-use, so a second sign-in as the
#: same account within one 30-second step types the next step's code (the server allows one step of drift).
_LAST_STEP: dict[str, int] = {}


def enter_code(page: Page, secret: str) -> None:
    """Type an authenticator code the server has not seen yet, as the user's phone would show it."""
    totp = pyotp.TOTP(secret)
    step = max(int(SERVER_CLOCK.timestamp()) // totp.interval, _LAST_STEP.get(secret, -1) + 1)
    _LAST_STEP[secret] = step
    page.locator("#code").fill(totp.generate_otp(step))
    page.get_by_role("button", name="Continue").click()


def sign_in(page: Page, account: Account) -> None:
    """Sign in with password and authenticator code, the way a user does."""
    enter_password(page, account)
    expect(page).to_have_url(re.compile(r"/sign-in/code$"))
    enter_code(page, account.totp_secret)
    # wait until signed in: a navigation straight after the click could otherwise cut the sign-in short
    expect(page).not_to_have_url(re.compile(r"/sign-in"))
