"""Signing in with MFA, signing out and WCAG 2.2 AA on the sign-in, code, home and admin pages, in chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pyotp
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import Account, LiveServer, enter_code, enter_password, sign_in

pytestmark = pytest.mark.browser

Check = Callable[[Page], None]


def expect_marking_top_and_bottom(page: Page) -> None:
    """The protective marking is shown above the header and below the footer."""
    markings = page.get_by_role("note", name="Protective marking")
    expect(markings).to_have_count(2)
    expect(markings.first).to_have_text("OFFICIAL-SENSITIVE")
    expect(markings.last).to_have_text("OFFICIAL-SENSITIVE")


def test_demo_user_signs_in_with_password_and_code_and_reaches_home(
    page: Page, live_server: LiveServer, assert_accessible: Check
) -> None:
    account = live_server.account("coordinator")

    page.goto("/sign-in")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Sign in to "))
    expect_marking_top_and_bottom(page)
    assert_accessible(page)

    enter_password(page, account)
    expect(page).to_have_url(re.compile(r"/sign-in/code$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Enter the code from your authenticator app")
    expect(page.locator("#code")).to_have_attribute("autocomplete", "one-time-code")
    expect(page.locator("#totp-secret")).to_have_count(0)
    assert_accessible(page)

    enter_code(page, account.totp_secret)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Welcome, .+"))
    account_list = page.get_by_role("list", name="Your account")
    expect(account_list).to_contain_text(account.agency)
    expect(account_list.get_by_role("button", name="Sign out")).to_be_visible()
    expect_marking_top_and_bottom(page)
    assert_accessible(page)


def test_empty_sign_in_shows_a_focused_error_summary_linking_to_each_field(
    page: Page, assert_accessible: Check
) -> None:
    page.goto("/sign-in")
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_title(re.compile(r"^Error: Sign in"))
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    links = summary.get_by_role("link")
    expect(links).to_have_count(2)
    expect(links.nth(0)).to_have_attribute("href", "#email")
    expect(links.nth(1)).to_have_attribute("href", "#password")
    expect(page.locator("#email-error")).to_be_visible()
    expect(page.locator("#password-error")).to_be_visible()
    expect(page.locator("#email")).to_have_attribute("aria-describedby", re.compile(r"\bemail-error\b"))
    assert_accessible(page)

    links.nth(1).click()
    expect(page.locator("#password")).to_be_focused()


def test_wrong_code_shows_an_accessible_error_on_the_code_page(
    page: Page, live_server: LiveServer, assert_accessible: Check
) -> None:
    account = live_server.account("chair")
    enter_password(page, account)
    expect(page).to_have_url(re.compile(r"/sign-in/code$"))

    totp = pyotp.TOTP(account.totp_secret)
    now = int(time.time()) // totp.interval
    accepted = {totp.generate_otp(step) for step in (now - 2, now - 1, now, now + 1, now + 2)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333", "444444", "555555") if code not in accepted)
    page.locator("#code").fill(wrong)
    page.get_by_role("button", name="Continue").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_attribute("href", "#code")
    expect(page.locator("#code-error")).to_contain_text("The code is not right")
    assert_accessible(page)


def test_new_user_sets_up_authenticator_from_the_qr_code_page(
    page: Page, new_user: Callable[[str], Account], live_server: LiveServer, assert_accessible: Check
) -> None:
    account = new_user("robin.enrolling@police.example")
    enter_password(page, account)

    expect(page).to_have_url(re.compile(r"/sign-in/code$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your authenticator app")
    expect(page.get_by_role("img", name="QR code for your authenticator app").locator("svg")).to_be_visible()
    secret = page.locator("#totp-secret").inner_text().strip()
    assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
    assert_accessible(page)

    enter_code(page, secret)
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Robin Enrolling")


def test_admin_pages_are_accessible(page: Page, live_server: LiveServer, assert_accessible: Check) -> None:
    sign_in(page, live_server.account("admin"))
    expect(page).to_have_url(f"{live_server.url}/")

    page.goto("/admin/users")
    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    expect(page.get_by_role("table", name="Users")).to_contain_text("coordinator@demo.marac.example")
    assert_accessible(page)

    page.get_by_role("link", name="Add a user").click()
    expect(page).to_have_url(re.compile(r"/admin/users/new$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Add a user")
    assert_accessible(page)


def test_signed_out_user_cannot_reach_home(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server.account("idva"))
    expect(page).to_have_url(f"{live_server.url}/")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_text("You have signed out.")).to_be_visible()

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in(\?.*)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Sign in to "))
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
