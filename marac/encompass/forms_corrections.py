"""The form for correcting a recorded incident: its place and circumstances, each child as the police gave them, and
the reason. The rules live in the corrections service (intake's checks); this form only carries what was typed."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovRadioInput,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import FieldList, Form, FormField, HiddenField, RadioField, StringField, SubmitField, TextAreaField

from marac.encompass.forms_incidents import YES_NO
from marac.encompass.services.corrections import ChildCorrection, CorrectionInput
from marac.encompass.services.intake import MAX_CHILDREN
from marac.forms import GovDateField


def _answer(value: str | None) -> bool | None:
    return True if value == "yes" else False if value == "no" else None


def _choice(value: bool | None) -> str | None:
    return "yes" if value is True else "no" if value is False else None


class CorrectChildForm(Form):
    """One child on the incident, as the police gave them (the same questions as when it was recorded)."""

    child_id = HiddenField()
    given_name = StringField("Given name", widget=GovTextInput())
    family_name = StringField("Family name", widget=GovTextInput())
    date_of_birth = GovDateField("Date of birth", message="Enter the date of birth as a real date, like 4 6 2015")
    present = RadioField("Was the child present?", widget=GovRadioInput(), choices=YES_NO, validate_choice=False)
    location = StringField("Where was the child?", widget=GovTextInput())
    spoken_to = RadioField("Was the child spoken to?", widget=GovRadioInput(), choices=YES_NO, validate_choice=False)
    child_said = TextAreaField("What did the child say?", widget=GovTextArea())
    other_adult = StringField("Another adult present (optional)", widget=GovTextInput())

    def to_input(self) -> ChildCorrection:
        """The child as the service takes it."""
        return ChildCorrection(
            public_id=self.child_id.data or "",
            given_name=self.given_name.data or "",
            family_name=self.family_name.data or "",
            date_of_birth=self.date_of_birth.data,
            present=_answer(self.present.data),
            location=self.location.data or "",
            spoken_to=_answer(self.spoken_to.data),
            child_said=self.child_said.data or "",
            other_adult=self.other_adult.data or "",
        )


class CorrectionForm(FlaskForm):
    """A recorded incident's details as corrected, and why."""

    place = StringField("Place", description="Street or area: as much as the key adult needs", widget=GovTextInput())
    circumstances = TextAreaField("Short circumstances", widget=GovCharacterCount())
    children = FieldList(FormField(CorrectChildForm), min_entries=0, max_entries=MAX_CHILDREN)
    reason = TextAreaField(
        "Reason for the correction",
        description="For example, the family name was misspelt or the date of birth was wrong.",
        widget=GovCharacterCount(),
    )
    submit = SubmitField("Save the correction", widget=GovSubmitInput())

    @classmethod
    def filled_from(cls, details: CorrectionInput) -> CorrectionForm:
        """The form showing the incident as recorded now."""
        children = [
            {
                "child_id": c.public_id,
                "given_name": c.given_name,
                "family_name": c.family_name,
                "date_of_birth": c.date_of_birth,
                "present": _choice(c.present),
                "location": c.location,
                "spoken_to": _choice(c.spoken_to),
                "child_said": c.child_said,
                "other_adult": c.other_adult,
            }
            for c in details.children
        ]
        data = {"place": details.place, "circumstances": details.circumstances, "children": children}
        return cls(formdata=None, data=data)

    def to_input(self) -> CorrectionInput:
        """The correction as the service takes it."""
        return CorrectionInput(
            place=self.place.data or "",
            circumstances=self.circumstances.data or "",
            children=[entry.form.to_input() for entry in self.children],
            reason=self.reason.data or "",
        )


class RedirectForm(FlaskForm):
    """The right setting for a child whose notification went to the wrong one, and why it is moving."""

    urn = StringField("The right setting's URN", widget=GovTextInput())
    reason = StringField("Why is it moving?", widget=GovTextInput())
    submit = SubmitField("Move the notification to this setting", widget=GovSubmitInput())
