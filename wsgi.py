"""WSGI entry point: `app = create_app()`."""

from marac import create_app

app = create_app()
