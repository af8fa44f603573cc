"""Tracking: signed links, view sessions, events and read time."""
