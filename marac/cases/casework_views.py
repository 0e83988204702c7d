"""Sign-off, the coordinator's queue and decisions, safety plans, triggers and overdue lists."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("casework", __name__)
