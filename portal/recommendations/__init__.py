"""Template recommendations from a customer's chat message (keyword rules an admin edits)."""
