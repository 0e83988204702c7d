"""The scheduled jobs, defined in code: each with a stable id, the function it runs, a Europe/London trigger and an
explicit misfire grace time. `marac scheduler` runs them (see marac/scheduler.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from marac.db import LONDON


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job: a stable id, the function it runs (`module:function`) and when."""

    id: str
    target: str
    trigger: str  # "cron" or "interval"
    trigger_args: dict[str, Any]
    misfire_grace_time: int
    description: str = field(default="", compare=False)

    def make_trigger(self) -> BaseTrigger:
        """A fresh trigger in Europe/London (an interval trigger starts counting when it is made)."""
        if self.trigger == "cron":
            return CronTrigger(timezone=LONDON, **self.trigger_args)
        return IntervalTrigger(timezone=LONDON, **self.trigger_args)


def daily(job_id: str, target: str, at: str, grace_hours: int, description: str) -> JobSpec:
    """A job run once a day at `at` (HH:MM, London time), caught up within `grace_hours` if the scheduler was down."""
    hour, minute = (int(part) for part in at.split(":"))
    return JobSpec(job_id, target, "cron", {"hour": hour, "minute": minute}, grace_hours * 3600, description)


def every(job_id: str, target: str, seconds: int, grace_seconds: int, description: str) -> JobSpec:
    """A job run every `seconds`."""
    return JobSpec(job_id, target, "interval", {"seconds": seconds}, grace_seconds, description)


#: Every scheduled job. Ids are stable: logs and alerts refer to them.
JOBS: tuple[JobSpec, ...] = (
    every("outbox-relay", "marac.notify.relay:relay_once", 10, 30, "Send queued notifications from the outbox."),
    daily(
        "meetings-generate",
        "marac.meetings.tasks:generate_upcoming_meetings",
        "02:15",
        6,
        "Schedule each area's meetings for the next three months.",
    ),
    daily(
        "actions-remind",
        "marac.actions.tasks:send_action_reminders",
        "07:00",
        3,
        "Remind action owners of actions falling due.",
    ),
    daily(
        "actions-escalate",
        "marac.actions.tasks:escalate_overdue_actions",
        "07:15",
        3,
        "Escalate overdue actions to the agency's representatives and their supervisors.",
    ),
    daily(
        "reviews-remind",
        "marac.cases.review_tasks:send_review_reminders",
        "07:05",
        3,
        "Remind owners of safety-plan and trigger reviews falling due.",
    ),
    daily(
        "reviews-escalate",
        "marac.cases.review_tasks:escalate_overdue_reviews",
        "07:20",
        3,
        "Escalate overdue reviews to the owner's supervisors and the coordinators.",
    ),
    daily(
        "actions-request-updates",
        "marac.actions.updates:request_action_updates",
        "07:30",
        3,
        "Ask agencies to report on their actions before the next meeting.",
    ),
    every(
        "encompass-escalate",
        "marac.encompass.services.escalation:escalate_unacknowledged",
        5 * 60,
        300,
        "Escalate Encompass notifications not acknowledged in time; chase unresolved ones past due.",
    ),
    daily(
        "encompass-retention",
        "marac.encompass.services.retention:anonymise_expired",
        "03:30",
        6,
        "Remove the content of Operation Encompass notifications past the retention period.",
    ),
)
