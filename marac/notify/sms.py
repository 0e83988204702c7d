"""Text (SMS) backends for the outbox: a folder of .txt files, or GOV.UK Notify (`MARAC_SMS_BACKEND`).

A text's outbox row holds no phone number: the relay reads the recipient's number when it sends and hands it to
`send_text`. Failures are reported as for email (see marac.notify.backends): `TemporaryFailure` to try again later,
`PermanentFailure` when the number is refused (dead-letter at once). Reasons never include the number.

Resends after a crash: the file backend names each file after the idempotency key and never overwrites one, so it
can tell; Notify is given the key as `reference` (stored, not deduplicated by Notify), as for email.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from flask import Flask
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from marac.notify.backends import FileBackend, key_digest, notify_failure
from marac.notify.models import OutboxMessage


class TextBackend(Protocol):
    """Delivers one text at a time to a number the relay looked up."""

    @property
    def already_delivered(self) -> int:
        """How many sends this backend recognised as already delivered (a resend after a crash); 0 if it cannot tell."""

    def send_text(self, message: OutboxMessage, number: str) -> str:
        """Deliver `message` to `number` (E.164); its provider reference."""

    def close(self) -> None:
        """Release any connection (after a batch)."""


def build_text(message: OutboxMessage, number: str) -> bytes:
    """The file form of a text: who it is to, then the body as queued."""
    return f"To: {number}\nReference: {key_digest(message)[:40]}\n\n{message.body}\n".encode()


class FileTextBackend:
    """Writes each text to `<folder>/<sha256 of key>.txt`, with the .eml files' atomic, never-overwrite naming."""

    def __init__(self, folder: str | Path) -> None:
        self.files = FileBackend(folder)

    @property
    def already_delivered(self) -> int:
        """Resends recognised by an existing file."""
        return self.files.already_delivered

    def send_text(self, message: OutboxMessage, number: str) -> str:
        """Write the text once; an existing file means it was already delivered."""
        return self.files.write_once(f"{key_digest(message)}.txt", lambda: build_text(message, number))

    def close(self) -> None:
        """Nothing to release."""


class NotifyTextBackend:
    """Sends through GOV.UK Notify with one text template whose personalisation is the (content-free) body;
    `reference` is the idempotency key. The same client, key and error handling as the email backend."""

    def __init__(self, api_key: str, base_url: str, template_id: str, timeout: float = 30) -> None:
        self.client = NotificationsAPIClient(api_key, base_url=base_url, timeout=timeout)
        self.template_id = template_id
        self.already_delivered = 0

    def send_text(self, message: OutboxMessage, number: str) -> str:
        """POST /v2/notifications/sms; a 400 about the number is permanent, anything else that fails temporary."""
        try:
            response = self.client.send_sms_notification(
                phone_number=number,
                template_id=self.template_id,
                personalisation={"body": message.body},
                reference=message.idempotency_key,
            )
        except HTTPError as exc:
            raise notify_failure(exc, "phone_number") from exc
        return str(response["id"])

    def close(self) -> None:
        """Nothing to release (the HTTP session is reused)."""


def text_backend_from_config(app: Flask) -> TextBackend | None:
    """The backend `MARAC_SMS_BACKEND` names (None for "none": texts are not offered)."""
    config = app.config
    kind = config.get("MARAC_SMS_BACKEND", "none")
    if kind == "notify":
        return NotifyTextBackend(
            api_key=config["MARAC_NOTIFY_API_KEY"],
            base_url=config["MARAC_NOTIFY_BASE_URL"],
            template_id=config["MARAC_NOTIFY_SMS_TEMPLATE_ID"],
        )
    if kind == "outbox":
        return FileTextBackend(config["MARAC_OUTBOX_DIR"])
    return None
