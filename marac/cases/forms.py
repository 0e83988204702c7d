"""Forms for opening a case and adding people to it."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import BooleanField, Field, RadioField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from marac.cases.models import INCIDENT_TYPES, PARTY_ROLE_LABELS, PartyRole
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


class IncidentForm(FlaskForm):
    """A domestic-abuse incident on the case."""

    occurred_on = GovDateField(
        "Date of the incident",
        message="Date of the incident must be a real date, like 3 11 2026",
        validators=[InputRequired("Enter the date of the incident")],
    )
    incident_type = RadioField(
        "Type of incident",
        widget=GovRadioInput(),
        choices=[SelectChoice(k, v) for k, v in INCIDENT_TYPES.items()],
        validators=[DataRequired("Select the type of incident")],
    )
    perpetrator = SelectField("Perpetrator", widget=GovSelect(), validate_choice=False)
    police_reference = StringField(
        "Police reference",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=40, message="Police reference must be 40 characters or fewer")],
    )
    children_present = RadioField(
        "Were children present?",
        widget=GovRadioInput(),
        choices=[SelectChoice("yes", "Yes"), SelectChoice("no", "No"), SelectChoice("not_known", "Not known")],
        validators=[DataRequired("Say whether children were present")],
    )
    summary = TextAreaField(
        "What happened",
        widget=GovTextArea(),
        description="Short circumstances: facts, not opinion",
        validators=[Optional(), Length(max=2000, message="What happened must be 2000 characters or fewer")],
    )
    submit = SubmitField("Record incident", widget=GovSubmitInput())

    def validate_occurred_on(self, field: Field) -> None:
        """Not in the future."""
        if field.data and field.data > london_today():
            raise ValidationError("Date of the incident must be today or in the past")

    def incident(self, perpetrators: list[Any]) -> dict[str, Any]:
        """The incident's values for the service (the perpetrator among the case's, or not known)."""
        return {
            "occurred_on": self.occurred_on.data,
            "incident_type": self.incident_type.data,
            "perpetrator": next((p for p in perpetrators if p.public_id == self.perpetrator.data), None),
            "police_reference": self.police_reference.data,
            "children_present": {"yes": True, "no": False}.get(self.children_present.data or ""),
            "summary": self.summary.data,
        }
