"""Break-glass: emergency read access to a case with a reason and a fresh code, every read recorded, and the DPO's
review that can end it at once."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marac import db
from marac.access import CaseRelation, Role
from marac.audit.models import AuditEvent
from marac.auth.models import User
from marac.cases.models import Case
from marac.orgs.models import AgencyKind
from marac.people.models import PersonKind
from marac.sharing.models import BreakGlassGrant
from marac.sharing.services import add_user_to_must_not_receive, reads_during
from tests.conftest import FakeClock
from tests.factories import (
    Account,
    csrf_token,
    login_as,
    make_agency,
    make_area,
    make_break_glass_grant,
    make_case,
    make_person,
    make_user,
    post_form,
    totp_now,
)

REASON = "Victim reported missing overnight; officers need her known addresses now"
BANNER = "You are seeing this case through emergency access"
MISSING = "00000000-0000-4000-8000-000000000000"


def text_of(response: Any) -> str:
    """The page as a reader sees the words, tags and spacing collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def without_tokens(page: str) -> str:
    """A page with its per-response nonces and CSRF tokens taken out, to compare two answers."""
    return re.sub(r'(nonce|value)="[^"]*"', "", page)


def events(action: str, object_id: str | None = None, actor: Account | None = None) -> list[AuditEvent]:
    """Audit events of one action (on one object, by one user), oldest first."""
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == action)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    if actor is not None:
        query = query.where(AuditEvent.actor_user_id == actor.user.id)
    return list(db.session.scalars(query.order_by(AuditEvent.seq)))


def grants() -> list[BreakGlassGrant]:
    """Every break-glass grant, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(select(BreakGlassGrant).order_by(BreakGlassGrant.id)))


def fresh_user(account: Account) -> User:
    """The account's user as the database now holds it."""
    db.session.expire_all()
    return db.session.get(User, account.user.id)  # type: ignore[return-value]


def signed_in(app: Flask, account: Account, clock: FakeClock) -> FlaskClient:
    """A new browser signed in as `account`."""
    browser = app.test_client()
    login_as(browser, account, clock)
    return browser


def wrong_code(account: Account, clock: FakeClock) -> str:
    """A six-digit code that is not the current one."""
    return "000000" if totp_now(account, clock) != "000000" else "111111"


def break_glass(browser: FlaskClient, account: Account, clock: FakeClock, public_id: str, reason: str = REASON) -> Any:
    """Ask for emergency access with a fresh code, as a user does."""
    clock.advance(seconds=31)  # a new time step: the code used to sign in works once only
    path = f"/cases/{public_id}/break-glass"
    return post_form(browser, path, {"reason": reason, "code": totp_now(account, clock)})


@dataclass
class Emergency:
    """A police case, and a health practitioner with no relationship to it."""

    case: Case
    practitioner: Account
    dpo: Account


@pytest.fixture
def emergency(app: Flask) -> Emergency:
    """The case someone needs in an emergency."""
    area = make_area()
    police = make_agency(AgencyKind.POLICE, [area])
    victim = make_person(PersonKind.VICTIM, given_name="Marigold", family_name="Quennell")
    case = make_case(area=area, agency=police, victim=victim)
    practitioner = make_user(Role.AGENCY_REP, agency=make_agency(AgencyKind.HEALTH, name="Eastbridge NHS Trust"))
    dpo = make_user(Role.DPO, agency=make_agency(AgencyKind.LOCAL_AUTHORITY))
    return Emergency(case, practitioner, dpo)


# --- the whole cycle -----------------------------------------------------------------------------------------------


