"""Entry point: `flask --app wsgi run`, `gunicorn wsgi:app`."""

from portal import create_app

app = create_app()
