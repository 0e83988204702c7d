"""The DPO's audit filter."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSelect, GovSubmitInput, GovTextInput
from wtforms import DateField, SelectChoice, SelectField, StringField, SubmitField
from wtforms.validators import Length, Optional, ValidationError

from marac.forms import email_field


def plausible_date(_form: FlaskForm, field: DateField) -> None:
    """Dates outside 1900-2999 are typing mistakes (and would overflow date arithmetic)."""
    if field.data and not 1900 <= field.data.year <= 2999:
        raise ValidationError("Enter a date between 1900 and 2999, like 2026-11-01")


class AuditFilterForm(FlaskForm):
    """Filter events by user, agency, object, action, outcome and date (a GET form)."""

    class Meta:
        csrf = False  # read-only search through the query string

    user = email_field("User email", None)
    agency = SelectField("Agency", widget=GovSelect(), choices=[], coerce=str, validators=[Optional()])
    object_type = StringField(
        "Object type",
        widget=GovTextInput(),
        description="For example user, agency, area",
        validators=[Optional(), Length(max=40, message="Object type is too long")],
    )
    object_id = StringField(
        "Object reference",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=200, message="Object reference is too long")],
    )
    action = StringField(
        "Action",
        widget=GovTextInput(),
        description="For example auth.sign_in",
        validators=[Optional(), Length(max=80, message="Action is too long")],
    )
    outcome = SelectField(
        "Outcome",
        widget=GovSelect(),
        validators=[Optional()],
        choices=[
            SelectChoice("", "Any"),
            SelectChoice("success", "Success"),
            SelectChoice("failure", "Failure"),
            SelectChoice("denied", "Denied"),
        ],
    )
    date_from = DateField(
        "From date",
        widget=GovTextInput(),
        format="%Y-%m-%d",
        validators=[Optional(), plausible_date],
        description="For example 2026-11-01",
    )
    date_to = DateField(
        "To date",
        widget=GovTextInput(),
        format="%Y-%m-%d",
        validators=[Optional(), plausible_date],
        description="For example 2026-11-30",
    )
    submit = SubmitField("Filter", widget=GovSubmitInput())

    def validate_date_to(self, field: DateField) -> None:
        """The range must run forwards."""
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("To date must be the same as or after the from date")
