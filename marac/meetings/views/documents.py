"""The meeting's papers as PDF downloads: the agenda, the user's agency's research pack, and the minutes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import abort
from flask_login import current_user
from werkzeug.wrappers import Response

from marac import db
from marac.access import Permission, can_read_minutes, require
from marac.meetings import pdf
from marac.meetings.models import Meeting
from marac.meetings.views.blueprint import bp
from marac.meetings.views.common import MINUTES_NOT_SENT, meeting_or_404
from marac.pdf import PdfBusy

BUSY = "The document service is busy: try again in a minute"
NO_MINUTES = "Minutes have not been recorded for this meeting yet"


@bp.route("/meetings/<pid:public_id>/agenda.pdf")
@require(Permission.MEETING_VIEW)
def agenda_pdf(public_id: str) -> Response:
    """Download the agenda as a PDF."""
    meeting = meeting_or_404(public_id)
    return _download(meeting, "agenda", pdf.agenda_pdf)


@bp.route("/meetings/<pid:public_id>/research-pack.pdf")
@require(Permission.MEETING_VIEW)
def research_pack_pdf(public_id: str) -> Response:
    """Download the user's agency's research pack (its own requests only) as a PDF."""
    meeting = meeting_or_404(public_id)
    return _download(meeting, "research-pack", pdf.research_pack_pdf)


@bp.route("/meetings/<pid:public_id>/minutes.pdf")
@require(Permission.MEETING_VIEW)
def minutes_pdf(public_id: str) -> Response:
    """Download the minutes and action plan as a PDF, once minutes have been recorded."""
    meeting = meeting_or_404(public_id)
    if meeting.minutes_version < 1:
        abort(409, description=NO_MINUTES)
    if not can_read_minutes(current_user, meeting):
        abort(409, description=MINUTES_NOT_SENT)
    return _download(meeting, "minutes", pdf.minutes_pdf)


def _download(meeting: Meeting, document: str, build: Callable[[Any, Meeting], bytes]) -> Response:
    """Build the paper (audited), commit the audit record, and send it as a PDF attachment that is never cached."""
    try:
        content = build(current_user, meeting)
    except PdfBusy:
        db.session.rollback()
        abort(503, description=BUSY)
    db.session.commit()
    name = re.sub(r"[^A-Za-z0-9_-]", "", meeting.reference) or "meeting"
    return Response(
        content,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}-{document}.pdf"',
            "Cache-Control": "no-store",
        },
    )
