"""Sign-in, authenticator code and password forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovPasswordInput, GovSubmitInput, GovTextInput
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp

from marac.forms import email_field


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
