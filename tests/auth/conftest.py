"""Fixtures for sign-in tests."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient


@pytest.fixture
def other_client(app: Flask) -> FlaskClient:
    """A second browser (another person, or an attacker) using the same application."""
    return app.test_client()
