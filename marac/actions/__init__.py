"""Action plans tracked to completion, reminders and escalation (issue 6)."""
