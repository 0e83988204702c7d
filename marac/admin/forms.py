"""Forms for areas, agencies and users."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovCheckboxInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from marac.access import ROLE_LABELS
from marac.forms import email_field
from marac.orgs.models import AGENCY_KIND_LABELS
from marac.orgs.services import AREA_THRESHOLDS


def _threshold(label: str, default: int, hint: str) -> IntegerField:
    return IntegerField(
        label,
        widget=GovTextInput(),
        default=default,
        description=hint,
        validators=[Optional(), NumberRange(min=1, max=60, message=f"{label} must be a whole number from 1 to 60")],
    )


class AreaForm(FlaskForm):
    """A MARAC area."""

    name = StringField(
        "Area name",
        widget=GovTextInput(),
        validators=[
            DataRequired("Enter the area name"),
            Length(max=120, message="Area name must be 120 characters or fewer"),
        ],
    )
    is_active = BooleanField("In use", widget=GovCheckboxInput(), default=True)
    medium_risk_from = _threshold("DASH score for medium risk", 10, "Scores from this are graded medium (usually 10)")
    high_risk_from = _threshold("DASH score for high risk", 14, "Scores from this are graded high (usually 14)")
    marac_threshold = _threshold("DASH score that meets the MARAC threshold", 14, "Visible high risk (usually 14)")
    escalation_incidents = _threshold(
        "Incidents in 12 months for potential escalation", 3, "Usually 3 or more in the previous 12 months"
    )
    referral_target_days = _threshold(
        "Working days a referral may wait", 2, "For sign-off or a decision, before it shows as overdue"
    )
    submit = SubmitField("Save area", widget=GovSubmitInput())

    def thresholds(self) -> dict[str, int]:
        """The thresholds entered."""
        return {name: int(self[name].data) for name in AREA_THRESHOLDS if self[name].data is not None}


class AgencyForm(FlaskForm):
    """An agency and the areas it serves."""

    name = StringField(
        "Agency name",
        widget=GovTextInput(),
        validators=[
            DataRequired("Enter the agency name"),
            Length(max=160, message="Agency name must be 160 characters or fewer"),
        ],
    )
    kind = RadioField(
        "Kind of agency",
        widget=GovRadioInput(),
        choices=[SelectChoice(k.value, label) for k, label in AGENCY_KIND_LABELS.items()],
        validators=[DataRequired("Select the kind of agency")],
    )
    areas = SelectMultipleField(
        "Areas served", widget=GovCheckboxesInput(), choices=[], coerce=str, validate_choice=True
    )
    is_active = BooleanField("In use", widget=GovCheckboxInput(), default=True)
    submit = SubmitField("Save agency", widget=GovSubmitInput())


class UserForm(FlaskForm):
    """A user account: agency, roles and optional area limits."""

    email = email_field("Email address", "Enter the email address")
    display_name = StringField(
        "Full name",
        widget=GovTextInput(),
        validators=[
            DataRequired("Enter the person's name"),
            Length(max=120, message="Name must be 120 characters or fewer"),
        ],
    )
    agency = SelectField(
        "Agency", widget=GovSelect(), choices=[], coerce=str, validators=[DataRequired("Select the agency")]
    )
    roles = SelectMultipleField(
        "Roles",
        widget=GovCheckboxesInput(),
        coerce=str,
        choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()],
        validators=[DataRequired("Select at least one role")],
    )
    areas = SelectMultipleField(
        "Limit to areas",
        widget=GovCheckboxesInput(),
        choices=[],
        coerce=str,
        description="Leave empty for every area the agency serves",
    )
    submit = SubmitField("Save user", widget=GovSubmitInput())


class ConfirmForm(FlaskForm):
    """A button that only carries the CSRF token (disable, enable, reset)."""

    submit = SubmitField("Confirm", widget=GovSubmitInput())


class UserEditForm(UserForm):
    """Editing an account: the sign-in email stays as it is."""

    email = None
