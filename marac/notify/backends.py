"""Delivery backends for the outbox: a folder of .eml files, SMTP, or GOV.UK Notify (`MARAC_MAIL_BACKEND`).

Each `send` returns the provider's reference, or raises `TemporaryFailure` (try again later) or `PermanentFailure`
(the address is refused: dead-letter). Failure reasons name codes and the server's reply, never message content.

What a backend can do about a resend after a crash between sending and marking (see marac.notify.relay):
- the file backend names each file after the idempotency key and never overwrites one, so it can tell;
- SMTP cannot tell: the Message-ID is derived from the key, so a receiving system that deduplicates on it can;
- Notify is given the key as `reference`, which is stored with the notification but not deduplicated by Notify.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

from flask import Flask
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from marac.notify.models import OutboxMessage

#: Longest failure reason kept (the column holds 300 characters).
REASON_LENGTH = 250


class DeliveryFailure(Exception):
    """A message was not delivered; `reason` is safe to store (no content)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason[:REASON_LENGTH]


class TemporaryFailure(DeliveryFailure):
    """Try again later: the server is down, busy or answered 4xx."""


class PermanentFailure(DeliveryFailure):
    """The backend refuses this message for good (a rejected address): dead-letter it."""


class Backend(Protocol):
    """Delivers one outbox message at a time."""

    #: How many sends this backend recognised as already delivered (a resend after a crash); 0 where it cannot tell.
    already_delivered: int

    def send(self, message: OutboxMessage) -> str:
        """Deliver `message`; its provider reference."""

    def close(self) -> None:
        """Release any connection (after a batch)."""


def key_digest(message: OutboxMessage) -> str:
    """A stable name for the message derived from its idempotency key (the key itself names a user's public id)."""
    return hashlib.sha256(message.idempotency_key.encode()).hexdigest()


def build_email(message: OutboxMessage, sender: str) -> EmailMessage:
    """The RFC 5322 message: subject and body as queued, the calendar invite attached, a Message-ID from the key."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.address
    email["Subject"] = message.subject
    email["Date"] = formatdate(message.created_at.timestamp(), usegmt=True)
    domain = sender.rpartition("@")[2] or "marac.invalid"
    email["Message-ID"] = f"<{key_digest(message)[:40]}@{domain}>"
    email.set_content(message.body)
    if message.attachment is not None:
        maintype, _, subtype = (message.attachment_type or "application/octet-stream").partition("/")
        email.add_attachment(
            message.attachment, maintype=maintype, subtype=subtype, filename=message.attachment_name or "attachment"
        )
    return email


class FileBackend:
    """Writes each message to `<folder>/<sha256 of key>.eml`; an existing file means it was already delivered."""

    def __init__(self, folder: str | Path, sender: str = "marac@localhost") -> None:
        self.folder = Path(folder)
        self.sender = sender
        self.already_delivered = 0

    def send(self, message: OutboxMessage) -> str:
        """Write the message atomically (temporary file, then a hard link that refuses to overwrite)."""
        name = f"{key_digest(message)}.eml"
        target = self.folder / name
        if target.exists():
            self.already_delivered += 1
            return name
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".sending-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(build_email(message, self.sender).as_bytes())
                os.link(temporary, target)  # atomic and, unlike os.replace, never overwrites a delivered message
            finally:
                os.unlink(temporary)
        except FileExistsError:
            self.already_delivered += 1  # another relay delivered it between our check and our link
        except OSError as exc:
            raise TemporaryFailure(f"outbox folder not writable: {exc.strerror or type(exc).__name__}") from exc
        return name

    def close(self) -> None:
        """Nothing to release."""


def _reply(error: smtplib.SMTPResponseException | tuple[int, bytes]) -> tuple[int, str]:
    code, text = (error.smtp_code, error.smtp_error) if isinstance(error, Exception) else error
    decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return code, " ".join(decoded.split())


class SmtpBackend:
    """Sends through an SMTP server (STARTTLS or implicit TLS, login when a username is set); one connection a batch.

    SMTP cannot tell a resend: the Message-ID derived from the idempotency key lets the receiving side deduplicate.
    """

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        tls: str = "starttls",
        username: str = "",
        password: str = "",
        timeout: float = 30,
    ) -> None:
        self.host, self.port, self.sender, self.tls = host, port, sender, tls
        self.username, self.password, self.timeout = username, password, timeout
        self.already_delivered = 0
        self._connection: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.tls == "ssl":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            if self.tls == "starttls":
                connection.starttls(context=context)
        if self.username:
            connection.login(self.username, self.password)
        return connection

    def send(self, message: OutboxMessage) -> str:
        """Send one message; 5xx for the recipient is permanent, anything else that fails is temporary."""
        email = build_email(message, self.sender)
        try:
            if self._connection is None:
                self._connection = self._connect()
            self._connection.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = _reply(next(iter(exc.recipients.values())))
            failure = PermanentFailure if 500 <= code < 600 else TemporaryFailure
            raise failure(f"SMTP {code} recipient refused: {text}") from exc
        except smtplib.SMTPDataError as exc:
            code, text = _reply(exc)
            self.close()
            failure = PermanentFailure if 500 <= code < 600 else TemporaryFailure
            raise failure(f"SMTP {code} message refused: {text}") from exc
        except smtplib.SMTPResponseException as exc:  # sender refused, authentication: a setting, not this message
            code, text = _reply(exc)
            self.close()
            raise TemporaryFailure(f"SMTP {code}: {text}") from exc
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise TemporaryFailure(f"SMTP connection failed: {type(exc).__name__}") from exc
        return str(email["Message-ID"])

    def close(self) -> None:
        """Say goodbye to the server (or just drop a broken connection)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            connection.quit()
        except (smtplib.SMTPException, OSError):
            connection.close()


