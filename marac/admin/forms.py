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
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.validators import DataRequired, Length

from marac.access import ROLE_LABELS
from marac.forms import email_field
from marac.orgs.models import AGENCY_KIND_LABELS


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
    submit = SubmitField("Save area", widget=GovSubmitInput())


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
