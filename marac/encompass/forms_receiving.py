"""The key adult's form: acknowledge a notification, with an optional note of the support offered."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovSubmitInput, GovTextArea
from wtforms import SubmitField, TextAreaField
from wtforms.validators import Length

from marac.encompass.services.receiving import MAX_SUPPORT_NOTE, NOTE_TOO_LONG


class AcknowledgeForm(FlaskForm):
    """Acknowledge a notification; the note of the support offered is optional."""

    note = TextAreaField(
        "Support offered (optional)",
        description="What the setting did or will do to support the child today. Do not repeat what the "
        "notification says.",
        widget=GovTextArea(),
        validators=[Length(max=MAX_SUPPORT_NOTE, message=NOTE_TOO_LONG)],
    )
    submit = SubmitField("Acknowledge", widget=GovSubmitInput())
