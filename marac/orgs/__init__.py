"""MARAC areas and agencies, and their administration."""
