"""Disclosures with their lawful basis, break-glass access and Operation Encompass (issues 3 and 7)."""
