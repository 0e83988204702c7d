"""Forms for recording and searching persons."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovRadioInput, GovSelect, GovSubmitInput, GovTextArea, GovTextInput
from wtforms import Field, RadioField, SelectChoice, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from marac.db import london_today
from marac.forms import GovDateField, lines
from marac.people.matching import normalise_email, normalise_phone, normalise_postcode
from marac.people.services import PersonDetails

GENDERS = ["", "Female", "Male", "Non-binary", "Other", "Not known"]
ETHNICITIES = [
    "",
    "Asian or Asian British",
    "Black, Black British, Caribbean or African",
    "Mixed or multiple ethnic groups",
    "White",
    "Other ethnic group",
    "Not known",
    "Prefer not to say",
]
YES_NO_UNKNOWN = ["", "Yes", "No", "Not known", "Prefer not to say"]
ORIENTATIONS = ["", "Heterosexual or straight", "Gay or lesbian", "Bisexual", "Other", "Not known", "Prefer not to say"]


def _choices(values: list[str]) -> list[SelectChoice]:
    return [SelectChoice(v, v or "Select") for v in values]


def _text(label: str, max_len: int, hint: str | None = None, *, optional: bool = True) -> StringField:
    checks: list[Any] = [Length(max=max_len, message=f"{label} must be {max_len} characters or fewer")]
    return StringField(
        label, widget=GovTextInput(), validators=[Optional(), *checks] if optional else checks, description=hint or ""
    )


class PersonFields(FlaskForm):
    """Identifying and monitoring details of a person (every one sealed when stored)."""

    given_name = _text("Given names", 100, optional=False)  # not Optional: its check that a name is given must run
    family_name = _text("Family name", 100)
    aliases = TextAreaField(
        "Other names used",
        widget=GovTextArea(),
        description="One per line, given name then family name",
        validators=[Optional(), Length(max=1000, message="Other names must be 1000 characters or fewer")],
    )
    date_of_birth = GovDateField(
        "Date of birth",
        message="Date of birth must be a real date, like 27 3 1985",
        description="For example, 27 3 1985",
        validators=[Optional()],
    )
    gender = SelectField("Gender", widget=GovSelect(), choices=_choices(GENDERS), validate_choice=True)
    phones = TextAreaField(
        "Phone numbers",
        widget=GovTextArea(),
        description="One per line, like 07700 900 982",
        validators=[Optional(), Length(max=500, message="Phone numbers must be 500 characters or fewer")],
    )
    email = _text("Email address", 254)
    address = TextAreaField(
        "Address",
        widget=GovTextArea(),
        validators=[Optional(), Length(max=500, message="Address must be 500 characters or fewer")],
    )
    postcode = _text("Postcode", 10)
    ethnicity = SelectField("Ethnicity", widget=GovSelect(), choices=_choices(ETHNICITIES))
    disability = SelectField("Disability", widget=GovSelect(), choices=_choices(YES_NO_UNKNOWN))
    sexual_orientation = SelectField("Sexual orientation", widget=GovSelect(), choices=_choices(ORIENTATIONS))
    language = _text("First language", 60)
    interpreter_needed = RadioField(
        "Needs an interpreter",
        widget=GovRadioInput(),
        choices=[SelectChoice("yes", "Yes"), SelectChoice("no", "No")],
        validators=[Optional()],
    )
    health_notes = TextAreaField(
        "Health detail",
        widget=GovTextArea(),
        description="Seen only by health agencies and IDVAs",
        validators=[Optional(), Length(max=2000, message="Health detail must be 2000 characters or fewer")],
    )

    def validate_date_of_birth(self, field: Field) -> None:
        """Not in the future."""
        if field.data and field.data > london_today():
            raise ValidationError("Date of birth must be in the past")

    def validate_phones(self, field: Field) -> None:
        """Every line a possible UK (or +international) number."""
        for line in lines(field.data):
            if normalise_phone(line) is None:
                raise ValidationError("Enter phone numbers like 07700 900 982 or +44 7700 900 982, one per line")

    def validate_postcode(self, field: Field) -> None:
        """A UK postcode."""
        if field.data and normalise_postcode(field.data) is None:
            raise ValidationError("Enter a real postcode, like AA1 1AA")

    def validate_email(self, field: Field) -> None:
        """Has an @ and no spaces."""
        if field.data and normalise_email(field.data) is None:
            raise ValidationError("Enter an email address in the correct format, like name@example.org")

    def validate_aliases(self, field: Field) -> None:
        """Each alias has a given and a family name."""
        if any(len(a.split()) < 2 for a in lines(field.data)):
            raise ValidationError("Enter each other name as a given name and a family name, one per line")

    def validate_given_name(self, field: Field) -> None:
        """A person needs at least one name."""
        if not (field.data or "").strip() and not (self.family_name.data or "").strip():
            raise ValidationError("Enter a given name or a family name")

    def details(self) -> PersonDetails:
        """The form's values, normalised, for the person services."""
        postcode = normalise_postcode(self.postcode.data or "")
        interpreter = {"yes": True, "no": False}.get(self.interpreter_needed.data or "")

        def clean(value: Any) -> str | None:
            return (value or "").strip() or None

        return PersonDetails(
            given_name=clean(self.given_name.data),
            family_name=clean(self.family_name.data),
            aliases=lines(self.aliases.data),
            date_of_birth=self.date_of_birth.data,
            gender=clean(self.gender.data),
            phones=[p for p in (normalise_phone(x) for x in lines(self.phones.data)) if p],
            email=normalise_email(self.email.data or ""),
            address=clean(self.address.data),
            postcode=postcode,
            ethnicity=clean(self.ethnicity.data),
            disability=clean(self.disability.data),
            sexual_orientation=clean(self.sexual_orientation.data),
            language=clean(self.language.data),
            interpreter_needed=interpreter,
            health_notes=clean(self.health_notes.data),
        )


