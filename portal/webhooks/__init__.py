"""Outbound webhooks: signed JSON POSTs to URLs an admin registered, retried with backoff."""
