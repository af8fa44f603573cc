"""The admin settings pages: scoring rules, keyword map, webhooks, solution packs."""
