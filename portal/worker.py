"""`flask --app wsgi worker`: the RQ worker that runs background jobs when Redis is configured."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from portal import jobs


@click.command("worker")
@click.option("--burst", is_flag=True, help="Run the queued jobs, then exit.")
@with_appcontext
def worker_command(burst: bool) -> None:
    """Run background jobs (rendering, e-mail) from the Redis queue."""
    from redis import Redis
    from rq import Worker

    redis_url = current_app.config.get("REDIS_URL")
    if not redis_url:
        raise click.ClickException(
            "PORTAL_REDIS_URL is not set: without Redis, jobs run inline and no worker is needed"
        )
    jobs.use_app_for_jobs(current_app._get_current_object())
    connection = Redis.from_url(redis_url)
    # with_scheduler: jobs queued with enqueue_in (webhook retries) run when they are due
    Worker([jobs.QUEUE_NAME], connection=connection).work(burst=burst, with_scheduler=True)
