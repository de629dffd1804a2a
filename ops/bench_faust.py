"""The Faust baselines of `credit-ledger bench`: a bare agent iterating credit.events, and the same
agent adding one to a RocksDB-backed Table per event. Nothing of the ledger runs here, so the
worker's throughput can be set against the framework's own floor, on the same events.

Run by the bench as a child process (Faust owns its process's event loop and signals), reaching Kafka as
the settings say (CREDIT_LEDGER_KAFKA and its security variables: the worker's principal):
    python -m ops.bench_faust EVENTS DATA_DIR [--table]
DATA_DIR is the caller's to remove: the agent leaves by os._exit, which runs no clean-up. It prints one
JSON line, {"events": n, "seconds": s}, timed from the first event to the n-th.
"""
from __future__ import annotations

import json
import os
import sys
import time
import uuid

import faust

from ops.config import load_settings
from streams import topics
from streams.kafka_access import WORKER, faust_credentials


def main(argv: list[str]) -> None:
    events_count, data_dir, with_table = int(argv[0]), argv[1], "--table" in argv[2:]
    if events_count < 1:
        raise SystemExit("EVENTS must be at least 1")
    kafka = load_settings().kafka_access(WORKER)
    app = faust.App(f"credit-ledger-bench-{uuid.uuid4().hex[:12]}",  # a fresh group: read from the start
                    broker=";".join(f"kafka://{host}" for host in kafka.bootstrap.split(",")),
                    broker_credentials=faust_credentials(kafka),
                    store="rocksdb://" if with_table else "memory://", datadir=data_dir,
                    web_enabled=False, topic_partitions=topics.PARTITIONS_DEFAULT,
                    consumer_auto_offset_reset="earliest")
    ledger = app.topic(topics.EVENTS, key_serializer="raw", value_serializer="raw")
    counts = app.Table("bench-counts", default=int) if with_table else None
    seen = {"events": 0, "first_s": 0.0}

    @app.agent(ledger)
    async def iterate(stream):
        async for event in stream.events():
            if counts is not None:
                counts[event.key.decode()] += 1
            seen["events"] += 1
            if seen["events"] == 1:
                seen["first_s"] = time.perf_counter()
            if seen["events"] == events_count:
                seconds = time.perf_counter() - seen["first_s"]
                # to the descriptor: Faust's worker redirects sys.stdout into its log
                os.write(1, (json.dumps({"events": events_count - 1, "seconds": seconds}) + "\n").encode())
                os._exit(0)  # measured: nothing of the app's shutdown belongs in the number

    faust.Worker(app, loglevel="error", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    from ops.config import tune_gc

    tune_gc()  # as the worker's process does: the same collector settings on both sides of the ratio
    main(sys.argv[1:])
