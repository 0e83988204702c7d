"""PDF papers (agenda, research packs, minutes) rendered from the app's templates by WeasyPrint, offline.

Every page carries the protective marking at the top and bottom and "Page X of Y" (the CSS in `templates/pdf/`).
The URL fetcher reads only files inside the package, the project's static folder and the PDF templates: no network,
no redirects, no `..`, no symlink that leads outside. A semaphore keeps PDF rendering from taking every web worker.
"""

from __future__ import annotations

import mimetypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

PACKAGE_ROOT = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_ROOT.parent
#: Folders the PDF fetcher may read from (the PDF CSS is inline, so in practice nothing is fetched).
ALLOWED_ROOTS = (PACKAGE_ROOT, PROJECT_ROOT / "static", PROJECT_ROOT / "templates" / "pdf")
#: Where relative URLs in the PDF templates resolve (a file URL: nothing is ever fetched from the web).
BASE_URL = (PROJECT_ROOT / "templates" / "pdf").as_uri() + "/"
#: How many PDFs may render at once; the rest wait (briefly) so page requests keep their worker threads.
CONCURRENT_RENDERS = 2
DEFAULT_WAIT_SECONDS = 10.0

_slots = threading.BoundedSemaphore(CONCURRENT_RENDERS)


class PdfBusy(Exception):
    """Every PDF slot stayed busy for the whole wait: the view answers 503 and the user tries again."""


class FetchRefused(ValueError):
    """The PDF asked for a resource it may not have (WeasyPrint then leaves the resource out)."""


class LockedDownFetcher(URLFetcher):
    """Reads only local files under `ALLOWED_ROOTS`; refuses every other scheme, host, path escape and redirect."""

    def __init__(self, roots: tuple[Path, ...] = ALLOWED_ROOTS) -> None:
        super().__init__(timeout=1, allowed_protocols=("file",), allow_redirects=False)
        self._roots = tuple(root.resolve() for root in roots)

    def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
        """Open an allowed local file, or raise `FetchRefused`."""
        path = self.allowed_path(url)
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": _content_type(path)})

    def open(self, url: Any, data: Any = None, timeout: Any = None) -> URLFetcherResponse:
        """Never open anything through urllib's handlers (no network, no redirects): only `fetch`."""
        return self.fetch(url if isinstance(url, str) else url.full_url)

    def allowed_path(self, url: str) -> Path:
        """The resolved local path for `url`, or raise `FetchRefused`."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file":
            raise FetchRefused(f"PDF resources must be local files, not {parts.scheme or 'relative'} URLs")
        if parts.netloc not in ("", "localhost"):
            raise FetchRefused("PDF resources must be on this machine")
        raw = unquote(parts.path)
        if "\x00" in raw or ".." in Path(raw).parts:
            raise FetchRefused("PDF resource paths may not climb out of their folder")
        path = Path(raw).resolve()  # follows symlinks: a link pointing outside is caught below
        if not any(path.is_relative_to(root) for root in self._roots):
            raise FetchRefused("PDF resources must come from the application's own files")
        if not path.is_file():
            raise FetchRefused("PDF resource not found")
        return path


def _content_type(path: Path) -> str:
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


@contextmanager
def render_slot(wait_seconds: float | None = None) -> Iterator[None]:
    """Hold one of the PDF slots while rendering; `PdfBusy` when none frees up within the wait."""
    if wait_seconds is None:
        wait_seconds = float(current_app.config.get("MARAC_PDF_WAIT_SECONDS", DEFAULT_WAIT_SECONDS))
    if not _slots.acquire(timeout=wait_seconds):
        raise PdfBusy("The document service is busy: try again in a minute")
    try:
        yield
    finally:
        _slots.release()


def html_to_pdf(html: str) -> bytes:
    """Render HTML to PDF bytes with the locked-down fetcher (callers hold a render slot)."""
    document = HTML(string=html, base_url=BASE_URL, url_fetcher=LockedDownFetcher())
    return bytes(document.write_pdf())


def render_pdf(template_name: str, **context: Any) -> bytes:
    """Render one of the app's templates (inside an app context) to an A4 PDF marked OFFICIAL-SENSITIVE."""
    html = render_template(template_name, **context)
    with render_slot():
        return html_to_pdf(html)
