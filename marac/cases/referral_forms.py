"""Forms for the referral journey: starting a referral, the risk assessment, the referral's details, submitting."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCheckboxInput, GovRadioInput, GovSelect, GovSubmitInput, GovTextArea
from wtforms import BooleanField, Field, RadioField, SelectChoice, SelectField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from marac.cases.questionnaires import questions_of
from marac.cases.referrals import MIN_REASON
from marac.cases.risk import MIN_REASONS
from marac.people.forms import PersonFields

#: Longest free text accepted in any referral box.
MAX_TEXT = 4000
#: Form field names of the questionnaire's answers are the question keys with this prefix (never a form attribute).
QUESTION_PREFIX = "q_"
CONSENT_CHOICES = [
    SelectChoice("given", "Yes, the victim knows and consents"),
    SelectChoice("refused", "No, the victim does not consent"),
    SelectChoice("not_sought", "Consent has not been sought"),
]


def _text_area(label: str, hint: str = "") -> TextAreaField:
    return TextAreaField(
        label,
        widget=GovTextArea(),
        description=hint,
        validators=[Optional(), Length(max=MAX_TEXT, message=f"{label} must be {MAX_TEXT} characters or fewer")],
    )


class StartReferralForm(PersonFields):
    """Start a referral: the MARAC area and the victim's details."""

    area = SelectField(
        "MARAC area", widget=GovSelect(), validators=[DataRequired("Select the MARAC area")], validate_choice=False
    )
    submit = SubmitField("Start referral", widget=GovSubmitInput())


class AssessmentBase(FlaskForm):
    """The fixed part of the risk assessment form; the questions are added per questionnaire by `assessment_form`."""

    fears_text = _text_area("What the victim is afraid of", "In the victim's own words, if possible")
    raise_to_high = BooleanField(
        "Raise the grade to high on professional judgement",
        widget=GovCheckboxInput(),
        description="Only when you have reasons to believe the victim is at high risk whatever the score",
    )
    judgement_reasons = _text_area(
        "Reasons for professional judgement", f"At least {MIN_REASONS} characters; only with the box above ticked"
    )
    save = SubmitField("Save and come back later", widget=GovSubmitInput())
    complete = SubmitField("Complete assessment", widget=GovSubmitInput())

    #: The questions shown, in order (set by `assessment_form`).
    questions: list[dict[str, Any]] = []

    def question_fields(self) -> list[tuple[dict[str, Any], Field]]:
        """Each question with its radios field, in questionnaire order."""
        return [(q, self[QUESTION_PREFIX + q["key"]]) for q in self.questions]

    def answers(self) -> dict[str, str]:
        """The answers given {question key: option value}; unanswered questions are left out (kept as saved)."""
        return {q["key"]: field.data for q, field in self.question_fields() if field.data}

    def validate_judgement_reasons(self, field: Field) -> None:
        """Reasons only with the box ticked, and then in full."""
        reasons = (field.data or "").strip()
        if self.raise_to_high.data and len(reasons) < MIN_REASONS:
            raise ValidationError(f"Give the reasons for professional judgement (at least {MIN_REASONS} characters)")
        if reasons and not self.raise_to_high.data:
            raise ValidationError("Tick the box to raise the grade on professional judgement, or remove the reasons")


def assessment_form(definition: dict[str, Any], **kwargs: Any) -> AssessmentBase:
    """An assessment form for a questionnaire definition: one set of radios per question."""
    options = [SelectChoice(o["value"], o["label"]) for o in definition["options"]]

    class AssessmentForm(AssessmentBase):
        pass

    questions = questions_of(definition)
    for question in questions:
        field = RadioField(
            question["text"],
            widget=GovRadioInput(),
            description=question.get("hint", ""),
            choices=options,
            validators=[Optional()],
        )
        setattr(AssessmentForm, QUESTION_PREFIX + question["key"], field)
    AssessmentForm.questions = questions
    return AssessmentForm(**kwargs)


class DetailsForm(FlaskForm):
    """Consent, safe contact, who the victim fears, previous MARACs and professional judgement (criterion 2)."""

    consent = RadioField(
        "Does the victim know about the referral and consent to it?",
        widget=GovRadioInput(),
        choices=CONSENT_CHOICES,
        validators=[Optional()],
    )
    no_consent_reason = _text_area(
        "Why are you referring without consent?", f"Needed unless consent is given; at least {MIN_REASON} characters"
    )
    is_safe_to_call = RadioField(
        "Is it safe to phone the victim?",
        widget=GovRadioInput(),
        choices=[SelectChoice("yes", "Yes"), SelectChoice("no", "No")],
        validators=[Optional()],
    )
    safe_contact = _text_area("Safe contact arrangements", "Safe times, a safe number, or a safe person to go through")
    unsafe_contacts = _text_area(
        "People it is unsafe to contact, and who the victim fears", "The perpetrator is never told of the referral"
    )
    previous_marac = _text_area("Previous MARACs", "Earlier MARAC referrals you know of: area and roughly when")
    judgement_reasons = _text_area(
        "Professional judgement",
        f"If you refer on professional judgement, say why (at least {MIN_REASON} characters). Leave empty otherwise",
    )
    submit = SubmitField("Save and continue", widget=GovSubmitInput())

    def safe_to_call(self) -> bool | None:
        """The safe-to-call answer as a boolean (None when not answered)."""
        return {"yes": True, "no": False}.get(self.is_safe_to_call.data or "")


class SubmitReferralForm(FlaskForm):
    """Submit the referral for the supervisor's sign-off (CSRF only)."""

    submit = SubmitField("Submit for sign-off", widget=GovSubmitInput())
