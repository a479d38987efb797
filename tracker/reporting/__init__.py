"""Reporting a stored day: its figures, charts and HTML page."""