def _mentions_email_address(error: HTTPError) -> bool:
    message: Any = error.message
    items = message if isinstance(message, list) else [message]
    return any("email_address" in str(item.get("message", "") if isinstance(item, dict) else item) for item in items)


class NotifyBackend:
    """Sends through GOV.UK Notify with one email template whose personalisation is the (content-free) subject and
    body; `reference` is the idempotency key. Notify does not send attachments, so calendar invites are left out."""

    def __init__(self, api_key: str, base_url: str, template_id: str, timeout: float = 30) -> None:
        self.client = NotificationsAPIClient(api_key, base_url=base_url, timeout=timeout)
        self.template_id = template_id
        self.already_delivered = 0

    def send(self, message: OutboxMessage) -> str:
        """POST /v2/notifications/email; a 400 about the address is permanent, anything else that fails temporary."""
        try:
            response = self.client.send_email_notification(
                email_address=message.address,
                template_id=self.template_id,
                personalisation={"subject": message.subject, "body": message.body},
                reference=message.idempotency_key,
            )
        except HTTPError as exc:
            if exc.status_code == 400 and _mentions_email_address(exc):
                raise PermanentFailure("Notify 400: email_address refused") from exc
            raise TemporaryFailure(f"Notify {exc.status_code}") from exc
        return str(response["id"])

    def close(self) -> None:
        """Nothing to release (the HTTP session is reused)."""


def backend_from_config(app: Flask) -> Backend:
    """The backend `MARAC_MAIL_BACKEND` names, built from the app's (already validated) settings."""
    config = app.config
    kind = config.get("MARAC_MAIL_BACKEND", "outbox")
    if kind == "smtp":
        return SmtpBackend(
            host=config["MARAC_SMTP_HOST"],
            port=int(config["MARAC_SMTP_PORT"]),
            sender=config["MARAC_SMTP_FROM"],
            tls=config["MARAC_SMTP_TLS"],
            username=config["MARAC_SMTP_USERNAME"],
            password=config["MARAC_SMTP_PASSWORD"],
            timeout=float(config["MARAC_SMTP_TIMEOUT_SECONDS"]),
        )
    if kind == "notify":
        return NotifyBackend(
            api_key=config["MARAC_NOTIFY_API_KEY"],
            base_url=config["MARAC_NOTIFY_BASE_URL"],
            template_id=config["MARAC_NOTIFY_EMAIL_TEMPLATE_ID"],
        )
    return FileBackend(config["MARAC_OUTBOX_DIR"], sender=config.get("MARAC_SMTP_FROM") or "marac@localhost")
