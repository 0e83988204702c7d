"""Forms for disclosures, break-glass and the DPO's review."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCheckboxesInput,
    GovRadioInput,
    GovSelect,
    GovSubmitInput,
    GovTextArea,
    GovTextInput,
)
from wtforms import RadioField, SelectField, SelectMultipleField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from marac.forms import choices_from, email_field
from marac.sharing.services import ARTICLE6, CONDITIONS, CONSENT, PARTS, REVIEW_OUTCOMES


class DisclosureForm(FlaskForm):
    """Share a case, or part of it, with another agency."""

    to_agency = SelectField(
        "Share with", widget=GovSelect(), validators=[DataRequired("Select the agency")], validate_choice=False
    )
    parts = SelectMultipleField(
        "What are you sharing?",
        widget=GovCheckboxesInput(),
        choices=choices_from(PARTS),
        validators=[DataRequired("Select what you are sharing")],
    )
    purpose = TextAreaField(
        "Purpose of sharing",
        widget=GovTextArea(),
        validators=[
            DataRequired("Describe the purpose of sharing"),
            Length(min=10, max=1000, message="Purpose must be between 10 and 1000 characters"),
        ],
    )
    article6_basis = RadioField(
        "UK GDPR Article 6 lawful basis",
        widget=GovRadioInput(),
        choices=choices_from(ARTICLE6),
        validators=[DataRequired("Select the Article 6 lawful basis")],
    )
    special_condition = RadioField(
        "Special category condition or statutory power",
        widget=GovRadioInput(),
        choices=choices_from(CONDITIONS),
        validators=[DataRequired("Select the condition or power you rely on")],
    )
    consent = RadioField(
        "Has the victim consented?",
        widget=GovRadioInput(),
        choices=choices_from(CONSENT),
        validators=[DataRequired("Select whether the victim consented")],
    )
    no_consent_reason = TextAreaField(
        "Why are you sharing without consent?",
        widget=GovTextArea(),
        description="Required when consent was refused or not sought: for example, risk of serious harm",
        validators=[Length(max=2000, message="Reason must be 2000 characters or fewer")],
    )
    submit = SubmitField("Record disclosure and share", widget=GovSubmitInput())


class BreakGlassForm(FlaskForm):
    """Emergency access: a reason and a fresh authenticator code."""

    reason = TextAreaField(
        "Why do you need emergency access?",
        widget=GovTextArea(),
        description="The data protection officer reviews every use. Say what emergency this is.",
        validators=[
            DataRequired("Give the reason you need emergency access"),
            Length(min=20, max=2000, message="Reason must be between 20 and 2000 characters"),
        ],
    )
    code = StringField(
        "Code from your authenticator app",
        widget=GovTextInput(),
        validators=[DataRequired("Enter the code from your authenticator app"), Length(max=10)],
    )
    submit = SubmitField("Get emergency access", widget=GovSubmitInput(), render_kw={"class": "govuk-button--warning"})


class ReviewForm(FlaskForm):
    """The DPO's review of one break-glass use."""

    outcome = RadioField(
        "Was the use justified?",
        widget=GovRadioInput(),
        choices=choices_from(REVIEW_OUTCOMES),
        validators=[DataRequired("Select whether the use was justified")],
    )
    note = TextAreaField(
        "Review note",
        widget=GovTextArea(),
        description="Required when the use was not justified",
        validators=[Length(max=2000, message="Note must be 2000 characters or fewer")],
    )
    submit = SubmitField("Record review", widget=GovSubmitInput())


class BarAccountForm(FlaskForm):
    """Put a platform account on a case's must-not-receive list."""

    email = email_field("Email address of the account", "Enter the email address of the account")
    submit = SubmitField("Add to the list", widget=GovSubmitInput())


class ConfirmForm(FlaskForm):
    """A button that changes something (CSRF only)."""