def test_break_glass_is_granted_recorded_reviewed_and_ended_by_the_dpo(
    app: Flask, emergency: Emergency, clock: FakeClock
) -> None:
    case, user = emergency.case, emergency.practitioner
    browser = signed_in(app, user, clock)
    case_path, glass_path = f"/cases/{case.public_id}", f"/cases/{case.public_id}/break-glass"

    # No relationship: the case is not there.
    assert browser.get(case_path).status_code == 404

    # The form, the same for a case that does not exist.
    form = browser.get(glass_path)
    assert form.status_code == 200
    assert "Emergency access to a case" in text_of(form)
    assert "You will be able to read the case for 4 hours" in text_of(form)
    assert case.reference not in text_of(form)
    other = browser.get(f"/cases/{MISSING}/break-glass")
    assert without_tokens(other.get_data(as_text=True)) == without_tokens(form.get_data(as_text=True))

    # Too short a reason.
    short = post_form(browser, glass_path, {"reason": "Urgent", "code": totp_now(user, clock)})
    assert short.status_code == 400
    assert "Reason must be between 20 and 2000 characters" in text_of(short)

    # A wrong code: refused, counted and audited.
    wrong = post_form(browser, glass_path, {"reason": REASON, "code": wrong_code(user, clock)})
    assert wrong.status_code == 400
    assert "The code is wrong or has been used" in text_of(wrong)
    assert fresh_user(user).failed_attempts == 1
    [failure] = events("auth.sign_in", user.user.public_id, user)[-1:]
    assert (failure.outcome, failure.details) == ("failure", {"reason": "wrong_break_glass"})
    assert grants() == []

    # Reason and a fresh code: access, with a warning on the case.
    granted = break_glass(browser, user, clock, case.public_id)
    assert granted.status_code == 302
    assert granted.headers["Location"] == case_path
    [grant] = grants()
    assert (grant.case_id, grant.user_id, grant.reason) == (case.id, user.user.id, REASON)
    assert grant.expires_at == grant.granted_at + timedelta(hours=4)
    assert grant.reviewed_at is None
    page = browser.get(case_path)
    assert page.status_code == 200
    assert BANNER in text_of(page)
    assert "Marigold Quennell" in text_of(page)
    [start] = events("break_glass.start", case.public_id, user)
    assert (start.purpose, start.details) == ("break_glass", {"grant": grant.public_id, "hours": 4})
    [read] = [e for e in events("case.view", case.public_id, user) if e.outcome == "success"]
    assert read.purpose == "break_glass"
    assert case.reference in text_of(browser.get("/cases/"))

    # The DPO is alerted and reviews it.
    dpo_browser = signed_in(app, emergency.dpo, clock)
    assert "1 awaiting review" in text_of(dpo_browser.get("/"))
    listing = text_of(dpo_browser.get("/dpo/break-glass"))
    assert "1 awaiting review" in listing
    assert f"{user.user.display_name}, Eastbridge NHS Trust" in listing
    assert case.reference in listing
    review_path = f"/dpo/break-glass/{grant.public_id}"
    assert f'href="{review_path}"' in dpo_browser.get("/dpo/break-glass").get_data(as_text=True)
    review = text_of(dpo_browser.get(review_path))
    assert f"Reason given {REASON}" in review
    assert re.search(r"Pages read \d+", review)
    assert "Marigold" not in review

    unexplained = post_form(dpo_browser, review_path, {"outcome": "not_justified", "note": ""})
    assert unexplained.status_code == 400
    assert "Say what follows from an unjustified use (at least 10 characters)" in text_of(unexplained)
    assert grants()[0].reviewed_at is None

    reviewed = post_form(
        dpo_browser, review_path, {"outcome": "not_justified", "note": "Not an emergency: referred to line manager"}
    )
    assert reviewed.status_code == 302
    assert reviewed.headers["Location"] == "/dpo/break-glass"
    [grant] = grants()
    assert (grant.review_outcome, grant.reviewed_by_id) == ("not_justified", emergency.dpo.user.id)
    assert grant.review_note == "Not an emergency: referred to line manager"
    assert grant.reviewed_at == grant.expires_at
    [review_event] = events("break_glass.review", grant.public_id)
    assert review_event.details == {"outcome": "not_justified", "case": case.public_id}
    assert "awaiting review" not in text_of(dpo_browser.get("/"))
    assert "All uses have been reviewed." in text_of(dpo_browser.get("/dpo/break-glass"))

    # Access ends at once.
    assert browser.get(case_path).status_code == 404
    assert case.reference not in text_of(browser.get("/cases/"))


