"""Audit log: who changed which staff setting, written in the same transaction as the change."""
