"""PDF rendering: the locked-down URL fetcher, the protective marking and page numbers on every page, the busy guard."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from flask import Flask

from marac import db, pdf
from marac.pdf import FetchRefused, LockedDownFetcher, PdfBusy, render_pdf, render_slot

MARKING = "OFFICIAL-SENSITIVE"


def pdf_pages(content: bytes) -> list[str]:
    """The text of each page of a PDF, as `pdftotext -layout` reads it (pages end with a form feed)."""
    result = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", "-", "-"], input=content, capture_output=True, check=True
    )
    pages = result.stdout.decode("utf-8").split("\f")
    return pages[:-1] if pages and not pages[-1].strip() else pages


def plain_paper(count: int, **extra: object) -> bytes:
    """A paper of plain paragraphs through the PDF base template."""
    text = "Agencies shared what they hold about the household before the meeting. " * 5
    context: dict[str, object] = {
        "title": "Test paper",
        "meeting_reference": "M261125-7",
        "area_name": "Testvale",
        "generated_by": "Jo Bloggs",
        "generated_agency": "Testvale Police",
        "generated_at": db.utcnow(),
        "paragraphs": [f"{n}. {text}" for n in range(1, count + 1)],
    }
    context.update(extra)
    return render_pdf("pdf/base.html", **context)


# --- the fetcher ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/logo.png",
        "https://example.com/style.css",
        "ftp://example.com/file.txt",
        "data:text/css,body{color:red}",
        "file://otherhost/etc/passwd",
        "file:///etc/passwd",
        "file:///etc/hostname",
    ],
)
def test_fetcher_refuses_network_and_files_outside_the_package(url: str) -> None:
    with pytest.raises(FetchRefused):
        LockedDownFetcher().fetch(url)


def test_fetcher_refuses_climbing_out_with_dot_dot() -> None:
    climbing = (pdf.PACKAGE_ROOT / "static" / ".." / ".." / ".." / "etc" / "passwd").as_posix()
    with pytest.raises(FetchRefused):
        LockedDownFetcher().fetch(f"file://{climbing}")
    inside_but_dotted = (pdf.PACKAGE_ROOT / "meetings" / ".." / "pdf.py").as_posix()
    with pytest.raises(FetchRefused):
        LockedDownFetcher().fetch(f"file://{inside_but_dotted}")


def test_fetcher_refuses_a_symlink_that_leads_outside(tmp_path: Path) -> None:
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    root = tmp_path / "root"
    root.mkdir()
    (root / "style.css").symlink_to(secret)
    (root / "own.css").write_text("body { color: black }")
    fetcher = LockedDownFetcher(roots=(root,))

    with pytest.raises(FetchRefused):
        fetcher.fetch((root / "style.css").as_uri())
    response = fetcher.fetch((root / "own.css").as_uri())
    assert response.read() == b"body { color: black }"
    assert response.content_type == "text/css"


def test_fetcher_reads_the_pdf_stylesheet_from_the_project() -> None:
    response = LockedDownFetcher().fetch(pdf.BASE_URL + "pdf.css")
    assert b"OFFICIAL-SENSITIVE" in response.read()


def test_fetcher_never_opens_through_urllib_handlers() -> None:
    from urllib.request import Request

    with pytest.raises(FetchRefused):
        LockedDownFetcher().open(Request("http://127.0.0.1:9/redirect"))


def test_remote_resources_in_a_paper_are_left_out_not_fetched(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    original = LockedDownFetcher.allowed_path

    def spy(self: LockedDownFetcher, url: str) -> Path:
        asked.append(url)
        return original(self, url)

    monkeypatch.setattr(LockedDownFetcher, "allowed_path", spy)
    html = (
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><img src="https://example.com/a.png">'
        '<img src="file:///etc/passwd"><p>Still rendered</p>'
    )
    content = pdf.html_to_pdf(html)

    assert content.startswith(b"%PDF")
    assert sorted(asked) == ["file:///etc/passwd", "http://127.0.0.1:9/x.css", "https://example.com/a.png"]
    assert "Still rendered" in pdf_pages(content)[0]


# --- the marking and page numbers -----------------------------------------------------------------------------------


def test_every_page_carries_the_marking_top_and_bottom_and_page_x_of_y(app: Flask) -> None:
    pages = pdf_pages(plain_paper(120))

    assert len(pages) >= 3
    for number, text in enumerate(pages, start=1):
        lines = [line for line in text.splitlines() if line.strip()]
        assert MARKING in lines[0], f"page {number} has no marking at the top"
        assert MARKING in lines[-1] or MARKING in lines[-2], f"page {number} has no marking at the bottom"
        assert f"Page {number} of {len(pages)}" in text
        assert "M261125-7" in text, f"page {number} has no meeting reference"
        assert "Generated by Jo Bloggs (Testvale Police)" in " ".join(text.split())


def test_paper_is_a4_and_says_when_it_was_generated_in_london_time(app: Flask) -> None:
    content = plain_paper(3)
    info = subprocess.run(["pdfinfo", "-"], input=content, capture_output=True, check=True).stdout.decode()

    assert "(A4)" in info
    first = pdf_pages(content)[0]
    assert "on 25 Nov 2026, 09:00" in first  # the test clock: 09:00 UTC is 09:00 GMT in November


def test_text_in_a_paper_is_escaped_not_run_as_html(app: Flask) -> None:
    content = plain_paper(0, paragraphs=['<img src="http://127.0.0.1:9/x.png"> <b>not bold</b>'])
    assert "<b>not bold</b>" in pdf_pages(content)[0]


# --- the busy guard -------------------------------------------------------------------------------------------------


def test_rendering_waits_for_a_slot_and_gives_up_busy(app: Flask) -> None:
    held = [pdf._slots.acquire(timeout=1) for _ in range(pdf.CONCURRENT_RENDERS)]
    try:
        assert all(held)
        with pytest.raises(PdfBusy, match="try again in a minute"), render_slot(wait_seconds=0.01):
            pass
    finally:
        for _ in held:
            pdf._slots.release()
    with render_slot(wait_seconds=0.01):
        pass  # a slot is free again


def test_no_more_than_two_papers_render_at_once(app: Flask) -> None:
    inside, most = 0, 0
    lock = threading.Lock()
    go = threading.Event()

    def work() -> None:
        nonlocal inside, most
        with render_slot(wait_seconds=5):
            with lock:
                inside += 1
                most = max(most, inside)
            go.wait(0.05)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == pdf.CONCURRENT_RENDERS
