"""Company accounts: a company a team sells to, and its contacts (customers) as one buying
committee.

The package is `companies` because `portal.accounts` already holds the staff's sign-in accounts
(table `users`); the model is `Account` (table `accounts`), as the API calls it
(`/api/v1/accounts`).
"""
