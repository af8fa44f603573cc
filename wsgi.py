"""Entry point: `flask --app wsgi run`, `gunicorn wsgi:app`."""

import gc

# Importing Portal and building the app makes some 300,000 objects, none of them garbage, and
# the cyclic collector walked them over and over while they were made: about a tenth of the
# CPU of a process start (every gunicorn and RQ worker, every `flask` command). It waits until
# the app is built; what was built is then frozen, so later collections skip it (and in a
# gunicorn worker forked from a preloading master, its memory pages stay shared).
gc.disable()
try:
    from portal import create_app

    app = create_app()
finally:
    gc.freeze()
    gc.enable()
