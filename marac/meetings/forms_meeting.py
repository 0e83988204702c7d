"""Forms for the meeting itself: attendance, observers, a case's discussion, actions agreed, sign-off and
distribution."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from marac.forms import GovDateField
from marac.meetings.services.minutes import MAX_REASON, TEXT_LIMIT

YES_NO = {"yes": "Yes", "no": "No"}


def _change_reason() -> TextAreaField:
    return TextAreaField(
        "Reason for changing the signed minutes",
        widget=GovTextArea(),
        description="Only needed once the chair has signed the minutes: the change starts a new version",
        validators=[Length(max=MAX_REASON, message=f"The reason must be {MAX_REASON} characters or fewer")],
    )


def _text(label: str, description: str | None = None) -> TextAreaField:
    return TextAreaField(
        label,
        widget=GovTextArea(),
        description=description,
        validators=[Length(max=TEXT_LIMIT, message=f"{label} must be {TEXT_LIMIT} characters or fewer")],
    )


class ObserverForm(FlaskForm):
    """An observer, who must sign the confidentiality statement."""

    name = StringField(
        "Observer's name",
        widget=GovTextInput(),
        validators=[DataRequired("Enter the observer's name"), Length(max=120, message="Name is too long")],
    )
    organisation = StringField(
        "Organisation",
        widget=GovTextInput(),
        validators=[DataRequired("Enter the observer's organisation"), Length(max=160, message="Too long")],
    )
    purpose = StringField(
        "Why they are observing",
        widget=GovTextInput(),
        validators=[Length(max=200, message="Purpose must be 200 characters or fewer")],
    )
    statement_signed = BooleanField(
        "The observer has read and signed the confidentiality statement", widget=GovCheckboxInput()
    )
    change_reason = _change_reason()
    submit = SubmitField("Add observer", widget=GovSubmitInput())


class DiscussionForm(FlaskForm):
    """One case's discussion (rendered once per case, with the case's public id as prefix)."""

    victim_voice = _text("The victim's voice", "What the IDVA brings from the victim")
    risks = _text("Risks identified")
    minutes = _text("Minutes of the discussion")
    change_reason = _change_reason()
    submit = SubmitField("Save the discussion", widget=GovSubmitInput())


class ActionForm(FlaskForm):
    """An action agreed for one case (rendered once per case, with a prefix)."""

    agency = SelectField(
        "Owning agency", widget=GovSelect(), validators=[DataRequired("Select the agency")], validate_choice=False
    )
    owner = SelectField("Owner (optional)", widget=GovSelect(), validate_choice=False)
    description = TextAreaField(
        "Action",
        widget=GovTextArea(),
        description="Specific and measurable: what will be done, and by whom",
        validators=[DataRequired("Describe the action"), Length(max=2000, message="The action is too long")],
    )
    due_on = GovDateField(
        "Due date",
        message="Due date must be a real date, like 3 12 2026",
        validators=[InputRequired("Enter the due date")],
    )
    change_reason = _change_reason()
    submit = SubmitField("Add action", widget=GovSubmitInput())


class SignOffForm(FlaskForm):
    """The chair's sign-off."""

    confirm = BooleanField(
        "I have read these minutes and the action plan and they are a true record", widget=GovCheckboxInput()
    )
    submit = SubmitField("Sign off the minutes", widget=GovSubmitInput())

    def validate_confirm(self, field: BooleanField) -> None:
        """The chair must confirm."""
        if not field.data:
            raise ValidationError("Confirm that the minutes are a true record")


class DistributeForm(FlaskForm):
    """Send the signed minutes to member agencies."""

    submit = SubmitField("Distribute the minutes", widget=GovSubmitInput())
