"""Persons, household links, blind-index matching, repeat-victim and serial-perpetrator detection."""
