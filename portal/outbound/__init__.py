"""Outbound HTTP: every request Portal makes to a URL someone configured (webhooks today, the
chat channels next) goes through portal.outbound.http_client, which checks where it connects.
"""
