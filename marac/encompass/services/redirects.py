"""Naming a child's setting after intake: resolving an unresolved notification (its setting was not known, or had
nobody to receive it), and moving a sent one to the child's right setting (the police named the wrong one). Either
way it is sent there at once, due for that setting (late when past due). A moved one starts its acknowledgement and
escalation again, the setting told in error loses it at once and is told so (content-free), and the move joins the
incident's correction history with its sealed reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from marac import audit, db
from marac.access import can_correct_incident, can_resolve_notification
from marac.auth.models import User
from marac.encompass.models import CorrectionKind, EducationSetting, EncompassNotification, Route
from marac.encompass.services import delivery
from marac.encompass.services.corrections import (
    RETAINED,
    note_correction,
    reason_problems,
    were_told,
    with_access,
)
from marac.encompass.services.intake import IntakeError
from marac.encompass.services.recording import due_time
from marac.encompass.services.settings import closures_for
from marac.notify.centre import notify_user

#: Notification-centre kind: a notification withdrawn from a setting told in error.
WITHDRAWN_KIND = "encompass_withdrawn"
ENTER_MOVE_REASON = "Enter why the notification is moving to another setting"
NOT_SENT = "This notification has not been sent yet: name its setting from the unresolved notifications instead"


def redirect_notification(
    actor: Any, notification: EncompassNotification, urn: str, reason: str
) -> EncompassNotification:
    """Move a sent notification to the child's right setting, saying why: its due time is worked out again from the
    incident for that setting, it is sent at once to that setting's briefed key adults (late when past due) with its
    acknowledgement and escalation started again, and the setting told in error loses it at once and is told so.
    IntakeError (on "urn" and "reason") when it cannot move: nothing is then changed."""
    child = notification.child
    incident = child.incident
    if not can_correct_incident(actor, incident):
        raise PermissionError("only the recording officer or a lead of the recording force may redirect this")
    unexplained = reason_problems(reason, ENTER_MOVE_REASON)
    try:
        setting = _target(notification, urn)
    except IntakeError as exc:
        raise IntakeError(exc.problems + unexplained) from None
    if unexplained:
        raise IntakeError(unexplained)
    told = were_told(notification)
    old_setting = notification.setting
    old_people = [u for u in with_access(notification) if u.id in told]
    _start_again(notification)
    _send_to(notification, setting)
    now_told = {u.id for u in with_access(notification)}
    _tell_withdrawn(notification, old_setting, [u for u in old_people if u.id not in now_told])
    moved = {"from_setting_id": old_setting.id if old_setting is not None else None, "to_setting_id": setting.id}
    note_correction(actor, incident, CorrectionKind.REDIRECT, ["setting"], reason, notification_id=notification.id,
                     **moved)  # fmt: skip
    audit.record(
        "encompass.redirect",
        actor=actor,
        object_type="encompass_notification",
        object_id=notification.public_id,
        details={
            "from": old_setting.public_id if old_setting is not None else None,
            "to": setting.public_id,
            "late": notification.is_late,
            "reason_length": len(reason.strip()),
        },
    )
    return notification


def _target(notification: EncompassNotification, urn: str) -> EducationSetting:
    """The setting to move the notification to, or IntakeError saying why it cannot go there."""
    if notification.anonymised_at is not None:
        raise IntakeError([("urn", RETAINED)])
    if notification.route == Route.UNRESOLVED.value or notification.sent_at is None:
        raise IntakeError([("urn", NOT_SENT)])
    setting = _setting_by_urn(urn)
    if notification.route == Route.SETTING.value and notification.setting_id == setting.id:
        raise IntakeError([("urn", f"The notification already went to {setting.name}: enter the right setting's URN")])
    _check_can_receive(setting)
    clash = select(EncompassNotification.id).where(
        EncompassNotification.child_id == notification.child_id, EncompassNotification.setting_id == setting.id
    )
    if db.session.scalar(clash) is not None:
        raise IntakeError([("urn", f"{setting.name} already has a notification about this child")])
    return setting


def _start_again(notification: EncompassNotification) -> None:
    """Clear what the setting told in error did with it: opened, acknowledged (with its note), escalated."""
    notification.opened_at, notification.opened_by_id = None, None
    notification.acknowledged_at, notification.acknowledged_by_id = None, None
    notification.support_note = None
    notification.escalation_level, notification.escalated_at = 0, None


def _tell_withdrawn(notification: EncompassNotification, old: EducationSetting | None, people: list[User]) -> int:
    """Tell the key adults who lost the notification that it was withdrawn (no child details). How many."""
    where = old.name if old is not None else "children's social care"
    text = (
        f"An Operation Encompass notification sent to {where} was withdrawn: the police sent it to the wrong "
        "setting. You can no longer open it."
    )
    was = old.public_id if old is not None else Route.HOME_EDUCATION.value
    key = f"{notification.public_id}:{was}:{db.utcnow().isoformat()}"  # moved away from here again later: told again
    return sum(notify_user(u, WITHDRAWN_KIND, key, text, "/encompass/notifications") is not None for u in people)


def notification_by_id(public_id: str) -> EncompassNotification | None:
    """The notification with this public id (who may act on it is for the caller to decide)."""
    return db.session.scalar(select(EncompassNotification).where(EncompassNotification.public_id == public_id))


def resolve_notification(actor: Any, notification: EncompassNotification, urn: str) -> EncompassNotification:
    """Name the setting of a child whose notification was unresolved: its due time is worked out again from the
    incident for that setting (so it stays due if it was), and it is sent at once (late when past due)."""
    if not can_resolve_notification(actor, notification):
        raise PermissionError("only a lead for its local authority or the recording force may resolve this")
    setting = _setting_by_urn(urn)
    _check_can_receive(setting)
    _send_to(notification, setting)
    audit.record(
        "encompass.resolve",
        actor=actor,
        object_type="encompass_notification",
        object_id=notification.public_id,
        details={"late": notification.is_late},
    )
    return notification


def _setting_by_urn(urn: str) -> EducationSetting:
    """The setting with the URN given, or IntakeError (on "urn") in intake's words."""
    urn = (urn or "").strip()
    setting = db.session.scalar(select(EducationSetting).where(EducationSetting.urn == urn)) if urn else None
    if setting is None:
        raise IntakeError([("urn", f"No setting has URN {urn[:12]}" if urn else "Enter the setting's URN")])
    return setting


def _check_can_receive(setting: EducationSetting) -> None:
    if not delivery.can_deliver_to_setting(setting):
        raise IntakeError([("urn", f"{setting.name} has no briefed key adult to receive the notification")])


def _send_to(notification: EncompassNotification, setting: EducationSetting) -> None:
    """Route the notification (and its child) to `setting`, due at its next school day after the incident, and send
    it to the setting's key adults now."""
    child, incident = notification.child, notification.child.incident
    child.setting_id, child.home_educated, child.local_authority_id = setting.id, False, setting.local_authority_id
    notification.setting_id, notification.route = setting.id, Route.SETTING.value
    notification.local_authority_id = setting.local_authority_id
    notification.due_at = due_time(incident.occurred_at, setting, None, closures_for([setting.id]))
    db.session.flush()
    db.session.refresh(notification, ["setting"])
    delivery.deliver(notification, incident)
