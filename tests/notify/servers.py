"""Shared helpers for the backend tests: local servers run in a thread, free ports, outbox rows as stored."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import select

from marac import db
from marac.notify.models import OutboxMessage


def free_port() -> int:
    """A local port nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[int]:
    """Run `server` in a daemon thread while the block runs (then stop and close it); yields its port."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])  # type: ignore[index]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def reload(message: OutboxMessage) -> OutboxMessage:
    """The message as the database now holds it (the relay marks rows with plain UPDATEs)."""
    query = select(OutboxMessage).where(OutboxMessage.id == message.id).execution_options(populate_existing=True)
    return db.session.scalars(query).one()


class NotifyStub:
    """What a stand-in for Notify's API answers (status, JSON body) to each request in turn, and what it was sent."""

    def __init__(self, default_id: str) -> None:
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        self.default_id = default_id
        self.url = ""


@contextmanager
def notify_stub(default_id: str) -> Iterator[NotifyStub]:
    """A local HTTP server in a thread answering like Notify's API (201 with `default_id` unless told otherwise)."""
    state = NotifyStub(default_id)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.requests.append(
                {"path": self.path, "headers": dict(self.headers), "json": json.loads(self.rfile.read(length))}
            )
            status, body = state.answers.pop(0) if state.answers else (201, {"id": state.default_id})
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as port:
        state.url = f"http://127.0.0.1:{port}"
        yield state
