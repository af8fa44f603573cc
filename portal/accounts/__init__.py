"""Staff accounts: users, roles, teams, API tokens."""
