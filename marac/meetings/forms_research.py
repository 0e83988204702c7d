"""Forms for an agency's research answer and the coordinator's reminders."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCheckboxInput, GovSubmitInput, GovTextArea
from wtforms import BooleanField, SubmitField, TextAreaField
from wtforms.validators import Length

from marac.meetings.services.research import TEXT_LIMIT


def _text(label: str, description: str) -> TextAreaField:
    message = f"{label} must be {TEXT_LIMIT} characters or fewer"
    return TextAreaField(
        label, widget=GovTextArea(), description=description, validators=[Length(max=TEXT_LIMIT, message=message)]
    )


class ResearchAnswerForm(FlaskForm):
    """What the agency holds on one case: facts, professional opinion, what it is not sharing and why, or nothing."""

    nothing_held = BooleanField(
        "My agency holds nothing on the people in this case",
        widget=GovCheckboxInput(),
        description="Leave everything else empty if you select this",
    )
    facts = _text(
        "Facts held",
        "What your records show that is current, relevant and proportionate: dates, events, orders, contacts",
    )
    opinion = _text(
        "Professional opinion",
        "Your agency's view of the risk, kept separate from the facts so the meeting can tell them apart",
    )
    withheld = _text(
        "Information held but not shared",
        "Describe what you hold but have decided not to share (not the information itself)",
    )
    withheld_reason = _text("Why it is not being shared", "For example, it would prejudice a criminal investigation")
    submit = SubmitField("Save research", widget=GovSubmitInput())


class RemindForm(FlaskForm):
    """Send reminders to agencies with research outstanding (the agencies come from checkboxes in the page)."""

    submit = SubmitField("Send reminders", widget=GovSubmitInput())
