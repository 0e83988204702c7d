"""Form helpers shared by every domain: GOV.UK widgets and error-summary lists."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlsplit

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovDateInput, GovTextInput
from wtforms import DateField, SelectChoice, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

EMAIL_FORMAT = "Enter an email address in the correct format, like name@example.org"


def email_field(label: str, required: str | None) -> StringField:
    """An email input with the GOV.UK widget; `required` is the message when empty, None for an optional field."""
    first = DataRequired(required) if required else Optional()
    checks = [first, Length(max=254, message=EMAIL_FORMAT), Email(EMAIL_FORMAT, check_deliverability=False)]
    return StringField(label, widget=GovTextInput(), validators=checks)


def error_list(form: FlaskForm, extra: list[tuple[str, str]] | None = None) -> list[dict[str, str]]:
    """Errors for the GOV.UK error summary: one per field (its first message), linked to the field."""
    items: list[dict[str, str]] = []
    for field in form:
        if field.errors:
            first = field.errors[0]
            items.append({"text": str(first), "href": f"#{field.id}"})
    for text, anchor in extra or []:
        items.append({"text": text, "href": f"#{anchor}"})
    return items


def add_error(field: Any, message: str) -> None:
    """Attach a service's refusal to a field, so the field and the error summary both show it."""
    field.errors = [*field.errors, message]


def safe_next(target: str | None) -> str | None:
    """A same-site path to return to after sign-in, or None (refuses absolute and scheme-relative URLs)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


def field_params(**params: Any) -> dict[str, Any]:
    """Readable way to pass GOV.UK macro params from Python."""
    return params


class GovDateField(DateField):
    """A GOV.UK day/month/year date: always three parts (so the widget never breaks on a tampered form), and a
    clear message instead of a parse error."""

    def __init__(self, label: str, *, message: str, **kwargs: Any) -> None:
        kwargs.setdefault("widget", GovDateInput())
        super().__init__(label, format="%d %m %Y", **kwargs)
        self.message = message

    def process_formdata(self, valuelist: list[Any]) -> None:
        parts = [str(v).strip() for v in valuelist]
        if not any(parts):
            self.raw_data = ["", "", ""]
            self.data = None
            return
        tampered = len(parts) != 3
        parts = [*parts, "", ""][:3]
        self.raw_data = parts
        if tampered:
            self.data = None
            raise ValueError(self.message)
        try:
            self.data = date(int(parts[2]), int(parts[1]), int(parts[0]))
        except ValueError:
            self.data = None
            raise ValueError(self.message) from None
        if self.data.year < 1900:
            self.data = None
            raise ValueError(self.message)


def choices_from(mapping: dict[str, str]) -> list[SelectChoice]:
    """Radio or select choices from a {value: label} mapping, in its order."""
    return [SelectChoice(value, label) for value, label in mapping.items()]


def lines(text: str | None, limit: int = 10) -> list[str]:
    """Non-empty lines of a textarea (at most `limit`)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()][:limit]


def is_small_id(value: str) -> bool:
    """Whether a submitted value is a plain ASCII whole number that fits a database integer (str.isdigit() also
    accepts characters such as "²" that int() refuses, and a 30-digit id overflows the column)."""
    return value.isascii() and value.isdecimal() and len(value) <= 9
