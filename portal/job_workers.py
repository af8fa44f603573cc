"""RQ's worker classes, made to stop within a second.

An RQ worker listens for commands (shutdown, kill the running job) on a Redis pub/sub thread
that polls with a 60 s timeout. redis-py 8 made `PubSubWorkerThread.stop()` wait for that thread,
and RQ's teardown unsubscribes first, so the thread sits out its whole poll: every worker took
60 s to stop, a burst worker (`flask --app wsgi worker --burst`, the tests' in-process workers)
60 s to return after its last job. Here the poll is 1 s: commands still arrive at once (a
message ends the poll), and a worker stops within a second of being told to.
"""

from __future__ import annotations

from rq import SimpleWorker as _RQSimpleWorker
from rq import Worker as _RQWorker

COMMAND_POLL_SECONDS = 1


class _PromptStop:
    def subscribe(self) -> None:
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=COMMAND_POLL_SECONDS,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


class Worker(_PromptStop, _RQWorker):
    """The forking worker of `flask --app wsgi worker`."""


class SimpleWorker(_PromptStop, _RQSimpleWorker):
    """Runs jobs in its own process (the tests' in-process workers)."""
