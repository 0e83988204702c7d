"""The Operation Encompass blueprint; the package's modules register their routes on it."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("encompass", __name__)
