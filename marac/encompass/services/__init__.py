"""Operation Encompass services: settings and calendars, incident intake, notifications and their delivery."""
