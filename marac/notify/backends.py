"""Delivery backends for the outbox: a folder of .eml files, SMTP, or GOV.UK Notify (`MARAC_MAIL_BACKEND`).

Each `send` returns the provider's reference, or raises `TemporaryFailure` (try again later) or `PermanentFailure`
(the address is refused: dead-letter). Failure reasons name codes and the server's reply, never message content.

What a backend can do about a resend after a crash between sending and marking (see marac.notify.relay):
- the file backend names each file after the idempotency key and never overwrites one, so it can tell;
- SMTP cannot tell: the Message-ID is derived from the key, so a receiving system that deduplicates on it can;
- Notify is given the key as `reference`, which is stored with the notification but not deduplicated by Notify.

Texts (SMS) have their own backends in marac.notify.sms, built on the file writer and Notify error handling here.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
import stat
import tempfile
import time
from collections.abc import Callable
from email import charset, encoders
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.mime.text import MIMEText
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol

import structlog
from flask import Flask
from notifications_python_client.errors import HTTPError
from notifications_python_client.notifications import NotificationsAPIClient

from marac.notify.models import OutboxMessage

log = structlog.get_logger(__name__)

#: UTF-8 bodies as quoted-printable (readable in the .eml files), not base64.
_UTF8_QP = charset.Charset("utf-8")
_UTF8_QP.body_encoding = charset.QP

#: Longest failure reason kept (the column holds 300 characters).
REASON_LENGTH = 250
#: A temporary file this old was left by a relay that crashed mid-write (a write takes milliseconds).
STALE_TEMPORARY_SECONDS = 3600
#: How often one process looks for such files in a folder (the folder holds every message ever written).
SWEEP_INTERVAL_SECONDS = 600
#: When this process last looked in each outbox folder (time.monotonic()).
_last_sweep: dict[Path, float] = {}


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


def _header(value: str) -> str:
    """A header value; non-ASCII text is RFC 2047-encoded."""
    return value if value.isascii() else Header(value, "utf-8").encode()


def build_email(message: OutboxMessage, sender: str) -> Message:
    """The RFC 5322 message: subject and body as queued, the calendar invite attached, a Message-ID from the key.

    Built with the `email.mime` classes (the compat32 policy): the modern EmailMessage API parses every header it
    is given and took most of the relay's time per message; the bytes are the same standard MIME."""
    if message.body.isascii():
        body: Message = MIMEText(message.body, "plain", "us-ascii")
    else:
        body = MIMENonMultipart("text", "plain")
        body.set_payload(message.body, _UTF8_QP)
    email = body
    if message.attachment is not None:
        email = MIMEMultipart("mixed")
        email.attach(body)
        maintype, _, subtype = (message.attachment_type or "application/octet-stream").partition("/")
        part = MIMEBase(maintype, subtype or "octet-stream")
        part.set_payload(message.attachment)
        encoders.encode_base64(part)
        part.add_header("Content-Disposition", "attachment", filename=message.attachment_name or "attachment")
        email.attach(part)
    email["From"] = _header(sender)
    email["To"] = _header(message.address)
    email["Subject"] = _header(message.subject)
    email["Date"] = formatdate(message.created_at.timestamp(), usegmt=True)
    domain = sender.rpartition("@")[2] or "marac.invalid"
    email["Message-ID"] = f"<{key_digest(message)[:40]}@{domain}>"
    return email


class FileBackend:
    """Writes each message to `<folder>/<sha256 of key>.eml`; an existing file means it was already delivered."""

    def __init__(self, folder: str | Path, sender: str = "marac@localhost") -> None:
        self.folder = Path(folder)
        self.sender = sender
        self.already_delivered = 0
        self._swept = False

    def remove_stale_temporaries(self, now: float | None = None) -> int:
        """Remove `.sending-*` files older than STALE_TEMPORARY_SECONDS (left by a crash mid-write); how many.

        `now` is wall-clock seconds, not the app's clock: it is compared with the files' modification times."""
        cutoff = (time.time() if now is None else now) - STALE_TEMPORARY_SECONDS
        removed = 0
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return 0  # no folder yet (nothing to remove) or not readable (send will report it)
        for entry in entries:
            if not (entry.name.startswith(".sending-") and entry.name.endswith(".tmp")):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                    os.unlink(entry.path)
                    removed += 1
            except FileNotFoundError:
                continue  # another relay removed it first
            except OSError as exc:
                log.warning("outbox_stale_file_not_removed", error=exc.strerror or type(exc).__name__)
        if removed:
            log.info("outbox_stale_files_removed", count=removed)
        return removed

    def _sweep_once(self) -> None:
        """Remove stale temporaries at this backend's first send, at most every SWEEP_INTERVAL_SECONDS a folder."""
        if self._swept:
            return
        self._swept = True
        last = _last_sweep.get(self.folder)
        if last is not None and time.monotonic() - last < SWEEP_INTERVAL_SECONDS:
            return
        _last_sweep[self.folder] = time.monotonic()
        self.remove_stale_temporaries()

    def send(self, message: OutboxMessage) -> str:
        """Write the message as `<digest>.eml`, once."""
        return self.write_once(f"{key_digest(message)}.eml", lambda: build_email(message, self.sender).as_bytes())

    def write_once(self, name: str, content: Callable[[], bytes]) -> str:
        """Write `name` atomically (temporary file, then a hard link that refuses to overwrite) unless it exists."""
        self._sweep_once()
        target = self.folder / name
        if target.exists():
            self.already_delivered += 1
            return name
        try:
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=self.folder, prefix=".sending-", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content())
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


def _mentions(error: HTTPError, field: str) -> bool:
    message: Any = error.message
    items = message if isinstance(message, list) else [message]
    return any(field in str(item.get("message", "") if isinstance(item, dict) else item) for item in items)


def notify_failure(error: HTTPError, field: str) -> DeliveryFailure:
    """What a Notify error means: a 400 about the recipient (`field`) is permanent, anything else temporary
    (5xx, 429, timeouts and refused connections, which the client reports as 503). Never the reply's text: it may
    quote the address."""
    if error.status_code == 400 and _mentions(error, field):
        return PermanentFailure(f"Notify 400: {field} refused")
    return TemporaryFailure(f"Notify {error.status_code}")


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
            raise notify_failure(exc, "email_address") from exc
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
