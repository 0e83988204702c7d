"""Users, their roles and area limits, and server-side sign-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer, LargeBinary, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marac.crypto import TEXT, Encrypted
from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow
from marac.orgs.models import Agency, Area

#: Areas a user is limited to; none means every area their agency serves.
user_areas = Table(
    "user_areas",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(Base):
    """A practitioner, manager or administrator who signs in."""

    __tablename__ = "users"
    __allow_unmapped__ = True  # for the transient auth_token below

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: Sign-in email, lower-cased, unique.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    #: Name shown to colleagues.
    display_name: Mapped[str] = mapped_column(String(120))
    #: The agency the user works for.
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: argon2id hash of the password.
    password_hash: Mapped[str] = mapped_column(String(255))
    #: False once disabled; disabled users cannot sign in and their sessions end.
    is_active: Mapped[bool] = mapped_column(default=True)
    #: Set after an administrator issues a temporary password.
    must_change_password: Mapped[bool] = mapped_column(default=True)
    #: Failed password or code attempts since the last success.
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Sign-in refused until this time (lockout with back-off).
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed confirmed TOTP secret (base32); None until enrolled.
    totp_secret_enc: Mapped[bytes | None] = mapped_column("totp_secret_sealed", LargeBinary)
    #: Sealed secret shown during enrolment, confirmed by a first code.
    totp_pending_secret_enc: Mapped[bytes | None] = mapped_column("totp_pending_secret_sealed", LargeBinary)
    #: The last TOTP time step accepted, so each code works once.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    #: When MFA enrolment was confirmed.
    mfa_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Last successful sign-in.
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the password was last set.
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the account was created.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When the account was disabled.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed work mobile number in E.164 (+447...), for text alerts; None when not given.
    mobile_number_enc: Mapped[bytes | None] = mapped_column("mobile_number_sealed", LargeBinary)
    #: True when the user asked for urgent alerts by text as well as by email.
    text_alerts: Mapped[bool] = mapped_column(default=False, server_default="0")
    #: Sealed new number (E.164) waiting for its texted code; alerts keep going to the confirmed one meanwhile.
    pending_mobile_number_enc: Mapped[bytes | None] = mapped_column("pending_mobile_number_sealed", LargeBinary)
    #: Whether text alerts are to be turned on when the pending number is confirmed.
    pending_text_alerts: Mapped[bool] = mapped_column(default=False, server_default="0")
    #: HMAC of the last code texted to the pending number (the code itself is never stored here).
    mobile_code_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: When that code was sent (it expires 15 minutes later; a new one may be sent a minute later).
    mobile_code_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Wrong codes entered since that code was sent (5 and a new code is needed).
    mobile_code_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Counts codes sent; a code text's idempotency key carries it, so the relay skips a superseded code.
    mobile_code_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    totp_secret = Encrypted(TEXT, column="totp_secret_sealed")
    totp_pending_secret = Encrypted(TEXT, column="totp_pending_secret_sealed")
    mobile_number = Encrypted(TEXT, column="mobile_number_sealed")
    pending_mobile_number = Encrypted(TEXT, column="pending_mobile_number_sealed")

    agency: Mapped[Agency] = relationship()
    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserRole.role"
    )
    areas: Mapped[list[Area]] = relationship(secondary=user_areas, order_by="Area.name")

    # Flask-Login protocol: the "id" it keeps is the server-side session token, set by the loader.
    auth_token: str | None = None

    @property
    def is_authenticated(self) -> bool:
        """True for a user loaded from a live, MFA-completed session."""
        return self.auth_token is not None

    @property
    def is_anonymous(self) -> bool:
        """Never anonymous: anonymous visitors get Flask-Login's AnonymousUserMixin."""
        return False

    def get_id(self) -> str | None:
        """The session token Flask-Login stores in the cookie."""
        return self.auth_token

    @property
    def role_names(self) -> list[str]:
        """Role values, sorted."""
        return sorted(r.role for r in self.roles)

    def __repr__(self) -> str:
        return f"<User {self.public_id}>"


class UserRole(Base):
    """One role held by a user."""

    __tablename__ = "user_roles"
    __table_args__ = (UniqueConstraint("user_id", "role"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The holder.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: One of access.Role.
    role: Mapped[str] = mapped_column(String(40))

    user: Mapped[User] = relationship(back_populates="roles")

    def __repr__(self) -> str:
        return f"<UserRole {self.role}>"


class AuthSession(Base):
    """A server-side sign-in session; the browser holds only a random token whose hash is stored here."""

    __tablename__ = "auth_sessions"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 of the token in the cookie.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: Whose session it is.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: When the password was accepted.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When the authenticator code was accepted; None while the session waits for it.
    mfa_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Last request seen (for the idle timeout).
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When it was ended (sign-out, timeout, disable, role change).
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Why it was ended.
    revoked_reason: Mapped[str | None] = mapped_column(String(40))

    user: Mapped[User] = relationship()

    def __repr__(self) -> str:
        return f"<AuthSession {self.id} user={self.user_id}>"
