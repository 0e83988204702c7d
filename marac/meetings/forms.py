"""Forms for the meeting pattern, adding, moving and cancelling meetings, and the agenda builder."""

from __future__ import annotations

from datetime import time
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSelect, GovSubmitInput, GovTextArea, GovTextInput
from wtforms import Field, IntegerField, RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from marac.forms import GovDateField, choices_from
from marac.meetings.models import FREQUENCY_LABELS

WEEKDAYS = {"0": "Monday", "1": "Tuesday", "2": "Wednesday", "3": "Thursday", "4": "Friday"}
WEEKS = {"1": "First", "2": "Second", "3": "Third", "4": "Fourth", "5": "Last"}
TIME_FORMAT = "Enter a time in 24-hour format, like 09:30 or 14:00"


def parse_time(value: str | None) -> time | None:
    """A 24-hour HH:MM time, or None when it is not one."""
    text = (value or "").strip().replace(".", ":")
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and len(hours) <= 2):
        return None
    if int(hours) > 23 or int(minutes) > 59:
        return None
    return time(int(hours), int(minutes))


class TimeField(StringField):
    """A 24-hour time typed as HH:MM."""

    def __init__(self, label: str, **kwargs: object) -> None:
        super().__init__(label, widget=GovTextInput(), **kwargs)

    def pre_validate(self, form: FlaskForm) -> None:
        """Refuse anything that is not a time."""
        if parse_time(self.data) is None:
            raise ValidationError(TIME_FORMAT)

    @property
    def time(self) -> time | None:
        """The parsed time."""
        return parse_time(self.data)


class WholeNumberField(IntegerField):
    """An integer whose parse error says what to enter, not "Not a valid integer value"."""

    def __init__(self, label: str, *, message: str, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.message = message

    def process_formdata(self, valuelist: list[Any]) -> None:
        """Parse, replacing the library's message with the field's own."""
        try:
            super().process_formdata(valuelist)
        except ValueError as exc:
            raise ValueError(self.message) from exc


def _minutes(label: str, low: int, high: int, description: str | None = None) -> IntegerField:
    message = f"{label} must be a whole number from {low} to {high}"
    return WholeNumberField(
        label,
        message=message,
        widget=GovTextInput(),
        description=description,
        validators=[InputRequired(message), NumberRange(low, high, message)],
    )


def _place_fields() -> tuple[StringField, TextAreaField]:
    venue = StringField(
        "Venue",
        widget=GovTextInput(),
        description="The building and room (no case details)",
        validators=[Length(max=200, message="Venue must be 200 characters or fewer")],
    )
    call = TextAreaField(
        "Call details",
        widget=GovTextArea(),
        description="A meeting link and dial-in, if agencies join by call",
        validators=[Length(max=500, message="Call details must be 500 characters or fewer")],
    )
    return venue, call


class PatternForm(FlaskForm):
    """How often and when the area's MARAC meets."""

    frequency = RadioField(
        "How often does the MARAC meet?",
        widget=GovRadioInput(),
        choices=choices_from({k.value: v for k, v in FREQUENCY_LABELS.items()}),
        validators=[DataRequired("Select how often the MARAC meets")],
    )
    weekday = SelectField("Day of the week", widget=GovSelect(), choices=choices_from(WEEKDAYS))
    week_of_month = SelectField("Week of the month (monthly meetings)", widget=GovSelect(), choices=choices_from(WEEKS))
    starts_on = GovDateField(
        "First meeting on or after",
        message="Enter the date from which meetings start, like 3 12 2026",
        validators=[DataRequired("Enter the date from which meetings start")],
    )
    start_time = TimeField("Start time", description="24-hour, like 09:30")
    length_minutes = _minutes("Length in minutes", 30, 600)
    case_limit = _minutes("Most cases a meeting hears", 1, 60, "About 15 is usual")
    minutes_per_case = _minutes("Minutes per case", 5, 60, "10 to 15 is usual")
    research_due_days = _minutes("Research due, working days before the meeting", 0, 10)
    venue, call_details = _place_fields()
    chair = SelectField("Usual chair", widget=GovSelect(), choices=[], validators=[Optional()])
    submit = SubmitField("Save and generate meetings", widget=GovSubmitInput())

    def validate_weekday(self, field: Field) -> None:
        """Weekly, fortnightly and monthly meetings need a day."""
        if self.frequency.data != "daily" and field.data not in WEEKDAYS:
            raise ValidationError("Select the day of the week")


class MeetingTimeForm(FlaskForm):
    """A meeting's date, time, length and place: adding one, or moving one (with a reason)."""

    day = GovDateField("Date", message="Enter the date, like 3 12 2026", validators=[DataRequired("Enter the date")])
    start_time = TimeField("Start time", description="24-hour, like 09:30")
    length_minutes = _minutes("Length in minutes", 30, 600)
    venue, call_details = _place_fields()
    reason = TextAreaField(
        "Why is the meeting moving?",
        widget=GovTextArea(),
        description="Agencies see this reason: no case details",
        validators=[Length(max=300, message="The reason must be 300 characters or fewer")],
    )
    submit = SubmitField("Save", widget=GovSubmitInput())


class CancelForm(FlaskForm):
    """Cancel a meeting, with the reason."""

    reason = TextAreaField(
        "Why is the meeting cancelled?",
        widget=GovTextArea(),
        description="Agencies see this reason: no case details. The cases go back to wait for another meeting.",
        validators=[
            DataRequired("Enter why the meeting is cancelled"),
            Length(max=300, message="The reason must be 300 characters or fewer"),
        ],
    )
    submit = SubmitField("Cancel the meeting", widget=GovSubmitInput())


class DeferForm(FlaskForm):
    """Defer a case to a later meeting, with the reason."""

    reason = TextAreaField(
        "Why is the case deferred?",
        widget=GovTextArea(),
        validators=[
            DataRequired("Enter why the case is deferred"),
            Length(max=1000, message="The reason must be 1000 characters or fewer"),
        ],
    )
    submit = SubmitField("Defer the case", widget=GovSubmitInput())


class ButtonForm(FlaskForm):
    """A form that is only a button (CSRF protected)."""
