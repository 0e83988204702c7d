"""The referral journey pages: start, people, risk assessment, details, check your answers, submit."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("referrals", __name__)
