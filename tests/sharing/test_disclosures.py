"""Disclosing a case to another agency with its lawful basis, what the DPO sees of it, and the must-not-receive
check that comes before anything is shared."""

from __future__ import annotations

import contextlib
import html
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from marac import db
from marac.access import CaseRelation, Role
from marac.audit.models import AuditEvent
from marac.cases.models import Case
from marac.orgs.models import Agency, AgencyKind, Area
from marac.people.models import Person, PersonKind
from marac.sharing.models import Disclosure, MustNotReceive
from marac.sharing.services import (
    SharingError,
    add_user_to_must_not_receive,
    must_not_receive_problem,
    record_disclosure,
)
from tests.conftest import FakeClock
from tests.factories import (
    Account,
    login_as,
    make_agency,
    make_area,
    make_break_glass_grant,
    make_case,
    make_disclosure,
    make_person,
    make_user,
    post_form,
)

WORKING = frozenset({CaseRelation.REFERRING_AGENCY})
REASON = "Asking her would alert the perpetrator, who reads her messages"
PURPOSE = "Housing need a safe move before the MARAC meeting"


def text_of(response: Any) -> str:
    """The page as a reader sees the words, tags and spacing collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def events(action: str, object_id: str | None = None) -> list[AuditEvent]:
    """Audit events of one action (on one object), oldest first."""
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == action)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    return list(db.session.scalars(query.order_by(AuditEvent.seq)))


def disclosures() -> list[Disclosure]:
    """Every disclosure, oldest first."""
    db.session.expire_all()
    return list(db.session.scalars(select(Disclosure).order_by(Disclosure.id)))


def signed_in(app: Flask, account: Account, clock: FakeClock) -> FlaskClient:
    """A new browser signed in as `account`."""
    browser = app.test_client()
    login_as(browser, account, clock)
    return browser


@dataclass
class Setting:
    """A police referral (with a perpetrator), and a housing agency that does not yet know of it."""

    area: Area
    police: Agency
    officer: Account
    housing: Agency
    housing_officer: Account
    case: Case
    perpetrator: Person


@pytest.fixture
def setting(app: Flask) -> Setting:
    """The case to be shared."""
    area = make_area()
    police = make_agency(AgencyKind.POLICE, [area], name="Northvale Police")
    officer = make_user(Role.REFERRER, agency=police)
    housing = make_agency(AgencyKind.HOUSING, [make_area()], name="Northvale Homes")
    housing_officer = make_user(Role.AGENCY_REP, agency=housing)
    perpetrator = make_person(
        PersonKind.PERPETRATOR, officer.user, email="Wayne.Hollis@example.net", phones=["07700 900888"]
    )
    victim = make_person(PersonKind.VICTIM, officer.user, given_name="Marigold", family_name="Quennell")
    case = make_case(area=area, agency=police, victim=victim, actor=officer.user, perpetrator=perpetrator)
    return Setting(area, police, officer, housing, housing_officer, case, perpetrator)


def disclosure_form(to: Agency, **overrides: Any) -> dict[str, Any]:
    """The disclosure form as an officer fills it in (checkboxes post a list)."""
    data: dict[str, Any] = {
        "to_agency": to.public_id,
        "parts": ["summary", "victim"],
        "purpose": PURPOSE,
        "article6_basis": "public_task",
        "special_condition": "s115",
        "consent": "not_sought",
        "no_consent_reason": REASON,
    }
    data.update(overrides)
    return data


# --- recording a disclosure ----------------------------------------------------------------------------------------


def test_sharing_without_consent_needs_a_reason(app: Flask, setting: Setting, clock: FakeClock) -> None:
    browser = signed_in(app, setting.officer, clock)
    path = f"/cases/{setting.case.public_id}/disclose"

    response = post_form(browser, path, disclosure_form(setting.housing, no_consent_reason="Risk"))

    assert response.status_code == 400
    assert "Explain why you are sharing without consent (at least 20 characters)" in text_of(response)
    assert disclosures() == []
    assert events("disclosure.create") == []
    assert signed_in(app, setting.housing_officer, clock).get(f"/cases/{setting.case.public_id}").status_code == 404


def test_recorded_disclosure_lets_the_receiving_agency_see_the_case_and_is_audited(
    app: Flask, setting: Setting, clock: FakeClock
) -> None:
    browser = signed_in(app, setting.officer, clock)
    housing_browser = signed_in(app, setting.housing_officer, clock)
    case_path = f"/cases/{setting.case.public_id}"
    assert housing_browser.get(case_path).status_code == 404

    response = post_form(browser, f"{case_path}/disclose", disclosure_form(setting.housing))

    assert response.status_code == 302
    assert response.headers["Location"] == case_path
    assert "Disclosure to Northvale Homes recorded. Their practitioners can now see this case." in text_of(
        browser.get(case_path)
    )
    [disclosure] = disclosures()
    assert (disclosure.case_id, disclosure.from_agency_id, disclosure.to_agency_id) == (
        setting.case.id,
        setting.police.id,
        setting.housing.id,
    )
    assert (disclosure.parts, disclosure.article6_basis, disclosure.special_condition, disclosure.consent) == (
        "summary,victim",
        "public_task",
        "s115",
        "not_sought",
    )
    assert (disclosure.purpose, disclosure.no_consent_reason) == (PURPOSE, REASON)
    assert disclosure.disclosed_by_id == setting.officer.user.id
    raw = db.session.execute(
        text("SELECT purpose, no_consent_reason FROM disclosures WHERE id = :id"), {"id": disclosure.id}
    ).one()
    assert b"safe move" not in bytes(raw[0])
    assert b"alert the perpetrator" not in bytes(raw[1])
    [event] = events("disclosure.create", setting.case.public_id)
    assert (event.actor_user_id, event.outcome) == (setting.officer.user.id, "success")
    assert event.details == {
        "disclosure": disclosure.public_id,
        "to_agency": setting.housing.public_id,
        "parts": "summary,victim",
        "article6": "public_task",
        "condition": "s115",
        "consent": "not_sought",
        "barred_accounts": 0,
    }
    seen = housing_browser.get(case_path)
    assert seen.status_code == 200
    assert f"Case {setting.case.reference}" in text_of(seen)
    assert setting.case.reference in text_of(housing_browser.get("/cases/"))


def test_consent_given_needs_no_reason_and_keeps_none(app: Flask, setting: Setting, clock: FakeClock) -> None:
    browser = signed_in(app, setting.officer, clock)
    data = disclosure_form(setting.housing, consent="given", article6_basis="consent", no_consent_reason="ignored")

    response = post_form(browser, f"/cases/{setting.case.public_id}/disclose", data)

    assert response.status_code == 302
    [disclosure] = disclosures()
    assert (disclosure.consent, disclosure.no_consent_reason) == ("given", None)


REFUSALS = {
    "consent as the Article 6 basis without consent": (
        {"article6_basis": "consent", "consent": "refused"},
        "Consent cannot be the lawful basis when the victim has not given it",
    ),
    "explicit consent as the condition without consent": (
        {"special_condition": "explicit_consent", "consent": "not_sought"},
        "Explicit consent cannot be the condition when the victim has not given it",
    ),
    "nothing chosen to share": ({"parts": []}, "Select what you are sharing"),
    "a part that does not exist": ({"parts": ["everything"]}, "'everything' is not a valid choice for this field"),
    "purpose too short": ({"purpose": "housing"}, "Purpose must be between 10 and 1000 characters"),
    "no Article 6 basis": ({"article6_basis": ""}, "Select the Article 6 lawful basis"),
    "no condition": ({"special_condition": ""}, "Select the condition or power you rely on"),
    "no consent answer": ({"consent": ""}, "Select whether the victim consented"),
}


@pytest.mark.parametrize("refusal", REFUSALS)
def test_disclosure_without_a_sound_lawful_basis_is_refused(
    app: Flask, setting: Setting, clock: FakeClock, refusal: str
) -> None:
    overrides, message = REFUSALS[refusal]
    browser = signed_in(app, setting.officer, clock)

    response = post_form(
        browser, f"/cases/{setting.case.public_id}/disclose", disclosure_form(setting.housing, **overrides)
    )

    assert response.status_code == 400
    assert message in text_of(response)
    assert disclosures() == []


def test_disclosing_to_your_own_agency_is_refused(app: Flask, setting: Setting, clock: FakeClock) -> None:
    browser = signed_in(app, setting.officer, clock)
    path = f"/cases/{setting.case.public_id}/disclose"

    form = browser.get(path)
    response = post_form(browser, path, disclosure_form(setting.police))

    assert setting.police.name not in text_of(form).split("Share with", 1)[1]
    assert response.status_code == 400
    assert "Choose another agency" in text_of(response)
    assert disclosures() == []
    with pytest.raises(SharingError, match="Choose another agency"):
        make_disclosure(setting.case, setting.police, setting.officer.user)


def test_disclosing_to_an_inactive_agency_is_refused(setting: Setting) -> None:
    setting.housing.is_active = False
    db.session.commit()

    with pytest.raises(SharingError, match="no longer active"):
        make_disclosure(setting.case, setting.housing, setting.officer.user)


def _by_disclosure(setting: Setting) -> Account:
    make_disclosure(setting.case, setting.housing, setting.officer.user)
    return setting.housing_officer


def _by_break_glass(setting: Setting) -> Account:
    account = make_user(Role.REFERRER, agency=make_agency(AgencyKind.HEALTH))
    make_break_glass_grant(setting.case, account.user)
    return account


@pytest.mark.parametrize("how", [_by_disclosure, _by_break_glass], ids=["disclosure", "break-glass"])
def test_a_user_who_only_reads_the_case_cannot_pass_it_on(
    app: Flask, setting: Setting, clock: FakeClock, how: Any
) -> None:
    reader = how(setting)
    browser = signed_in(app, reader, clock)
    path = f"/cases/{setting.case.public_id}/disclose"
    onward = make_agency(AgencyKind.CHILDRENS_SOCIAL_CARE)
    before = len(disclosures())

    shown = browser.get(path)
    posted = post_form(browser, path, disclosure_form(onward), form_path="/")  # a token from any page

    assert (shown.status_code, posted.status_code) == (403, 403)
    assert "You do not have access to this page" in text_of(shown)
    denials = [e for e in events("disclosure.create", setting.case.public_id) if e.actor_user_id == reader.user.id]
    assert [(e.outcome, e.details) for e in denials] == [("denied", {"reason": "read_only_relation"})] * 2
    assert len(disclosures()) == before
    case_page = text_of(browser.get(f"/cases/{setting.case.public_id}"))
    assert "Share with another agency" not in case_page
    with pytest.raises(SharingError, match="you can see it but not pass it on"):
        record_disclosure(
            reader.user,
            setting.case,
            frozenset({CaseRelation.DISCLOSURE}),
            to_agency=onward,
            parts=["summary"],
            purpose=PURPOSE,
            article6_basis="public_task",
            special_condition="s115",
            consent="given",
        )


# --- the DPO's view ------------------------------------------------------------------------------------------------


def test_dpo_sees_who_shared_what_with_whom_why_and_on_what_basis(
    app: Flask, setting: Setting, clock: FakeClock
) -> None:
    make_disclosure(
        setting.case,
        setting.housing,
        setting.officer.user,
        parts=["summary", "victim", "safe_contact"],
        purpose=PURPOSE,
        article6_basis="public_task",
        special_condition="s115",
        consent="not_sought",
        no_consent_reason=REASON,
    )
    unshared = make_case()
    dpo = make_user(Role.DPO, agency=make_agency(AgencyKind.LOCAL_AUTHORITY))
    browser = signed_in(app, dpo, clock)

    listing = browser.get("/dpo/disclosures")
    detail = browser.get(f"/dpo/disclosures/{setting.case.public_id}")

    assert listing.status_code == 200
    listed = text_of(listing)
    assert "1 case shared with other agencies" in listed
    assert setting.case.reference in listed
    assert unshared.reference not in listed
    assert f'href="/dpo/disclosures/{setting.case.public_id}"' in listing.get_data(as_text=True)
    assert detail.status_code == 200
    page = text_of(detail)
    assert "Northvale Police to Northvale Homes" in page
    assert f"Disclosed by {setting.officer.user.display_name}" in page
    for part in ("Case summary (reference, area, referral date, flags)", "Victim's identity details", "Safe contact"):
        assert part in page
    assert "Perpetrators, children and household" not in page
    assert f"Purpose {PURPOSE}" in page
    assert "Article 6 basis 6(1)(e) public task" in page
    assert "Condition or power Crime and Disorder Act 1998 section 115" in page
    assert "Consent Not sought: sharing without consent" in page
    assert f"Why without consent {REASON}" in page
    assert "Marigold" not in page
    assert "Quennell" not in page
    assert [e.actor_user_id for e in events("disclosure.review", setting.case.public_id)] == [dpo.user.id]
    assert [e.actor_user_id for e in events("disclosure.list")] == [dpo.user.id]


def test_dpo_sees_a_case_that_was_never_shared_as_such(app: Flask, setting: Setting, clock: FakeClock) -> None:
    browser = signed_in(app, make_user(Role.DPO, agency=make_agency()), clock)

    assert "No case has been shared yet." in text_of(browser.get("/dpo/disclosures"))
    assert "This case has not been shared." in text_of(browser.get(f"/dpo/disclosures/{setting.case.public_id}"))
    assert browser.get("/dpo/disclosures/00000000-0000-4000-8000-000000000000").status_code == 404


@pytest.mark.parametrize("role", [Role.REFERRER, Role.COORDINATOR, Role.ADMIN])
def test_only_the_dpo_sees_disclosures(app: Flask, setting: Setting, clock: FakeClock, role: Role) -> None:
    make_disclosure(setting.case, setting.housing, setting.officer.user)
    account = make_user(role, agency=setting.police)
    browser = signed_in(app, account, clock)

    for path in ("/dpo/disclosures", f"/dpo/disclosures/{setting.case.public_id}"):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert PURPOSE not in text_of(response)
    denied = db.session.scalars(
        select(AuditEvent.object_id).where(
            AuditEvent.action == "route.denied", AuditEvent.actor_user_id == account.user.id
        )
    ).all()
    assert denied == ["sharing.dpo_disclosures", "sharing.dpo_case_disclosures"]


# --- must not receive ----------------------------------------------------------------------------------------------


def test_named_recipient_on_the_list_is_refused(setting: Setting) -> None:
    recipient = make_user(Role.AGENCY_REP, agency=setting.housing)
    assert must_not_receive_problem(setting.case, user=recipient.user) is None
    add_user_to_must_not_receive(setting.officer.user, setting.case, WORKING, recipient.user)
    db.session.commit()

    assert must_not_receive_problem(setting.case, user=recipient.user) == (
        "This recipient is on the case's must-not-receive list"
    )
    with pytest.raises(SharingError, match="must-not-receive list"):
        make_disclosure(setting.case, setting.housing, setting.officer.user, recipient=recipient.user)
    assert disclosures() == []


def test_recipient_whose_email_is_a_perpetrators_is_refused(setting: Setting) -> None:
    perpetrator_at_work = make_user(Role.AGENCY_REP, agency=setting.housing)
    perpetrator_at_work.user.email = "wayne.hollis@example.net"
    db.session.commit()

    assert must_not_receive_problem(setting.case, user=perpetrator_at_work.user) == (
        "This recipient matches someone on the case's must-not-receive list"
    )
    assert must_not_receive_problem(setting.case, email="WAYNE.HOLLIS@example.net") is not None
    assert must_not_receive_problem(setting.case, phone="+44 7700 900888") is not None
    assert must_not_receive_problem(setting.case, email="someone.else@example.net", phone="07700 900999") is None
    with pytest.raises(SharingError, match="must-not-receive list"):
        make_disclosure(setting.case, setting.housing, setting.officer.user, recipient=perpetrator_at_work.user)


def test_associate_on_the_list_is_matched_by_email(setting: Setting) -> None:
    associate = make_person(PersonKind.OTHER, email="mate.of.wayne@example.com")
    db.session.add(MustNotReceive(case_id=setting.case.id, person_id=associate.id))
    db.session.commit()

    assert must_not_receive_problem(setting.case, email="Mate.Of.Wayne@example.com") is not None


def test_named_recipient_must_work_for_the_receiving_agency(setting: Setting) -> None:
    elsewhere = make_user(Role.AGENCY_REP, agency=make_agency(AgencyKind.HEALTH))

    with pytest.raises(SharingError, match="does not work for that agency"):
        make_disclosure(setting.case, setting.housing, setting.officer.user, recipient=elsewhere.user)


def test_disclosure_to_an_agency_does_not_reach_a_practitioner_matching_the_perpetrator(
    app: Flask, setting: Setting, clock: FakeClock
) -> None:
    perpetrator_at_work = make_user(Role.AGENCY_REP, agency=setting.housing)
    perpetrator_at_work.user.email = "wayne.hollis@example.net"
    db.session.commit()

    with contextlib.suppress(SharingError):  # refusing the disclosure is one acceptable answer
        make_disclosure(setting.case, setting.housing, setting.officer.user)
    db.session.rollback()

    response = signed_in(app, perpetrator_at_work, clock).get(f"/cases/{setting.case.public_id}")
    assert response.status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Disclosure)) in (0, 1)
