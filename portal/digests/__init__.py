"""Digests: a rep's morning summary and a supervisor's weekly one, sent by `tick` once per
period (portal.digests.sending), by e-mail and the person's chat channels."""