class PersonSearchForm(FlaskForm):
    """Find a person across agencies: any combination of identifiers (sent by POST, never in the address bar)."""

    given_name = _text("Given name", 100, optional=False)
    family_name = _text("Family name", 100)
    date_of_birth = GovDateField(
        "Date of birth", message="Date of birth must be a real date, like 27 3 1985", validators=[Optional()]
    )
    phone = _text("Phone number", 40)
    postcode = _text("Postcode", 10)
    email = _text("Email address", 254)
    submit = SubmitField("Search", widget=GovSubmitInput())

    def validate_phone(self, field: Field) -> None:
        """A possible phone number."""
        if field.data and normalise_phone(field.data) is None:
            raise ValidationError("Enter a phone number like 07700 900 982")

    def validate_postcode(self, field: Field) -> None:
        """A UK postcode."""
        if field.data and normalise_postcode(field.data) is None:
            raise ValidationError("Enter a real postcode, like AA1 1AA")

    def validate_given_name(self, field: Field) -> None:
        """At least one thing to search for."""
        fields = [self.given_name, self.family_name, self.phone, self.postcode, self.email]
        if not any((f.data or "").strip() for f in fields) and not self.date_of_birth.data:
            raise ValidationError("Enter at least one thing to search for")


class DecisionForm(FlaskForm):
    """Link or reject a suggested match (CSRF only)."""


class PersonEditForm(PersonFields):
    """Change a person's details."""

    submit = SubmitField("Save changes", widget=GovSubmitInput())


def form_data(person: Any, fields: set[str]) -> dict[str, Any]:
    """A stored person's readable values, as the edit form shows them (only `fields`)."""
    from marac.crypto import Unreadable
    from marac.people.matching import format_phone, format_postcode

    data: dict[str, Any] = {}
    for name in fields:
        value = getattr(person, name)
        if value is None or isinstance(value, Unreadable):
            continue
        if name == "phones":
            value = "\n".join(format_phone(v) for v in value)
        elif name == "aliases":
            value = "\n".join(value)
        elif name == "postcode":
            value = format_postcode(value)
        elif name == "interpreter_needed":
            value = "yes" if value else "no"
        data[name] = value
    return data
