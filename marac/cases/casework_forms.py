"""Forms for sign-off, the coordinator's decision, safety plans and reassessment triggers."""

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
from wtforms import (
    Field,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, ValidationError

from marac.cases.plans import MAX_DETAIL, MAX_NOTE, MAX_OTHER, SAFETY_MEASURES, TRIGGERS
from marac.forms import GovDateField, choices_from

SIGN_OFF_CHOICES = {"sign_off": "Sign off: send it to the MARAC coordinator", "return": "Return it to the referrer"}
DECISION_CHOICES = {
    "accepted": "Accept for the next MARAC meeting",
    "below_threshold": "Below threshold: signpost the victim and referrer",
    "duplicate": "Duplicate of a live case for the same victim",
}


def _text(label: str, limit: int, *, description: str | None = None) -> TextAreaField:
    message = f"{label} must be {limit} characters or fewer"
    return TextAreaField(
        label, widget=GovTextArea(), description=description, validators=[Length(max=limit, message=message)]
    )


class SignOffForm(FlaskForm):
    """The supervisor's answer: sign the referral off, or return it with comments."""

    decision = RadioField(
        "What do you want to do with this referral?",
        widget=GovRadioInput(),
        choices=choices_from(SIGN_OFF_CHOICES),
        validators=[DataRequired("Select whether to sign off or return the referral")],
    )
    comments = _text(
        "Comments for the referrer", 2000, description="Required when returning: say what the referrer needs to change"
    )
    submit = SubmitField("Continue", widget=GovSubmitInput())

    def validate_comments(self, field: Field) -> None:
        """Comments are required when returning the referral."""
        if self.decision.data == "return" and len((field.data or "").strip()) < 10:
            raise ValidationError("Say what the referrer needs to change (at least 10 characters)")


class DecisionForm(FlaskForm):
    """The coordinator's decision on a signed-off referral."""

    decision = RadioField(
        "Decision",
        widget=GovRadioInput(),
        choices=choices_from(DECISION_CHOICES),
        validators=[DataRequired("Select a decision")],
    )
    idva = SelectField(
        "IDVA to allocate",
        widget=GovSelect(),
        description="Each IDVA's open cases are shown against the benchmark of 60 to 80",
        validate_choice=False,
    )
    reason = _text("Why the referral is below threshold", 2000)
    signposting = _text("Where the victim and referrer were signposted", 2000)
    duplicate_of = RadioField("Live case this duplicates", widget=GovRadioInput(), validate_choice=False)
    submit = SubmitField("Record decision", widget=GovSubmitInput())


class _PlanFields(FlaskForm):
    measures = SelectMultipleField(
        "Safety measures",
        widget=GovCheckboxesInput(),
        choices=choices_from(SAFETY_MEASURES),
        validators=[DataRequired("Select at least one safety measure")],
    )
    other = StringField(
        "Other measure",
        widget=GovTextInput(),
        description="Required when you select Other",
        validators=[Length(max=MAX_OTHER, message=f"Other measure must be {MAX_OTHER} characters or fewer")],
    )
    detail = _text("Plan detail", MAX_DETAIL)


class SafetyPlanForm(_PlanFields):
    """A new safety plan: measures, detail, a named owner and a review date."""

    owner = SelectField(
        "Owner", widget=GovSelect(), validators=[DataRequired("Select who owns the plan")], validate_choice=False
    )
    review_on = GovDateField(
        "Review date",
        message="Review date must be a real date, like 3 11 2026",
        validators=[InputRequired("Enter the review date")],
    )
    submit = SubmitField("Make safety plan", widget=GovSubmitInput())


class ReviewPlanForm(_PlanFields):
    """A review of a safety plan: the measures as they now stand and the next review date."""

    next_review_on = GovDateField(
        "Next review date",
        message="Next review date must be a real date, like 3 11 2026",
        validators=[InputRequired("Enter the next review date")],
    )
    submit = SubmitField("Record review", widget=GovSubmitInput())


class EndPlanForm(FlaskForm):
    """End a safety plan, with the reason."""

    reason = TextAreaField(
        "Why is the plan ending?",
        widget=GovTextArea(),
        validators=[
            DataRequired("Say why the plan is ending"),
            Length(max=MAX_NOTE, message=f"Reason must be {MAX_NOTE} characters or fewer"),
        ],
    )
    submit = SubmitField("End safety plan", widget=GovSubmitInput())


class TriggerForm(FlaskForm):
    """An order or event that should prompt a risk review."""

    kind = RadioField(
        "What happened?",
        widget=GovRadioInput(),
        choices=[SelectChoice(k, t.label) for k, t in TRIGGERS.items()],
        validators=[DataRequired("Select what happened")],
    )
    occurred_on = GovDateField(
        "Date",
        message="Date must be a real date, like 3 11 2026",
        description="When it happened, or will happen (for an expiry or court date)",
        validators=[InputRequired("Enter the date")],
    )
    note = _text("Note", MAX_NOTE)
    review_owner = SelectField(
        "Who will do the risk review?",
        widget=GovSelect(),
        description="Leave as the default to give it to the case's IDVA (or you, when there is none)",
        validate_choice=False,
    )
    submit = SubmitField("Record and make the review due", widget=GovSubmitInput())


class CompleteReviewForm(FlaskForm):
    """Record that a trigger's risk review was done."""

    note = TextAreaField(
        "What did the review find?",
        widget=GovTextArea(),
        validators=[
            DataRequired("Say what the review found and any change to the plan"),
            Length(max=MAX_NOTE, message=f"Note must be {MAX_NOTE} characters or fewer"),
        ],
    )
    submit = SubmitField("Record review", widget=GovSubmitInput())
