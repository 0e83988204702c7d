"""Forms for opening a case and adding people to it."""

from __future__ import annotations

from govuk_frontend_wtf.wtforms_widgets import GovCheckboxInput, GovRadioInput, GovSelect, GovSubmitInput
from wtforms import BooleanField, Field, RadioField, SelectChoice, SelectField, SubmitField
from wtforms.validators import DataRequired, InputRequired, ValidationError

from marac.cases.models import PARTY_ROLE_LABELS, PartyRole
from marac.db import london_today
from marac.forms import GovDateField
from marac.people.forms import PersonFields
from marac.people.models import RELATIONSHIP_LABELS


class NewCaseForm(PersonFields):
    """Open a case: the area, the referral date, the assigned IDVA, and the victim's details."""

    area = SelectField(
        "MARAC area", widget=GovSelect(), validators=[DataRequired("Select the MARAC area")], validate_choice=False
    )
    referred_on = GovDateField(
        "Date of referral",
        message="Date of referral must be a real date, like 3 11 2026",
        validators=[InputRequired("Enter the date of referral")],
    )
    idva = SelectField(
        "Assigned IDVA", widget=GovSelect(), description="Leave empty if none is assigned yet", validate_choice=False
    )
    submit = SubmitField("Open case", widget=GovSubmitInput())

    def validate_referred_on(self, field: Field) -> None:
        """Not in the future."""
        if field.data and field.data > london_today():
            raise ValidationError("Date of referral must be today or in the past")


class AddPartyForm(PersonFields):
    """Add a perpetrator, child or other household member to a case."""

    role = RadioField(
        "Part in the case",
        widget=GovRadioInput(),
        choices=[SelectChoice(r.value, PARTY_ROLE_LABELS[r]) for r in PartyRole if r is not PartyRole.VICTIM],
        validators=[DataRequired("Select the person's part in the case")],
    )
    relationship = SelectField(
        "Relationship to the victim",
        widget=GovSelect(),
        description="The person is the victim's ...",
        choices=[SelectChoice("", "Select")]
        + [SelectChoice(r.value, label) for r, label in RELATIONSHIP_LABELS.items()],
        validators=[DataRequired("Select the relationship to the victim")],
    )
    same_household = BooleanField("Lives in the same household as the victim", widget=GovCheckboxInput())
    submit = SubmitField("Add person", widget=GovSubmitInput())
