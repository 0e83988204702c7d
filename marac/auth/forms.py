"""Sign-in, authenticator code, password and text-alert forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovRadioInput, GovSubmitInput, GovTextInput
from wtforms import Field, PasswordField, RadioField, SelectChoice, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from marac.forms import email_field
from marac.notify.texts import NEEDS_NUMBER, TextAlertsError, parse_uk_mobile


class SignInForm(FlaskForm):
    """Email and password."""

    email = email_field("Email address", "Enter your email address")
    password = PasswordField(
        "Password",
        widget=GovPasswordInput(),
        validators=[DataRequired("Enter your password"), Length(max=256, message="Enter a correct password")],
    )
    submit = SubmitField("Continue", widget=GovSubmitInput())


class CodeForm(FlaskForm):
    """The 6-digit authenticator code."""

    code = StringField(
        "Code from your authenticator app",
        widget=GovTextInput(),
        description="The 6-digit code shown in the app, for example 123456",
        validators=[
            DataRequired("Enter the 6-digit code from your authenticator app"),
            Regexp(r"^\s*[0-9]{3}\s?[0-9]{3}\s*$", message="The code must be 6 digits, like 123456"),
        ],
    )
    submit = SubmitField("Continue", widget=GovSubmitInput())


class ChangePasswordForm(FlaskForm):
    """Change one's own password."""

    current_password = PasswordField(
        "Current password", widget=GovPasswordInput(), validators=[DataRequired("Enter your current password")]
    )
    new_password = PasswordField(
        "New password",
        widget=GovPasswordInput(),
        description="At least 12 characters. A good choice is three random words.",
        validators=[DataRequired("Enter a new password")],
    )
    confirm_password = PasswordField(
        "Confirm new password",
        widget=GovPasswordInput(),
        validators=[
            DataRequired("Confirm your new password"),
            EqualTo("new_password", message="The passwords you entered do not match"),
        ],
    )
    submit = SubmitField("Change password", widget=GovSubmitInput())


class TextAlertsForm(FlaskForm):
    """One's own work mobile number and whether urgent alerts are texted to it."""

    mobile_number = StringField(
        "Work mobile number",
        widget=GovTextInput(),
        description=(
            "A UK mobile number, like 07700 900123. We text a code to a new number to confirm it. "
            "Leave it empty to remove your number."
        ),
    )
    text_alerts = RadioField(
        "Text me urgent alerts",
        widget=GovRadioInput(),
        description="Overdue actions and reviews. Texts say only that there is a notification: sign in to see it.",
        choices=[SelectChoice("yes", "Yes"), SelectChoice("no", "No")],
        validators=[DataRequired("Select yes to be texted urgent alerts, or no")],
    )
    submit = SubmitField("Save", widget=GovSubmitInput())

    def validate_mobile_number(self, field: Field) -> None:
        """A UK mobile number, or nothing (refused when text alerts are to be turned on)."""
        if not (field.data or "").strip():
            if self.text_alerts.data == "yes":
                raise ValidationError(NEEDS_NUMBER)
            return
        try:
            parse_uk_mobile(field.data)
        except TextAlertsError as exc:
            raise ValidationError(str(exc)) from None


class ConfirmMobileForm(FlaskForm):
    """The 6-digit code texted to a new work mobile number."""

    code = StringField(
        "Code from the text",
        widget=GovTextInput(),
        description="The 6-digit code in the text we sent, for example 123456",
        validators=[
            DataRequired("Enter the 6-digit code from the text we sent"),
            Regexp(r"^\s*[0-9]{3}\s?[0-9]{3}\s*$", message="The code must be 6 digits, like 123456"),
        ],
    )
    submit = SubmitField("Confirm number", widget=GovSubmitInput())


class SendNewCodeForm(FlaskForm):
    """Text a new code to the number waiting to be confirmed."""

    send = SubmitField("Send a new code", widget=GovSubmitInput())


class SendTestTextForm(FlaskForm):
    """Send a test text to one's own number."""

    send = SubmitField("Send a test text", widget=GovSubmitInput())
