"""Forms for recording a police incident with its children, importing incidents from CSV, and resolving an
unresolved notification. The rules live in the intake service; these forms only carry what was typed."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovFileInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import FieldList, Form, FormField, RadioField, SelectField, StringField, SubmitField, TextAreaField

from marac.encompass.services.intake import (
    BY_URN,
    HOME_EDUCATED,
    MAX_CHILDREN,
    NOT_KNOWN,
    ChildInput,
    IncidentInput,
)
from marac.forms import GovDateField, choices_from, is_small_id

YES_NO = choices_from({"yes": "Yes", "no": "No"})
SETTING_CHOICES = choices_from(
    {
        BY_URN: "At a school or college (enter its URN)",
        HOME_EDUCATED: "Home educated",
        NOT_KNOWN: "Not known",
    }
)


def _yes_no(value: str | None) -> bool | None:
    return True if value == "yes" else False if value == "no" else None


class ChildForm(Form):
    """One child linked to the incident."""

    given_name = StringField("Given name", widget=GovTextInput())
    family_name = StringField("Family name", widget=GovTextInput())
    date_of_birth = GovDateField("Date of birth", message="Enter the date of birth as a real date, like 4 6 2015")
    setting_choice = RadioField("Setting", widget=GovRadioInput(), choices=SETTING_CHOICES, validate_choice=False)
    urn = StringField("Setting's URN", description="For a school or college", widget=GovTextInput())
    local_authority_id = SelectField(
        "Local authority where the child lives",
        description="For a child who is home educated or whose setting is not known",
        widget=GovSelect(),
        validate_choice=False,
    )
    present = RadioField("Was the child present?", widget=GovRadioInput(), choices=YES_NO, validate_choice=False)
    location = StringField("Where was the child?", widget=GovTextInput())
    spoken_to = RadioField("Was the child spoken to?", widget=GovRadioInput(), choices=YES_NO, validate_choice=False)
    child_said = TextAreaField("What did the child say?", widget=GovTextArea())
    other_adult = StringField("Another adult present (optional)", widget=GovTextInput())

    def to_input(self) -> ChildInput:
        """The child as the service takes it."""
        authority = self.local_authority_id.data
        return ChildInput(
            given_name=self.given_name.data or "",
            family_name=self.family_name.data or "",
            date_of_birth=self.date_of_birth.data,
            setting_choice=self.setting_choice.data or "",
            urn=self.urn.data or "",
            local_authority_id=int(authority) if authority and is_small_id(str(authority)) else None,
            present=_yes_no(self.present.data),
            location=self.location.data or "",
            spoken_to=_yes_no(self.spoken_to.data),
            child_said=self.child_said.data or "",
            other_adult=self.other_adult.data or "",
        )


class IncidentForm(FlaskForm):
    """A domestic-abuse incident police attended and the children linked to it."""

    police_reference = StringField("Police reference", widget=GovTextInput())
    occurred_on = GovDateField(
        "Incident date",
        message="Enter the incident date as a real date, like 21 11 2026",
        description="For example, 21 11 2026",
    )
    occurred_time = StringField(
        "Incident time", description="On the 24-hour clock, UK time, like 18:30", widget=GovTextInput()
    )
    place = StringField("Place", description="Street or area: as much as the key adult needs", widget=GovTextInput())
    circumstances = TextAreaField("Short circumstances", widget=GovCharacterCount())
    children = FieldList(FormField(ChildForm), min_entries=1, max_entries=MAX_CHILDREN)
    add_child = SubmitField("Add another child", widget=GovSubmitInput())
    submit = SubmitField("Record the incident", widget=GovSubmitInput())

    def offer_authorities(self, authorities: list[Any]) -> None:
        """Offer the local authorities serving the officer's areas."""
        choices = [("", "Choose a local authority"), *((str(a.id), a.name) for a in authorities)]
        for entry in self.children:
            entry.form.local_authority_id.choices = choices

    def to_input(self) -> IncidentInput:
        """The incident as the service takes it."""
        return IncidentInput(
            police_reference=self.police_reference.data or "",
            occurred_on=self.occurred_on.data,
            occurred_time=self.occurred_time.data or "",
            place=self.place.data or "",
            circumstances=self.circumstances.data or "",
            children=[entry.form.to_input() for entry in self.children],
        )


class ImportForm(FlaskForm):
    """A CSV file of incidents from a police system."""

    file = FileField("Upload a CSV file", widget=GovFileInput())
    submit = SubmitField("Check and import", widget=GovSubmitInput())


class ResolveForm(FlaskForm):
    """Name the setting of a child whose setting was not known."""

    urn = StringField("Setting's URN", widget=GovTextInput())
    submit = SubmitField("Send the notification", widget=GovSubmitInput())