def test_justified_use_keeps_access_until_it_expires(app: Flask, emergency: Emergency, clock: FakeClock) -> None:
    case, user = emergency.case, emergency.practitioner
    browser = signed_in(app, user, clock)
    assert break_glass(browser, user, clock, case.public_id).status_code == 302
    [grant] = grants()
    dpo_browser = signed_in(app, emergency.dpo, clock)

    response = post_form(dpo_browser, f"/dpo/break-glass/{grant.public_id}", {"outcome": "justified", "note": ""})

    assert response.status_code == 302
    assert (grants()[0].review_outcome, grants()[0].review_note) == ("justified", None)
    assert BANNER in text_of(browser.get(f"/cases/{case.public_id}"))
    clock.current = grant.expires_at - timedelta(minutes=1, seconds=30)
    browser = signed_in(app, user, clock)  # the first session has timed out meanwhile
    assert browser.get(f"/cases/{case.public_id}").status_code == 200
    clock.current = grant.expires_at + timedelta(seconds=1)
    assert browser.get(f"/cases/{case.public_id}").status_code == 404
    assert case.reference not in text_of(browser.get("/cases/"))


def test_access_ends_after_four_hours_even_before_review(app: Flask, emergency: Emergency, clock: FakeClock) -> None:
    case, user = emergency.case, emergency.practitioner
    browser = signed_in(app, user, clock)
    assert break_glass(browser, user, clock, case.public_id).status_code == 302

    clock.advance(hours=4, seconds=1)
    browser = signed_in(app, user, clock)

    assert browser.get(f"/cases/{case.public_id}").status_code == 404
    assert events("case.view", case.public_id, user)[-1].outcome == "denied"
    assert grants()[0].reviewed_at is None  # the DPO must still review it


def test_person_pages_read_under_break_glass_are_audited_as_such(
    app: Flask, emergency: Emergency, clock: FakeClock
) -> None:
    case, user = emergency.case, emergency.practitioner
    browser = signed_in(app, user, clock)
    break_glass(browser, user, clock, case.public_id)

    response = browser.get(f"/people/{case.victim.public_id}")

    assert response.status_code == 200
    [read] = [e for e in events("person.view", case.victim.public_id, user) if e.outcome == "success"]
    assert read.purpose == "break_glass"


def test_pages_read_counts_each_page_read_under_the_grant(app: Flask, emergency: Emergency, clock: FakeClock) -> None:
    case, user = emergency.case, emergency.practitioner
    browser = signed_in(app, user, clock)
    break_glass(browser, user, clock, case.public_id)
    [grant] = grants()

    browser.get(f"/cases/{case.public_id}")
    assert reads_during(grant) == 1

    browser.get(f"/people/{case.victim.public_id}")
    assert reads_during(grant) == 2
    review = text_of(signed_in(app, emergency.dpo, clock).get(f"/dpo/break-glass/{grant.public_id}"))
    assert "Pages read 2" in review


# --- refusals ------------------------------------------------------------------------------------------------------


def test_break_glass_for_a_case_that_does_not_exist_is_not_found_and_audited(
    app: Flask, emergency: Emergency, clock: FakeClock
) -> None:
    user = emergency.practitioner
    browser = signed_in(app, user, clock)

    response = break_glass(browser, user, clock, MISSING)

    assert response.status_code == 404
    assert "Page not found" in text_of(response)
    [denial] = events("break_glass.start", MISSING, user)
    assert (denial.outcome, denial.details) == ("denied", {"reason": "not_found"})
    assert grants() == []
    assert fresh_user(user).failed_attempts == 0


def _unrelated(emergency: Emergency) -> Account:
    return emergency.practitioner


def _colleague_of_the_referrer(emergency: Emergency) -> Account:
    return make_user(Role.REFERRER, agency=emergency.case.referring_agency)


@pytest.mark.parametrize("who", [_unrelated, _colleague_of_the_referrer], ids=["unrelated", "referring agency"])
def test_user_on_the_must_not_receive_list_cannot_break_glass(
    app: Flask, emergency: Emergency, clock: FakeClock, who: Any
) -> None:
    account = who(emergency)
    case = emergency.case
    add_user_to_must_not_receive(None, case, frozenset({CaseRelation.REFERRING_AGENCY}), account.user)
    db.session.commit()
    browser = signed_in(app, account, clock)

    response = break_glass(browser, account, clock, case.public_id)

    assert response.status_code == 404
    assert grants() == []
    assert events("break_glass.start", case.public_id, account)[-1].outcome == "denied"
    assert browser.get(f"/cases/{case.public_id}").status_code == 404


def test_user_who_already_sees_the_case_is_told_so(app: Flask, emergency: Emergency, clock: FakeClock) -> None:
    referrer = make_user(Role.REFERRER, agency=emergency.case.referring_agency)
    browser = signed_in(app, referrer, clock)

    response = break_glass(browser, referrer, clock, emergency.case.public_id)

    assert response.status_code == 400
    assert "You already have access to this case" in text_of(response)
    assert grants() == []


