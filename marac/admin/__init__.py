"""Platform administration: areas, agencies and user accounts. Administrators never see case content."""
