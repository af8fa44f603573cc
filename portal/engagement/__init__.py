"""Engagement: lead scoring (rules, ledger, scores) applied to every stored event."""
