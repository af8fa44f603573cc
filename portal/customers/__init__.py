"""Customers: the people reps send materials to."""