def test_the_code_used_to_sign_in_cannot_be_used_again(app: Flask, emergency: Emergency, clock: FakeClock) -> None:
    user = emergency.practitioner
    browser = signed_in(app, user, clock)
    path = f"/cases/{emergency.case.public_id}/break-glass"

    response = post_form(browser, path, {"reason": REASON, "code": totp_now(user, clock)})

    assert response.status_code == 400
    assert "The code is wrong or has been used" in text_of(response)
    assert grants() == []


def test_wrong_codes_lock_the_account_like_sign_in(app: Flask, emergency: Emergency, clock: FakeClock) -> None:
    user = emergency.practitioner
    browser = signed_in(app, user, clock)
    path = f"/cases/{emergency.case.public_id}/break-glass"
    token = csrf_token(browser, path)

    for _ in range(app.config["MARAC_LOCKOUT_THRESHOLD"]):
        browser.post(path, data={"csrf_token": token, "reason": REASON, "code": wrong_code(user, clock)})

    locked = fresh_user(user)
    assert locked.failed_attempts == app.config["MARAC_LOCKOUT_THRESHOLD"]
    assert locked.locked_until is not None
    assert locked.locked_until > clock()
    assert len(events("auth.lockout", user.user.public_id)) == 1
    assert browser.get(f"/cases/{emergency.case.public_id}").status_code == 302  # signed out
    assert grants() == []


# --- the DPO -------------------------------------------------------------------------------------------------------


def test_dpo_cannot_review_their_own_use(app: Flask, emergency: Emergency, clock: FakeClock) -> None:
    grant = make_break_glass_grant(emergency.case, emergency.dpo.user)
    browser = signed_in(app, emergency.dpo, clock)
    path = f"/dpo/break-glass/{grant.public_id}"

    response = post_form(browser, path, {"outcome": "justified", "note": ""})

    assert response.status_code == 400
    assert "You cannot review your own use of emergency access: another DPO must" in text_of(response)
    assert grants()[0].reviewed_at is None
    assert events("break_glass.review") == []
    other_dpo = make_user(Role.DPO, agency=make_agency(AgencyKind.LOCAL_AUTHORITY))
    reviewed = post_form(signed_in(app, other_dpo, clock), path, {"outcome": "justified", "note": ""})
    assert reviewed.status_code == 302
    assert grants()[0].reviewed_by_id == other_dpo.user.id


def test_a_use_is_reviewed_once(app: Flask, emergency: Emergency, clock: FakeClock) -> None:
    grant = make_break_glass_grant(emergency.case, emergency.practitioner.user)
    browser = signed_in(app, emergency.dpo, clock)
    path = f"/dpo/break-glass/{grant.public_id}"
    token = csrf_token(browser, path)
    assert browser.post(path, data={"csrf_token": token, "outcome": "justified"}).status_code == 302

    again = browser.post(path, data={"csrf_token": token, "outcome": "not_justified", "note": "Changed my mind now"})

    assert again.status_code == 400
    assert "This use has already been reviewed" in text_of(again)
    assert grants()[0].review_outcome == "justified"


@pytest.mark.parametrize("role", [Role.REFERRER, Role.COORDINATOR, Role.ADMIN])
def test_only_a_dpo_reviews_break_glass(app: Flask, emergency: Emergency, clock: FakeClock, role: Role) -> None:
    grant = make_break_glass_grant(emergency.case, emergency.practitioner.user)
    browser = signed_in(app, make_user(role, agency=make_agency()), clock)

    assert browser.get("/dpo/break-glass").status_code == 403
    assert browser.get(f"/dpo/break-glass/{grant.public_id}").status_code == 403
    assert grants()[0].reviewed_at is None


def test_dpo_who_breaks_glass_can_read_the_case(app: Flask, emergency: Emergency, clock: FakeClock) -> None:
    dpo = emergency.dpo
    browser = signed_in(app, dpo, clock)

    granted = break_glass(browser, dpo, clock, emergency.case.public_id)
    assert granted.status_code == 302

    page = browser.get(granted.headers["Location"])
    assert page.status_code == 200
    assert BANNER in text_of(page)
