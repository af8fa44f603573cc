"""Demo data: a small, realistic sales team and library so a newcomer sees Portal at work."""
