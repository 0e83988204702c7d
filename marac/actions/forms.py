"""Forms for reporting an action's progress."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSubmitInput, GovTextArea
from wtforms import RadioField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from marac.actions.models import ACTION_STATUS_LABELS, ActionStatus
from marac.actions.status import MAX_NOTE
from marac.forms import choices_from


class StatusForm(FlaskForm):
    """Change an action's status, with a note (required to complete it, say it is not possible, or record it was not
    done)."""

    status = RadioField(
        "What is the action's status now?",
        widget=GovRadioInput(),
        choices=choices_from({s.value: ACTION_STATUS_LABELS[s] for s in ActionStatus}),
        validators=[DataRequired("Select the action's new status")],
    )
    note = TextAreaField(
        "Note",
        description="Required for a progress report (what has been done), and when completed (what was done), not "
        "possible (what changed) or not done (why).",
        widget=GovTextArea(),
        validators=[Length(max=MAX_NOTE, message=f"The note must be {MAX_NOTE} characters or fewer")],
    )
    submit = SubmitField("Save the status", widget=GovSubmitInput())

    def offer(self, statuses: list[ActionStatus], current: str | None = None) -> None:
        """Offer only the statuses the user may choose; keeping the current one reports progress."""
        self.status.choices = choices_from(
            {
                s.value: f"{ACTION_STATUS_LABELS[s]} (no change): report progress"
                if s.value == current
                else ACTION_STATUS_LABELS[s]
                for s in statuses
            }
        )
