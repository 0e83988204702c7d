"""Calendar invites (.ics) for meetings: time, place and how to join, never case content."""

from __future__ import annotations

from datetime import timedelta

from icalendar import Calendar, Event

from marac import db
from marac.meetings.models import Meeting

#: The invite's description: where the papers are, and nothing from them.
DESCRIPTION = (
    "OFFICIAL-SENSITIVE. The agenda, research and minutes are in the MARAC platform: sign in to view. "
    "Do not forward this invitation."
)


def meeting_invite(meeting: Meeting) -> bytes:
    """An iCalendar file for the meeting; cancelling or moving it sends the same UID with a higher SEQUENCE."""
    calendar = Calendar()
    calendar.add("prodid", "-//MARAC platform//Meetings//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if meeting.is_cancelled else "PUBLISH")
    event = Event()
    event.add("uid", f"{meeting.public_id}@marac")
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", db.utcnow())
    event.add("dtstart", meeting.starts_at)
    event.add("dtend", meeting.starts_at + timedelta(minutes=meeting.length_minutes))
    event.add("summary", f"MARAC: {meeting.area.name} ({meeting.reference})")
    location = "; ".join(part for part in (meeting.venue, meeting.call_details) if part)
    if location:
        event.add("location", location)
    event.add("description", DESCRIPTION)
    event.add("class", "CONFIDENTIAL")
    event.add("status", "CANCELLED" if meeting.is_cancelled else "CONFIRMED")
    calendar.add_component(event)
    return calendar.to_ical()
