"""`credit-ledger worker`: the worker run until SIGINT/SIGTERM, its exit status saying why it stopped."""
from __future__ import annotations

import sys

from streams.app import create_worker
from streams.kafka_access import WORKER
from streams.store import StoreError
from streams.topics import ensure_topics


def run_worker(settings, loglevel: str = "warn") -> None:
    """Create the topics if missing, build the worker and run it; exit 1 with the error when its store
    failed (at start, or later: worker.stop_error)."""
    from faust import Worker as FaustWorker

    ensure_topics(settings.kafka_access(WORKER), partitions=settings.partitions)
    try:
        app, worker = create_worker(settings)
    except StoreError as error:  # e.g. a disk that filled up since the data dir was checked
        sys.exit(f"error: {error}")
    try:
        faust_worker = FaustWorker(app, loglevel=loglevel, quiet=True)
        faust_worker.spinner = None  # its progress spinner's terminal codes would land in the worker's log
        faust_worker.execute_from_commandline()
    finally:  # it always ends in SystemExit; a store that failed makes it a failure
        worker.processor.close()
        if worker.stop_error is not None:
            sys.exit(f"error: {worker.stop_error}")
