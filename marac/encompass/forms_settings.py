"""Forms for Operation Encompass settings, key adults, term calendars and local-authority arrangements."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovFileInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import BooleanField, RadioField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from marac.encompass.calendar import Nation
from marac.encompass.models import PARENT_CONTACT_LABELS, SETTING_KIND_LABELS
from marac.encompass.services.calendar_import import KIND_LABELS, MAX_LABEL
from marac.forms import GovDateField, choices_from

NATION_LABELS = {
    Nation.ENGLAND_WALES.value: "England and Wales",
    Nation.SCOTLAND.value: "Scotland",
    Nation.NORTHERN_IRELAND.value: "Northern Ireland",
}
RANK_LABELS = {"1": "Key adult (told first)", "2": "Second key adult (told if the first has not acknowledged)"}


class SettingForm(FlaskForm):
    """A school, college, pupil referral unit or independent school."""

    urn = StringField(
        "Unique reference number (URN)",
        description="DfE URN, Scottish SEED code or Northern Ireland DE reference: 5 to 12 digits",
        widget=GovTextInput(),
        validators=[DataRequired("Enter the setting's URN")],
    )
    name = StringField(
        "Name",
        widget=GovTextInput(),
        validators=[
            DataRequired("Enter the setting's name"),
            Length(max=160, message="Name must be 160 characters or fewer"),
        ],
    )
    kind = RadioField(
        "Kind of setting",
        widget=GovRadioInput(),
        validate_choice=False,
        choices=choices_from({k.value: v for k, v in SETTING_KIND_LABELS.items()}),
        validators=[DataRequired("Select the kind of setting")],
    )
    local_authority = SelectField(
        "Local authority",
        widget=GovSelect(),
        validate_choice=False,
        validators=[DataRequired("Select the local authority")],
    )
    nation = RadioField(
        "Bank holidays of",
        widget=GovRadioInput(),
        validate_choice=False,
        choices=choices_from(NATION_LABELS),
        default=Nation.ENGLAND_WALES.value,
        validators=[DataRequired("Select the nation")],
    )
    day_start = StringField(
        "School day starts at",
        description="24-hour time between 06:00 and 10:30, like 08:30: notifications are due before it",
        default="08:30",
        widget=GovTextInput(),
        validators=[DataRequired("Enter the time the school day starts, like 08:30")],
    )
    parent_contact = RadioField(
        "Local policy on contacting parents",
        widget=GovRadioInput(),
        validate_choice=False,
        choices=choices_from({k.value: v for k, v in PARENT_CONTACT_LABELS.items()}),
        default="seek_advice",
        validators=[DataRequired("Select the policy on contacting parents")],
    )
    agency = SelectField(
        "The setting's agency on the platform",
        description="Its key adults sign in as staff of this agency",
        widget=GovSelect(),
        validate_choice=False,
        validators=[DataRequired("Select the setting's agency, or create one")],
    )
    is_active = BooleanField("Open (receives notifications)", widget=GovCheckboxInput(), default=True)
    submit = SubmitField("Save the setting", widget=GovSubmitInput())


class KeyAdultForm(FlaskForm):
    """Name a key adult or second key adult."""

    key_adult = SelectField(
        "Person", widget=GovSelect(), validate_choice=False, validators=[DataRequired("Select the person")]
    )
    rank = RadioField(
        "Role at this setting",
        widget=GovRadioInput(),
        choices=choices_from(RANK_LABELS),
        validators=[DataRequired("Select key adult or second key adult")],
    )
    briefed_on = GovDateField(
        "Date of their Operation Encompass briefing",
        description="Leave blank if not yet briefed: they receive nothing until it is recorded. For example, 3 9 2026",
        message="Enter the briefing date as a real date, like 3 9 2026",
        validators=[Optional()],
    )
    submit = SubmitField("Add key adult", widget=GovSubmitInput())


class BriefingForm(FlaskForm):
    """Record or change the date a key adult was briefed."""

    briefed_on = GovDateField(
        "Date of their Operation Encompass briefing",
        description="Leave blank if not yet briefed: they receive nothing until it is recorded",
        message="Enter the briefing date as a real date, like 3 9 2026",
        validators=[Optional()],
    )
    submit = SubmitField("Save the briefing date", widget=GovSubmitInput())


class ButtonForm(FlaskForm):
    """A button that only needs the CSRF token."""


class ClosureForm(FlaskForm):
    """A holiday or training day."""

    kind = RadioField(
        "Kind",
        widget=GovRadioInput(),
        validate_choice=False,
        choices=choices_from(KIND_LABELS),
        validators=[DataRequired("Select holiday or training day")],
    )
    starts_on = GovDateField(
        "First day closed",
        message="Enter the first day closed as a real date, like 26 10 2026",
        validators=[InputRequired("Enter the first day closed")],
    )
    ends_on = GovDateField(
        "Last day closed",
        description="Leave blank for a training day",
        message="Enter the last day closed as a real date, like 30 10 2026",
        validators=[Optional()],
    )
    label = StringField(
        "Label",
        description="For example, Autumn half term",
        widget=GovTextInput(),
        validators=[Length(max=MAX_LABEL, message=f"The label must be {MAX_LABEL} characters or fewer")],
    )
    submit = SubmitField("Add to the calendar", widget=GovSubmitInput())


class CalendarImportForm(FlaskForm):
    """A term-calendar CSV file."""

    calendar_file = FileField(
        "Term calendar (CSV)",
        description="Columns kind,starts_on,ends_on,label with a header row; kind is holiday or training_day; dates "
        "like 2026-10-26 or 26/10/2026; UTF-8; at most 1 MB and 2,000 rows",
        widget=GovFileInput(),
    )
    whole_authority = BooleanField(
        "Apply to every open setting of this local authority", widget=GovCheckboxInput(), default=False
    )
    submit = SubmitField("Import the calendar", widget=GovSubmitInput())


class AuthorityForm(FlaskForm):
    """A local authority's Operation Encompass arrangements."""

    childrens_social_care = SelectField(
        "Children's social care",
        description="Receives notifications for children in elective home education",
        widget=GovSelect(),
        validate_choice=False,
        validators=[Optional()],
    )
    nation = RadioField(
        "Nation",
        description="Used for due times when a child's setting is unknown",
        widget=GovRadioInput(),
        validate_choice=False,
        choices=choices_from(NATION_LABELS),
        validators=[DataRequired("Select the nation")],
    )
    submit = SubmitField("Save the arrangements", widget=GovSubmitInput())
