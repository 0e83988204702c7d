"""Meeting pages: schedule, agenda builder, research, the meeting day, minutes, PDFs and invites.

Importing the package imports each module, and so registers its routes on `bp`.
"""

from __future__ import annotations

from marac.meetings.views import agenda, documents, meeting_day, research, schedule
from marac.meetings.views.blueprint import bp

__all__ = ["agenda", "bp", "documents", "meeting_day", "research", "schedule"]
