"""The worker's Faust app and its settings: Faust runs the web server, the timers and the sends; the
ledger's own consumer group (streams/ledger_consumer.py) folds the events."""
from __future__ import annotations

from pathlib import Path

import faust

from streams import web_guard
from streams.kafka_access import KafkaAccess, faust_credentials

FAUST_APP_ID = "credit-ledger-web"  # the ledger's consumer group takes the name "credit-ledger"
# A worker killed without leaving the group holds its partitions until the session times out; Faust's
# 60 s default would stall a restart that long. The ledger's consumer uses the same two settings.
SESSION_TIMEOUT_S = 10.0
HEARTBEAT_INTERVAL_S = 1.0


def faust_app(settings, kafka: KafkaAccess) -> faust.App:
    """A Faust app on the worker's brokers and principal, its state under the data dir, serving on
    settings.web_host:web_port, declaring no topic (ops creates them with their retention)."""
    return faust.App(
        FAUST_APP_ID,
        broker=";".join(f"kafka://{host}" for host in kafka.bootstrap.split(",")),
        broker_credentials=faust_credentials(kafka),
        store="rocksdb://",
        datadir=str(Path(settings.data_dir) / "faust"),
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=settings.web_host,
        topic_partitions=settings.partitions,
        topic_allow_declare=False,  # topics are created with their retention by ops
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=HEARTBEAT_INTERVAL_S,
        **web_guard.FAUST_WEB_APPS_OFF,
    )
