"""In-app notifications for staff (and the e-mail copy when SMTP is configured)."""
