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


#: Every scheduled job. Ids are stable: logs and alerts refer to them.
JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        "outbox-relay",
        "marac.notify.relay:relay_once",
        "interval",
        {"seconds": 10},
        misfire_grace_time=30,
        description="Send queued notifications from the outbox.",
    ),
    JobSpec(
        "meetings-generate",
        "marac.meetings.tasks:generate_upcoming_meetings",
        "cron",
        {"hour": 2, "minute": 15},
        misfire_grace_time=6 * 3600,
        description="Schedule each area's meetings for the next three months.",
    ),
    JobSpec(
        "actions-remind",
        "marac.actions.tasks:send_action_reminders",
        "cron",
        {"hour": 7, "minute": 0},
        misfire_grace_time=3 * 3600,
        description="Remind action owners of actions falling due.",
    ),
    JobSpec(
        "actions-escalate",
        "marac.actions.tasks:escalate_overdue_actions",
        "cron",
        {"hour": 7, "minute": 15},
        misfire_grace_time=3 * 3600,
        description="Escalate overdue actions to the agency's representatives and their supervisors.",
    ),
    JobSpec(
        "reviews-remind",
        "marac.cases.review_tasks:send_review_reminders",
        "cron",
        {"hour": 7, "minute": 5},
        misfire_grace_time=3 * 3600,
        description="Remind owners of safety-plan and trigger reviews falling due.",
    ),
    JobSpec(
        "reviews-escalate",
        "marac.cases.review_tasks:escalate_overdue_reviews",
        "cron",
        {"hour": 7, "minute": 20},
        misfire_grace_time=3 * 3600,
        description="Escalate overdue reviews to the owner's supervisors and the coordinators.",
    ),
    JobSpec(
        "actions-request-updates",
        "marac.actions.updates:request_action_updates",
        "cron",
        {"hour": 7, "minute": 30},
        misfire_grace_time=3 * 3600,
        description="Ask agencies to report on their actions before the next meeting.",
    ),
    JobSpec(
        "encompass-escalate",
        "marac.encompass.services.escalation:escalate_unacknowledged",
        "interval",
        {"minutes": 5},
        misfire_grace_time=300,
        description="Escalate Encompass notifications not acknowledged in time; chase unresolved ones past due.",
    ),
    JobSpec(
        "encompass-retention",
        "marac.encompass.services.retention:anonymise_expired",
        "cron",
        {"hour": 3, "minute": 30},
        misfire_grace_time=6 * 3600,
        description="Remove the content of Operation Encompass notifications past the retention period.",
    ),
)
