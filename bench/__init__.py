"""`python -m bench`: Portal's speed and scale figures, each against a baseline of the same run.

The harness starts the production stack on this machine (gunicorn gthread on PostgreSQL, the
S3 server and Redis, RQ workers), loads what each figure needs through the app's own services
and CLI, drives the HTTP figures with wrk on loopback and prints one line per figure:

    name: value (baseline: value, ratio: x)

Every baseline is measured in the same run, interleaved with its figure, and every value is the
median of --runs runs (3 by default): on a shared 2-core machine only ratios mean anything.
Everything the run creates (a PostgreSQL schema, a Redis database, an S3 bucket, a temporary
instance folder, the processes) is removed at the end.
"""
