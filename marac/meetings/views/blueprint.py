"""The meetings blueprint; the package's modules register their routes on it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("meetings", __name__)
