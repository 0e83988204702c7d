"""The text alerts page: one's own work mobile number (UK mobiles only, sealed, confirmed by a texted code), text
alerts on or off, a test text."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.notify.models import OutboxMessage
from marac.notify.relay import relay_once
from marac.notify.services import queue_message
from marac.notify.texts import (
    CODE_EXPIRED,
    CODE_LOCKED,
    CODE_USED,
    CODE_WRONG,
    LANDLINE,
    NEEDS_NUMBER,
    NOT_A_NUMBER,
    NOT_MOBILE,
    OTHER_COUNTRY,
    TEST_TEXT_BODY,
)
from tests.auth.helpers import audit_events, fresh, text_of
from tests.conftest import FakeClock
from tests.factories import Account, csrf_token, login_as, make_user, post_form

PAGE = "/account/notifications"
CONFIRM = "/account/notifications/confirm"
NEW_CODE = "/account/notifications/confirm/new-code"
TEST_TEXT = "/account/notifications/test-text"
CODE_IN_TEXT = re.compile(
    r"^OFFICIAL-SENSITIVE: ([0-9]{6}) is your MARAC code to confirm this number\. It expires in 15 minutes\.$"
)


@pytest.fixture
def account(client: FlaskClient, clock: FakeClock) -> Account:
    """A signed-in agency representative with no number and text alerts off."""
    signed_in = make_user(Role.AGENCY_REP)
    login_as(client, signed_in, clock)
    return signed_in


def save(client: FlaskClient, number: str, alerts: str = "yes") -> Any:
    return post_form(client, PAGE, {"mobile_number": number, "text_alerts": alerts})


def texts() -> list[OutboxMessage]:
    """Texts other than codes."""
    query = select(OutboxMessage).where(OutboxMessage.channel == "sms", OutboxMessage.kind != "mobile_code")
    return list(db.session.scalars(query))


def code_texts() -> list[OutboxMessage]:
    """The texts carrying codes, oldest first."""
    query = select(OutboxMessage).where(OutboxMessage.kind == "mobile_code").order_by(OutboxMessage.id)
    return list(db.session.scalars(query))


def last_code() -> str:
    """The code in the newest code text."""
    match = CODE_IN_TEXT.match(code_texts()[-1].body)
    assert match, code_texts()[-1].body
    return match.group(1)


def other_than(code: str) -> str:
    """A well-formed code that is not `code`."""
    return f"{(int(code) + 1) % 10**6:06d}"


def enter_code(client: FlaskClient, code: str) -> Any:
    return client.post(CONFIRM, data={"csrf_token": csrf_token(client, PAGE), "code": code})


def save_and_confirm(client: FlaskClient, number: str, alerts: str = "yes") -> None:
    assert save(client, number, alerts).headers["Location"] == CONFIRM
    assert enter_code(client, last_code()).headers["Location"] == PAGE


def texted_to(folder: Path) -> list[str]:
    """The number each relayed text went to, in file order."""
    return sorted(f.read_text().split("\n", 1)[0] for f in folder.glob("*.txt"))


@pytest.mark.parametrize("typed", ["07700 900123", "+44 7700 900123", "07700900123", "0044 7700 900123"])
def test_a_new_number_is_kept_pending_in_e164_and_sealed(client: FlaskClient, account: Account, typed: str) -> None:
    response = save(client, typed)
    assert (response.status_code, response.headers["Location"]) == (302, CONFIRM)
    user = fresh(account.user)
    assert (user.pending_mobile_number, user.pending_text_alerts) == ("+447700900123", True)
    assert (user.mobile_number, user.text_alerts) == (None, False)  # nothing texted to it before it is confirmed
    raw = db.session.execute(
        text("SELECT pending_mobile_number_sealed, mobile_code_hash FROM users WHERE id = :id"), {"id": user.id}
    ).one()
    for digits in (b"7700900123", b"7700 900123", b"900123"):
        assert digits not in bytes(raw[0])
    assert last_code().encode() not in bytes(raw[1])


def test_the_code_text_goes_to_the_new_number_and_confirms_it(
    app: Flask, client: FlaskClient, account: Account
) -> None:
    save(client, "07700 900123")
    page = text_of(client.get(CONFIRM))
    assert "Enter the code we sent to 07xxx xxx123." in page
    assert "900123" not in page
    (queued,) = code_texts()
    assert (queued.recipient_id, queued.channel, queued.address) == (account.user.id, "sms", "sms")
    assert queued.subject == "OFFICIAL-SENSITIVE: MARAC code to confirm your mobile number"
    code = last_code()
    assert code not in queued.idempotency_key
    assert relay_once().sent == 1
    (written,) = Path(app.config["MARAC_OUTBOX_DIR"]).glob("*.txt")
    assert written.read_text().startswith("To: +447700900123\n")
    assert f"\n\nOFFICIAL-SENSITIVE: {code} is your MARAC code to confirm this number." in written.read_text()
    response = enter_code(client, f" {code[:3]} {code[3:]} ")
    assert response.headers["Location"] == PAGE
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts, user.pending_mobile_number) == ("+447700900123", True, None)
    page = text_of(client.get(PAGE))
    assert "Your number is confirmed. Your text alerts are on." in page
    assert "07700 900123" in page  # shown back as people write it
    assert [e.details for e in audit_events("account.mobile_confirmed", user)] == [
        {"text_alerts": True, "mobile_number": "added"}
    ]


def test_alerts_keep_going_to_the_confirmed_number_until_the_new_one_is_confirmed(
    app: Flask, client: FlaskClient, account: Account
) -> None:
    folder = Path(app.config["MARAC_OUTBOX_DIR"])
    save_and_confirm(client, "07700 900123")
    save(client, "07700 900456")
    new_code = last_code()  # as the phone shows it (the outbox keeps it only until the text is sent)
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts, user.pending_mobile_number) == (
        "+447700900123",
        True,
        "+447700900456",
    )
    assert "We sent a code to 07xxx xxx456." in text_of(client.get(PAGE))
    queue_message(user, "action_overdue_escalation", "a1")
    db.session.commit()
    assert relay_once().skipped == 1  # the first number's code: that number was confirmed before it went
    assert texted_to(folder) == ["To: +447700900123", "To: +447700900456"]  # the alert, the new number's code
    enter_code(client, new_code)
    queue_message(fresh(account.user), "action_overdue_escalation", "a2")
    db.session.commit()
    relay_once()
    assert texted_to(folder).count("To: +447700900456") == 2
    assert [e.details["mobile_number"] for e in audit_events("account.mobile_confirmed", user)] == ["added", "changed"]


def test_five_wrong_codes_need_a_new_code(client: FlaskClient, account: Account, clock: FakeClock) -> None:
    save(client, "07700 900123")
    code = last_code()
    for attempt in range(1, 6):
        response = enter_code(client, other_than(code))
        assert response.status_code == 400
        assert (CODE_WRONG if attempt < 5 else CODE_LOCKED) in text_of(response)
    response = enter_code(client, code)  # even the right one, now
    assert response.status_code == 400
    assert CODE_LOCKED in text_of(response)
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts, user.mobile_code_attempts) == (None, False, 5)
    assert len(audit_events("account.mobile_code_refused", user)) == 6
    clock.advance(minutes=1)
    post_form(client, NEW_CODE, {}, form_path=CONFIRM)
    assert len(code_texts()) == 2
    assert enter_code(client, last_code()).headers["Location"] == PAGE
    assert fresh(account.user).mobile_number == "+447700900123"


def test_an_expired_code_is_refused(client: FlaskClient, account: Account, clock: FakeClock) -> None:
    save(client, "07700 900123")
    clock.advance(minutes=15)
    response = enter_code(client, last_code())
    assert response.status_code == 400
    assert CODE_EXPIRED in text_of(response)
    user = fresh(account.user)
    assert (user.mobile_number, user.pending_mobile_number) == (None, "+447700900123")


def test_a_used_or_superseded_code_is_refused(client: FlaskClient, account: Account, clock: FakeClock) -> None:
    save_and_confirm(client, "07700 900123")
    used = last_code()
    response = enter_code(client, used)
    assert response.status_code == 400
    assert CODE_USED in text_of(response)
    save(client, "07700 900456")
    response = enter_code(client, used)  # the first number's code does not confirm the second
    assert response.status_code == 400
    assert CODE_WRONG in text_of(response)
    assert fresh(account.user).mobile_number == "+447700900123"


def test_a_new_code_at_most_once_a_minute_and_the_old_one_stops_working(
    client: FlaskClient, account: Account, clock: FakeClock
) -> None:
    save(client, "07700 900123")
    first = last_code()
    post_form(client, NEW_CODE, {}, form_path=CONFIRM)
    assert "wait a minute" in text_of(client.get(CONFIRM))
    assert len(code_texts()) == 1
    clock.advance(minutes=1)
    post_form(client, NEW_CODE, {}, form_path=CONFIRM)
    assert "A new code is on its way." in text_of(client.get(CONFIRM))
    assert len(code_texts()) == 2
    if last_code() != first:
        assert enter_code(client, first).status_code == 400
    assert enter_code(client, last_code()).headers["Location"] == PAGE
    assert [e.details for e in audit_events("account.mobile_code_sent", account.user)] == [
        {"queued": False},
        {"queued": True},
    ]


def test_saving_the_same_pending_number_again_sends_no_second_code(client: FlaskClient, account: Account) -> None:
    save(client, "07700 900123")
    assert save(client, "07700900123", alerts="no").headers["Location"] == CONFIRM
    assert len(code_texts()) == 1
    enter_code(client, last_code())
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts) == ("+447700900123", False)


def test_the_confirm_page_without_a_new_number_leads_back(client: FlaskClient, account: Account) -> None:
    assert client.get(CONFIRM).headers["Location"] == PAGE


def test_a_malformed_code_is_refused_with_400_and_not_counted(client: FlaskClient, account: Account) -> None:
    save(client, "07700 900123")
    for typed in (
        "",
        "12345",
        "1234567",
        "12a456",
        "\u0661\u0662\u0663\u0664\u0665\u0666",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "1" * 5000,
    ):
        response = enter_code(client, typed)
        assert response.status_code == 400, typed
        assert "6-digit code" in text_of(response) or "must be 6 digits" in text_of(response)
    assert enter_code(client, "123\x00456").status_code == 400  # NUL is refused before any form sees it
    user = fresh(account.user)
    assert (user.mobile_code_attempts, user.mobile_number) == (0, None)


def test_the_code_never_reaches_the_audit_trail_or_the_logs(
    client: FlaskClient, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    save(client, "07700 900123")
    code = last_code()
    enter_code(client, other_than(code))
    assert relay_once().sent == 1
    db.session.expire_all()
    assert [m.status for m in code_texts()] == ["sent"]
    assert code not in code_texts()[0].body  # the outbox keeps a code only until its text is sent
    enter_code(client, code)
    enter_code(client, code)
    details = [json.dumps(e.details) for e in db.session.scalars(select(AuditEvent))]
    recorded = " ".join(details) + capsys.readouterr().out
    assert "account.mobile_confirmed" in " ".join(e.action for e in db.session.scalars(select(AuditEvent)))
    for secret in (code, other_than(code), "900123"):
        assert secret not in recorded


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("020 7946 0000", LANDLINE),
        ("+33 6 12 34 56 78", OTHER_COUNTRY),
        ("+1 202 555 0123", OTHER_COUNTRY),
        ("07797 123456", OTHER_COUNTRY),  # Jersey: +44, but not the UK
        ("0800 123 4567", NOT_MOBILE),
        ("hello", NOT_A_NUMBER),
        ("07700", NOT_A_NUMBER),
        ("07400 123456x", NOT_A_NUMBER),
        ("", NEEDS_NUMBER),
    ],
)
def test_a_bad_number_is_refused_with_a_clear_message_and_nothing_saved(
    client: FlaskClient, account: Account, typed: str, message: str
) -> None:
    response = save(client, typed)
    assert response.status_code == 400
    assert message in text_of(response)
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts) == (None, False)
    assert audit_events("account.text_alerts") == []


def test_the_number_can_be_removed_and_alerts_turned_off_without_a_code(client: FlaskClient, account: Account) -> None:
    save_and_confirm(client, "07700 900123")
    save(client, "07700 900456")  # a new number waiting for its code is removed too
    response = save(client, "", alerts="no")
    assert response.headers["Location"] == PAGE
    user = fresh(account.user)
    assert (user.mobile_number, user.mobile_number_enc, user.text_alerts) == (None, None, False)
    assert (user.pending_mobile_number_enc, user.mobile_code_hash) == (None, None)
    assert len(code_texts()) == 2
    assert "Your text alerts are off." in text_of(client.get(PAGE))


def test_alerts_can_be_turned_off_for_the_confirmed_number_without_a_code(
    client: FlaskClient, account: Account
) -> None:
    save_and_confirm(client, "07700 900123")
    assert save(client, "07700 900123", alerts="no").headers["Location"] == PAGE
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts) == ("+447700900123", False)
    assert len(code_texts()) == 1


def test_a_new_number_with_alerts_off_stops_alerts_at_once(client: FlaskClient, account: Account) -> None:
    save_and_confirm(client, "07700 900123")
    save(client, "07700 900456", alerts="no")
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts) == ("+447700900123", False)
    enter_code(client, last_code())
    user = fresh(account.user)
    assert (user.mobile_number, user.text_alerts) == ("+447700900456", False)


def test_changes_are_audited_without_the_number(
    client: FlaskClient, account: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    save_and_confirm(client, "07700 900123")
    save_and_confirm(client, "07700 900456")
    save(client, "", alerts="no")
    events = audit_events("account.text_alerts", account.user)
    assert [e.details for e in events] == [
        {"text_alerts": False, "mobile_number": "pending", "code_queued": True},
        {"text_alerts": True, "mobile_number": "pending", "code_queued": True},
        {"text_alerts": False, "mobile_number": "removed", "code_queued": False},
    ]
    confirmed = audit_events("account.mobile_confirmed", account.user)
    assert [e.details for e in confirmed] == [
        {"text_alerts": True, "mobile_number": "added"},
        {"text_alerts": True, "mobile_number": "changed"},
    ]
    recorded = json.dumps([e.details for e in events + confirmed]) + capsys.readouterr().out
    assert "900123" not in recorded
    assert "900456" not in recorded


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, account: Account) -> None:
    response = client.post(PAGE, data={"mobile_number": "07700 900123", "text_alerts": "yes"})
    assert response.status_code == 400
    assert fresh(account.user).mobile_number is None


def test_a_test_text_is_queued_content_free_once_a_minute(
    client: FlaskClient, account: Account, clock: FakeClock
) -> None:
    save_and_confirm(client, "07700 900123")
    response = post_form(client, TEST_TEXT, {}, form_path=PAGE)
    assert response.status_code == 302
    assert "A test text is on its way." in text_of(client.get(PAGE))
    (queued,) = texts()
    assert (queued.kind, queued.address, queued.body) == ("test_text", "sms", TEST_TEXT_BODY)
    assert queued.recipient_id == account.user.id
    post_form(client, TEST_TEXT, {}, form_path=PAGE)
    assert "wait a minute" in text_of(client.get(PAGE))
    assert len(texts()) == 1
    clock.advance(minutes=1)
    post_form(client, TEST_TEXT, {}, form_path=PAGE)
    assert len(texts()) == 2
    assert [e.details for e in audit_events("account.test_text", account.user)] == [
        {"queued": True},
        {"queued": False},
        {"queued": True},
    ]


def test_a_test_text_needs_text_alerts_on(client: FlaskClient, account: Account) -> None:
    save_and_confirm(client, "07700 900123", alerts="no")
    page = text_of(client.get(PAGE))
    assert "Send a test text" not in page
    response = post_form(client, TEST_TEXT, {}, form_path=PAGE)
    assert response.status_code == 302
    assert "Turn on text alerts" in text_of(client.get(PAGE))
    assert texts() == []


def test_the_page_is_linked_from_the_header(client: FlaskClient, account: Account) -> None:
    assert f'href="{PAGE}"' in text_of(client.get("/"))


def test_without_a_text_backend_the_page_says_texts_are_not_available(
    app: Flask, client: FlaskClient, account: Account
) -> None:
    app.config["MARAC_SMS_BACKEND"] = "none"
    page = text_of(client.get(PAGE))
    assert "Text alerts are not available here." in page
    assert 'name="mobile_number"' not in page
    assert f'href="{PAGE}"' not in text_of(client.get("/"))
    assert save(client, "07700 900123").status_code == 404
    assert post_form(client, TEST_TEXT, {}, form_path=PAGE).status_code == 404
    assert client.get(CONFIRM).status_code == 404
    assert enter_code(client, "123456").status_code == 404
    assert post_form(client, NEW_CODE, {}, form_path=PAGE).status_code == 404
    assert fresh(account.user).mobile_number is None


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in")


@pytest.mark.parametrize("path", [PAGE, TEST_TEXT, CONFIRM, NEW_CODE])
def test_anonymous_posts_are_refused(client: FlaskClient, path: str) -> None:
    assert client.post(path, data={"mobile_number": "07700 900123", "text_alerts": "yes"}).status_code == 400  # CSRF
    response = post_form(client, path, {"mobile_number": "07700 900123", "text_alerts": "yes"}, form_path="/sign-in")
    assert response.status_code == 401  # as every signed-in-only POST answers a visitor with a valid form
    assert texts() == code_texts() == []


def test_codes_are_capped_per_hour_however_often_the_number_changes(
    client: FlaskClient, account: Account, clock: FakeClock
) -> None:
    for n in range(5):
        assert save(client, f"07700 90012{n}").headers["Location"] == CONFIRM
    refused = save(client, "07700 900129")
    assert refused.status_code == 400
    assert "Too many codes were sent in the last hour" in text_of(refused)
    assert len(code_texts()) == 5
    assert str(fresh(account.user).pending_mobile_number) == "+447700900124"  # the last one still waits
    clock.advance(minutes=61)
    login_as(client, account, clock)
    assert save(client, "07700 900129").headers["Location"] == CONFIRM


def test_wrong_codes_sent_at_once_are_each_counted(committed_app: Flask) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor
    from datetime import UTC, datetime

    from marac.auth.models import User
    from marac.notify import texts as text_alerts

    now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    committed_app.config["MARAC_SMS_BACKEND"] = "outbox"
    with committed_app.app_context():
        user = make_user(Role.AGENCY_REP).user
        text_alerts.set_text_alerts(user, "07700 900123", True, now)
        db.session.commit()
        user_id, code = user.id, last_code()
    wrong = [f"{(int(code) + k) % 10**6:06d}" for k in range(1, 9)]
    barrier = threading.Barrier(8, timeout=60)

    def guess(n: int) -> str | None:
        barrier.wait()  # before any read: on SQLite the first read takes the write lock
        with committed_app.app_context():
            actor = db.session.get(User, user_id)
            assert actor is not None
            problem = text_alerts.confirm_mobile_number(actor, wrong[n], now)
            db.session.commit()
            return problem

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(guess, range(8)))
    with committed_app.app_context():
        assert db.session.get(User, user_id).mobile_code_attempts == 5  # type: ignore[union-attr]
    assert sorted(a or "" for a in answers).count(text_alerts.CODE_WRONG) <= 4
    assert answers.count(text_alerts.CODE_LOCKED) >= 4


def test_saving_the_waiting_number_again_after_its_code_expired_sends_a_new_code(
    client: FlaskClient, account: Account, clock: FakeClock
) -> None:
    save(client, "07700 900123")
    first = last_code()
    clock.advance(minutes=16)
    assert save(client, "07700900123").headers["Location"] == CONFIRM
    assert len(code_texts()) == 2
    second = last_code()
    if second != first:
        assert enter_code(client, first).status_code == 400
    assert enter_code(client, second).headers["Location"] == PAGE
