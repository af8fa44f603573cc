"""Delivery: what a rep sends to a customer in one click, and the customer's comments on it."""
