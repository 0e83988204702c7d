"""Tests of meetings: schedules, agendas, research, attendance, minutes and papers."""
