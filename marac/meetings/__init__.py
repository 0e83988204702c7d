"""MARAC meetings: schedules, agendas, research, attendance, minutes, PDFs and calendar invites (issue 5)."""
